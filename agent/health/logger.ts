import { pino, type Logger } from "pino";

// Secrets reach the logger only by mistake (a config object logged whole, an error carrying a URL with
// credentials); redaction makes that mistake harmless.
const REDACT = ["password", "*.password", "*.*.password", "mqtt.username", "config.mqtt.password", "headers.authorization"];

export function createLogger(level: string = "info", destination?: NodeJS.WritableStream): Logger {
  return pino(
    { level, base: { app: "eva" }, redact: { paths: REDACT, censor: "[redacted]" }, timestamp: pino.stdTimeFunctions.isoTime },
    destination ?? pino.destination({ fd: 2, sync: false }),
  );
}
