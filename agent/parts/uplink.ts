import type { Logger } from "pino";
import type { AssetAlarm } from "../analytics/sign-assets.js";
import type { SignAlarm } from "../analytics/sign-watch.js";
import type { ZoneAlarm } from "../analytics/zones.js";
import type { CameraStatus } from "../camera/camera.js";
import { brokerUrlProblem } from "../config/broker-url.js";
import { regularFileProblem } from "../config/files.js";
import { locate, type ConfigProblem, type LoadedConfig } from "../config/load.js";
import type { ReloadPlan } from "../config/diff.js";
import type { Config } from "../config/schema.js";
import type { EvaEvent, EventChange } from "../core/event.js";
import { newEventId } from "../core/ulid.js";
import type { AlarmBook, AlarmKey } from "../publish/alarm-book.js";
import { ControlRoomApi, type ControlledAgent, type ControlRoomOptions } from "../publish/control-room.js";
import { HomeAssistantDiscovery } from "../publish/home-assistant.js";
import { agentVersion } from "../health/version.js";
import { OutboxBound } from "../publish/outbox-bound.js";
import type { OutboxPublisher } from "../publish/outbox-publisher.js";
import type { StatsPayload } from "../publish/payload-schemas.js";
import { MqttSink } from "../publish/sinks/mqtt.js";
import { createSinks, sinkProblems } from "../publish/sinks/registry.js";
import type { Sink, SinkFigures } from "../publish/sinks/sink.js";
import { OutboxCursors } from "../events/outbox-cursors.js";
import { ReloadError, type PreparedChange } from "./part.js";
import type { Persistence } from "./persistence.js";

export interface UplinkDeps {
  persistence: Persistence;
  /** raised alarms outlive the link: one raised before a reconnect is cleared after it */
  alarms: AlarmBook;
  agent: ControlledAgent;
  /** stores a record with its messages (alarms) */
  record: ControlRoomOptions["record"];
  log: Logger;
}

/** A running connection to the control room: the publisher, the outbox bound and the API riding on them. */
interface Link {
  /** every configured sink, MQTT's among them */
  sinks: Sink[];
  publisher: OutboxPublisher;
  bound: OutboxBound;
  api: ControlRoomApi;
}

/**
 * The way to the control room: the outbox publisher, the outbox bound and the control-room API (commands,
 * stats, camera status, alarms). A reload that changes the broker settings or moves the database replaces the
 * link; everything else keeps it. The alarm book is not the link's: it is handed in and survives.
 */
export class Uplink {
  private link: Link | null = null;
  private lastApi: ControlRoomApi | null = null;
  /** outlives links: what a reload removes is cleared even when the same reload reconnects */
  private readonly homeAssistant: HomeAssistantDiscovery;

  constructor(private readonly deps: UplinkDeps) {
    this.homeAssistant = new HomeAssistantDiscovery({ log: deps.log, version: agentVersion() });
  }

  /** For /metrics: the outbox bound's drops, whether the broker connection is up, each sink's figures. */
  figures(): { dropped: number; compacted: number; connected: boolean; sinks: Record<string, SinkFigures> } {
    const l = this.link;
    return {
      dropped: l?.bound.dropped ?? 0,
      compacted: l?.bound.compacted ?? 0,
      connected: l?.publisher.connected ?? false,
      sinks: sinkFigures(l?.sinks ?? []),
    };
  }

  start(cfg: Config): void {
    this.link = this.connect(cfg);
  }

  /** Wakes every sink after something was queued. */
  notify(): void {
    for (const s of this.link?.sinks ?? []) s.notify();
  }

  /** The newest stats (for /metrics); while a reload swaps the link, the old link's last figures. */
  stats(): StatsPayload {
    if (this.link) this.lastApi = this.link.api;
    return this.lastApi!.stats();
  }

  onCameraStatus(s: CameraStatus): void {
    this.link?.api.onCameraStatus(s);
  }

  onEvent(change: EventChange, ev: EvaEvent, written: () => Promise<unknown>): void {
    this.link?.api.onEvent(change, ev, written);
  }

  /** An analytics alarm (loitering, overcrowding, sign_missing, sign_changed) raised or cleared on a camera. */
  alarm(camera: string, a: ZoneAlarm | SignAlarm | AssetAlarm): void {
    if ("asset" in a) {
      // an inventory sign's alarm is the sign's, whichever camera passes it: one per asset
      const { type, state, time: _time, ...extra } = a;
      this.link?.api.setAlarmCondition({ type, camera, asset: a.asset }, state === "raised", a.time, assetAlarmReason(a), extra);
      return;
    }
    const { type, state, zone, time: _time, ...extra } = a;
    this.link?.api.setAlarmCondition({ type, camera, zone }, state === "raised", a.time, alarmReason(a), extra);
  }

  setAlarmCondition(key: AlarmKey, active: boolean, reason: string | null, extra: Record<string, unknown>): void {
    this.link?.api.setAlarmCondition(key, active, Date.now(), reason, extra);
  }

  /**
   * A new link when the broker settings or the database changed; the old one flushes and stops first. What the
   * new one could fail on (its URL, its TLS files) is checked here, while the old link still runs.
   */
  async prepare(next: LoadedConfig, plan: ReloadPlan): Promise<PreparedChange> {
    // Home Assistant's entities follow every edit (zones, lines and cameras are edited live).
    if (!plan.mqtt && !plan.storage && !plan.sinks) return { commit: async () => this.homeAssistant.update(next.config), abort: async () => {} };
    if (!plan.mqtt && !plan.storage) return this.prepareSinks(next);
    const problems = [...(await brokerProblems(next)), ...(await sinkProblems(next))];
    if (problems.length) throw new ReloadError(problems);
    return {
      release: async () => {
        const old = this.link;
        this.link = null;
        if (old) await this.disconnect(old, 2000);
      },
      commit: async () => {
        try {
          this.link = this.connect(next.config);
        } catch (err) {
          this.deps.log.error({ err: (err as Error).message }, "MQTT publisher could not start");
        }
      },
      abort: async () => {},
    };
  }

  /** An edit of the sinks besides MQTT: those stop and start again on their cursors; MQTT keeps its connection. */
  private async prepareSinks(next: LoadedConfig): Promise<PreparedChange> {
    const problems = await sinkProblems(next);
    if (problems.length) throw new ReloadError(problems);
    const others = (s: Sink) => !(s instanceof MqttSink);
    return {
      release: async () => {
        const sinks = this.link?.sinks;
        if (!sinks) return;
        const old = sinks.filter(others);
        // The same array: the control-room API reads its figures from it.
        sinks.splice(0, sinks.length, ...sinks.filter((s) => !others(s)));
        await Promise.all(old.map((s) => s.stop(2000)));
      },
      commit: async () => {
        this.homeAssistant.update(next.config);
        const link = this.link;
        if (!link) return;
        const store = this.deps.persistence.store;
        try {
          for (const s of createSinks(next.config, { rows: store, cursors: new OutboxCursors(store) }, this.deps.log, (name) => name !== "mqtt")) {
            s.start();
            link.sinks.push(s);
          }
        } catch (err) {
          this.deps.log.error({ err: (err as Error).message }, "a sink could not start");
        }
      },
      abort: async () => {},
    };
  }

  async stop(flushTimeoutMs: number): Promise<void> {
    const old = this.link;
    this.link = null;
    if (old) await this.disconnect(old, flushTimeoutMs);
  }

  private connect(cfg: Config): Link {
    const { persistence, agent, log } = this.deps;
    const store = persistence.store;
    const sinks = createSinks(cfg, { rows: store, cursors: new OutboxCursors(store) }, log);
    const publisher = sinks.find((s): s is MqttSink => s instanceof MqttSink)!.publisher;
    const bound = new OutboxBound(store, { maxRows: cfg.mqtt.outbox.max_rows, maxAgeMs: cfg.mqtt.outbox.max_age_hours * 3_600_000 }, log);
    bound.start();
    const api = new ControlRoomApi({
      publisher,
      outbox: store,
      agent,
      log,
      cameras: Object.fromEntries(Object.entries(cfg.cameras).map(([n, c]) => [n, { enabled: c.enabled }])),
      statsIntervalSeconds: cfg.mqtt.stats_interval_seconds,
      // Home Assistant's image entities show the retained snapshot.
      publishSnapshots: cfg.mqtt.snapshots || cfg.homeassistant.enabled,
      dbFile: cfg.storage.db,
      newId: newEventId,
      device: cfg.device.id,
      record: this.deps.record,
      alarms: this.deps.alarms,
      outboxDrops: () => ({ dropped: bound.dropped, compacted: bound.compacted, sinks: sinkFigures(sinks) }),
    });
    api.start();
    this.homeAssistant.attach(publisher);
    this.homeAssistant.update(cfg);
    const started: Sink[] = [];
    try {
      for (const s of sinks) {
        s.start();
        started.push(s);
      }
    } catch (err) {
      api.stop();
      bound.stop();
      void Promise.all(started.map((s) => s.stop(0)));
      throw err;
    }
    // A link started by a reload tells the control room where the running cameras stand.
    for (const s of agent.cameraStatuses()) api.onCameraStatus(s);
    this.lastApi = api;
    return { sinks, publisher, bound, api };
  }

  private async disconnect(link: Link, flushTimeoutMs: number): Promise<void> {
    link.api.stop();
    link.bound.stop();
    await Promise.all(link.sinks.map((s) => s.stop(flushTimeoutMs)));
  }
}

/** What keeps the next config's broker settings from being used: the URL, then each TLS file. */
export async function brokerProblems(next: LoadedConfig): Promise<ConfigProblem[]> {
  const m = next.config.mqtt;
  const problems: ConfigProblem[] = [];
  const add = (keys: string[], message: string) => problems.push({ file: next.file, ...locate(next.text, keys), path: keys.join("."), message });
  const why = brokerUrlProblem(m.url);
  if (why) add(["mqtt", "url"], why);
  for (const key of ["ca", "cert", "key"] as const) {
    const file = m.tls?.[key];
    const bad = file && (await regularFileProblem(file, "TLS file"));
    if (bad) add(["mqtt", "tls", key], bad);
  }
  return problems;
}

function sinkFigures(sinks: readonly Sink[]): Record<string, SinkFigures> {
  return Object.fromEntries(sinks.map((s) => [s.name, s.figures()]));
}

function assetAlarmReason(a: AssetAlarm): string {
  const where = `at ${a.lat.toFixed(6)}, ${a.lon.toFixed(6)}`;
  if (a.type === "sign_changed") return a.state === "raised" ? `'${a.new_label}' seen where '${a.label}' stood (${where})` : `'${a.label}' seen again ${where}`;
  return a.state === "raised" ? `'${a.label}' not seen on ${a.missed_passes} passes in a row (${where})` : `'${a.label}' seen again ${where}`;
}

function alarmReason(a: ZoneAlarm | SignAlarm): string {
  switch (a.type) {
    case "loitering":
      return `${a.label ?? "object"} (track ${a.track_id ?? "?"}) ${a.state === "raised" ? "loitering in" : "left"} zone ${a.zone}`;
    case "overcrowding":
      return `${a.count ?? "?"} objects in zone ${a.zone} (max ${a.max_objects ?? "?"})`;
    case "sign_missing":
      return a.state === "raised"
        ? `expected '${(a as SignAlarm).label}' not seen in zone ${a.zone} for ${(a as SignAlarm).missing_after_seconds} s`
        : `'${(a as SignAlarm).label}' seen again in zone ${a.zone}`;
    default:
      return `${(a as ZoneAlarm).type} in zone ${(a as ZoneAlarm).zone}`;
  }
}
