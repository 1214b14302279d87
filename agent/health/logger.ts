import { pino, type DestinationStream, type Logger } from "pino";
import pinoPretty from "pino-pretty";

// Secrets reach the logger only by mistake (a config object logged whole, an error carrying a URL with
// credentials); redaction makes that mistake harmless.
const REDACT = ["password", "*.password", "*.*.password", "mqtt.username", "config.mqtt.password", "headers.authorization"];

export type LogFormat = "auto" | "json" | "pretty";

/**
 * What `log.format` means where the agent runs: a person at a terminal gets readable lines, journald, Docker and
 * anything reading a pipe get one JSON object per line.
 */
export function resolveLogFormat(format: LogFormat, stderrIsTty: boolean): "json" | "pretty" {
  if (format !== "auto") return format;
  return stderrIsTty ? "pretty" : "json";
}

/** EVA_LOG_FORMAT, when set to a known format (it wins over the config, as EVA_LOG_LEVEL does). */
export function logFormatFromEnv(env: NodeJS.ProcessEnv = process.env): LogFormat | undefined {
  const f = env.EVA_LOG_FORMAT;
  return f === "auto" || f === "json" || f === "pretty" ? f : undefined;
}

export interface LoggerOptions {
  level?: string;
  format?: LogFormat;
  /** where lines go; default stderr */
  destination?: NodeJS.WritableStream;
  /** colour codes in pretty lines; default: when the destination is a terminal */
  colorize?: boolean;
}

export function createLogger(opts: LoggerOptions = {}): Logger {
  const dest = opts.destination;
  const isTty = dest ? Boolean((dest as { isTTY?: boolean }).isTTY) : Boolean(process.stderr.isTTY);
  const format = resolveLogFormat(opts.format ?? "auto", isTty);
  const options = {
    level: opts.level ?? "info",
    base: { app: "eva" },
    redact: { paths: REDACT, censor: "[redacted]" },
    timestamp: pino.stdTimeFunctions.isoTime,
  };
  if (format === "pretty") {
    // pino-pretty as a stream in this thread rather than pino's worker transport: a terminal needs no extra
    // thread on a small device, and lines come out in order with the process's own writes.
    const pretty = pinoPretty({
      destination: dest ?? 2,
      sync: true,
      colorize: opts.colorize ?? isTty,
      translateTime: "SYS:HH:MM:ss.l",
      ignore: "pid,hostname,app",
      singleLine: true,
    });
    return pino(options, pretty as DestinationStream);
  }
  return pino(options, dest ?? pino.destination({ fd: 2, sync: false }));
}
