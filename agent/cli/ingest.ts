import { loadIngestConfig } from "../ingest/config.js";
import { Ingest } from "../ingest/ingest.js";
import { serveHealth } from "../ingest/metrics.js";
import { createLogger, logFormatFromEnv } from "../health/logger.js";
import { parse, UsageError } from "./args.js";

export async function ingest(args: string[]): Promise<number> {
  const { values } = parse(args, {
    mqtt: { type: "string" },
    postgres: { type: "string" },
    group: { type: "string" },
    prefix: { type: "string" },
    "client-id": { type: "string" },
    lanes: { type: "string" },
    "health-port": { type: "string" },
    config: { type: "string" },
  });
  const int = (name: string, v: string | undefined): number | undefined => {
    if (v === undefined) return undefined;
    const n = Number(v);
    if (!Number.isInteger(n) || n < 0) throw new UsageError(`--${name} '${v}' must be a whole number`);
    return n;
  };
  if (!values.config && (!values.mqtt || !values.postgres)) throw new UsageError("eva ingest needs --mqtt URL and --postgres URL (or --config FILE)");
  const cfg = loadIngestConfig(values.config, {
    mqtt: values.mqtt === undefined ? undefined : { url: values.mqtt },
    postgres: values.postgres === undefined ? undefined : { url: values.postgres },
    group: values.group,
    prefix: values.prefix,
    client_id: values["client-id"],
    lanes: int("lanes", values.lanes),
    health: values["health-port"] === undefined ? undefined : { port: int("health-port", values["health-port"]) },
  });
  const log = createLogger({ level: process.env.EVA_LOG_LEVEL ?? cfg.log.level, format: logFormatFromEnv() });
  const service = new Ingest(cfg, log);
  let stopped!: () => void;
  const stopSignal = new Promise<void>((r) => (stopped = r));
  process.once("SIGINT", () => stopped());
  process.once("SIGTERM", () => stopped());
  const http = await serveHealth(cfg.health.port, cfg.health.host, () => service.health(), service.metrics);
  log.info({ port: http.port, host: cfg.health.host }, "ingest health server listening (GET /healthz, /metrics)");
  try {
    await Promise.race([service.start(), stopSignal]);
  } catch (err) {
    // a schema that cannot be migrated, a bad TLS file: report it and exit rather than serve an unhealthy port
    await service.stop().catch(() => {});
    await http.close();
    throw err;
  }
  await stopSignal;
  log.info("stopping ingest");
  await service.stop();
  await http.close();
  // A socket mqtt.js or pg still holds must not keep a stopped service alive; everything is closed by now.
  setTimeout(() => process.exit(0), 2000).unref();
  return 0;
}
