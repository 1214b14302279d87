import type { Logger } from "pino";
import { regularFileProblem } from "../../config/files.js";
import { locate, type ConfigProblem, type LoadedConfig } from "../../config/load.js";
import type { Config } from "../../config/schema.js";
import type { Outbox } from "../outbox.js";
import { MqttSink } from "./mqtt.js";
import { SinkOutbox, type CursorStore, type Sink } from "./sink.js";
import { WebhookSink } from "./webhook.js";

/** One kind of sink: whether the config turns it on, how it is built, what would keep it from starting. */
export interface SinkKind {
  /** its cursor's name in outbox_cursors, its label in stats and /metrics */
  name: string;
  enabled(cfg: Config): boolean;
  create(outbox: SinkOutbox, cfg: Config, log: Logger): Sink;
  /** checked before a reload replaces the running sinks (files it must read) */
  problems?(next: LoadedConfig): Promise<ConfigProblem[]>;
}

/** Every sink there is; a new one is a file beside these and a line here. */
export const sinkKinds: readonly SinkKind[] = [
  { name: "mqtt", enabled: () => true, create: (outbox, cfg, log) => new MqttSink(outbox, cfg, log) },
  {
    name: "webhook",
    enabled: (cfg) => cfg.sinks.webhook !== undefined,
    create: (outbox, cfg, log) => new WebhookSink({ config: cfg.sinks.webhook!, deviceId: cfg.device.id, outbox, log: log.child({ sink: "webhook" }) }),
    problems: async (next) => {
      const ca = next.config.sinks.webhook?.tls?.ca;
      const why = ca && (await regularFileProblem(ca, "TLS file"));
      const keys = ["sinks", "webhook", "tls", "ca"];
      return why ? [{ file: next.file, ...locate(next.text, keys), path: keys.join("."), message: why }] : [];
    },
  },
];

/** What the sinks need from the store: its rows, and cursors that can be made the configured set. */
export interface SinkStore {
  rows: Pick<Outbox, "peekOutbox">;
  cursors: CursorStore & { activate(sinks: readonly string[]): Record<string, number> };
}

/**
 * The sinks the config turns on, each on its own view of the outbox, built stopped (only those `build` picks:
 * a reload of the other sinks keeps MQTT's). Their cursors become the configured set: a sink no longer
 * configured stops holding rows back, a new one starts at the outbox's end.
 */
export function createSinks(cfg: Config, store: SinkStore, log: Logger, build: (name: string) => boolean = () => true): Sink[] {
  const kinds = sinkKinds.filter((k) => k.enabled(cfg));
  const cursors = store.cursors.activate(kinds.map((k) => k.name));
  return kinds.filter((k) => build(k.name)).map((k) => k.create(new SinkOutbox(k.name, store.rows, store.cursors, cursors[k.name]!), cfg, log));
}

/** What in the next config would keep a sink from starting. */
export async function sinkProblems(next: LoadedConfig): Promise<ConfigProblem[]> {
  const kinds = sinkKinds.filter((k) => k.enabled(next.config) && k.problems);
  return (await Promise.all(kinds.map((k) => k.problems!(next)))).flat();
}
