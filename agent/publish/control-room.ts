import { statSync } from "node:fs";
import type { Logger } from "pino";
import type { CameraStatus } from "../camera/camera.js";
import type { EvaEvent } from "../core/event.js";
import { ProcessSampler } from "../health/process-figures.js";
import { AlarmBook, isAlarmActionError, type AlarmKey } from "./alarm-book.js";
import { CommandChannel } from "./command-channel.js";
import type { CommandOutcome, CommandTarget } from "./commands.js";
import { decodeCursor, eventPage } from "./event-pages.js";
import type { OutboxPublisher } from "./outbox-publisher.js";
import type { SinkFigures } from "./sinks/sink.js";
import type { AlarmPayload, CameraStatusPayload, CommandParams, StatsPayload } from "./payload-schemas.js";
import { buildStats, type CameraCounts, type CameraStatsInput } from "./stats.js";
import { cameraStatusTopic, snapshotTopic, STATS } from "./topics.js";
import type { RecordEnvelope, RecordKind } from "../core/records.js";
import { alarms as alarmRecords } from "../records/alarms.js";

/** What the control-room API needs from the running agent: plain figures and a few hooks. */
export interface ControlledAgent {
  cameraStatuses(): CameraStatus[];
  /** per running camera: counters, recent inference times, provider, whether detection is on */
  cameraFigures(): Record<
    string,
    CameraCounts & { analysed: number; inference: { p50: number | null; p95: number | null }; provider: string | null; detection: boolean }
  >;
  /** false when the camera is not running */
  setDetection(camera: string, enabled: boolean): boolean;
  /** JPEG of the camera's next frame, written on the device; null when the camera is not running */
  snapshotNow(camera: string): Promise<{ path: string; jpeg: Buffer } | null>;
  requestReload(): Promise<CommandOutcome>;
  queryEvents(q: { camera?: string; label?: string; sinceMs: number; limit: number }): EvaEvent[];
}

/** Durable, ordered messages go through the outbox (the EventStore's enqueue). */
export interface Enqueue {
  enqueue(topic: string, payload: string, opts: { qos: 0 | 1 | 2; retain: boolean }): number;
  outboxDepth(): number;
}

export interface ControlRoomOptions {
  publisher: OutboxPublisher;
  outbox: Enqueue;
  agent: ControlledAgent;
  log: Logger;
  /** every camera in the config, with whether it is enabled there */
  cameras: Record<string, { enabled: boolean }>;
  statsIntervalSeconds: number;
  publishSnapshots: boolean;
  dbFile: string;
  newId: (now: number) => string;
  /** device.id, for the records this API makes (alarms) */
  device: string;
  /** stores a record with the messages announcing it, in one transaction (agent/events/recorder.ts) */
  record<T extends RecordEnvelope>(kind: RecordKind<T, never>, record: T): void;
  /** the raised alarms; kept by the caller so that they outlive this API (a reload that reconnects rebuilds it) */
  alarms?: AlarmBook;
  /** outbox bound figures, when a bound is running, and each sink's */
  outboxDrops?: () => { dropped: number; compacted: number; sinks?: Record<string, SinkFigures> };
}

/**
 * The device's API to control rooms beyond events: retained per-camera status and the camera_offline alarm
 * (through the outbox, in order with events), commands, periodic stats and the latest snapshot per camera.
 * One feature, one file: the controller builds it and forwards camera status changes.
 */
export class ControlRoomApi implements CommandTarget {
  readonly alarms: AlarmBook;
  private readonly commands: CommandChannel;
  private readonly sampler = new ProcessSampler();
  private statsTimer: NodeJS.Timeout | null = null;
  private previous: Record<string, CameraCounts> = {};
  private previousAt = Date.now();
  private latestStats: StatsPayload | null = null;
  private readonly lastStatus = new Map<string, string>();
  private readonly startedAt = Date.now();

  constructor(private readonly o: ControlRoomOptions) {
    this.alarms = o.alarms ?? new AlarmBook(o.newId);
    this.commands = new CommandChannel(o.publisher, this, o.log);
  }

  /** Before publisher.start(): subscribes to commands and announces every configured camera's state. */
  start(): void {
    this.commands.attach();
    for (const [camera, c] of Object.entries(this.o.cameras)) {
      if (!c.enabled)
        this.publishCameraStatus({
          camera,
          state: "disabled",
          reason: "disabled in the config",
          since: new Date(this.startedAt).toISOString(),
          detection: false,
          restarts: 0,
        });
    }
    this.statsTimer = setInterval(() => void this.publishStats(), this.o.statsIntervalSeconds * 1000);
    this.statsTimer.unref();
  }

  stop(): void {
    if (this.statsTimer) clearInterval(this.statsTimer);
    this.statsTimer = null;
    this.sampler.close();
  }

  /** The newest stats (for /metrics), computed now if none were published yet. */
  stats(): StatsPayload {
    return this.latestStats ?? this.computeStats(false);
  }

  /** A camera changed state: retained status, and camera_offline raised or cleared. */
  onCameraStatus(s: CameraStatus): void {
    const detection = this.o.agent.cameraFigures()[s.camera]?.detection ?? true;
    this.publishCameraStatus(cameraStatusPayload(s, detection));
    const key = { type: "camera_offline" as const, camera: s.camera };
    // "starting" is the first state of every camera, and an agent stop or a file's end is not a fault.
    if (s.state === "offline" && s.reason !== "starting") this.publishAlarm(this.alarms.raise(key, s.since, s.reason));
    else if (s.state === "online") this.publishAlarm(this.alarms.clear(key, s.since, "camera back online"));
  }

  /** An event changed: with mqtt.snapshots, its JPEG goes out retained once written (on new and on end). */
  onEvent(change: "new" | "update" | "end", ev: EvaEvent, written: () => Promise<unknown>): void {
    if (!this.o.publishSnapshots || change === "update" || !ev.snapshot) return;
    const file = ev.snapshot;
    void written()
      .then(async () => {
        const { readFile } = await import("node:fs/promises");
        const jpeg = await readFile(file);
        await this.o.publisher.publishLive(this.o.publisher.topic(snapshotTopic(ev.camera)), jpeg, { qos: 0, retain: true });
      })
      .catch((err: Error) => this.o.log.debug({ camera: ev.camera, err: err.message }, "snapshot not published"));
  }

  /**
   * For alarms decided elsewhere (analytics: loitering, overcrowding, sign_missing): the condition holds or not.
   * Raises once while it holds and clears when it ends, through the alarm book, so operators can ack them.
   */
  setAlarmCondition(key: AlarmKey, active: boolean, now = Date.now(), reason: string | null = null, extra: Record<string, unknown> = {}): void {
    this.publishAlarm(active ? this.alarms.raise(key, now, reason, extra) : this.alarms.clear(key, now, reason));
  }

  /** Stores an alarm's new state and publishes it through the outbox (agent/records/alarms.ts). */
  publishAlarm(a: AlarmPayload | null): void {
    if (!a) return;
    try {
      this.o.record(alarmRecords, { ...a, id: a.id ?? this.o.newId(Date.now()), device: this.o.device });
      this.o.publisher.notify();
    } catch (err) {
      this.o.log.error({ alarm: a.id, err: (err as Error).message }, "could not record an alarm");
    }
  }

  // --- CommandTarget

  setDetection(camera: string, enabled: boolean): CommandOutcome {
    if (!this.o.agent.setDetection(camera, enabled)) return unknownCamera(camera);
    const s = this.o.agent.cameraStatuses().find((c) => c.camera === camera);
    if (s) this.publishCameraStatus(cameraStatusPayload(s, enabled));
    return { ok: true, result: { camera, detection: enabled } };
  }

  async snapshotNow(camera: string): Promise<CommandOutcome> {
    const shot = await this.o.agent.snapshotNow(camera);
    if (!shot) return unknownCamera(camera);
    let published = false;
    if (this.o.publishSnapshots) {
      published = await this.o.publisher.publishLive(this.o.publisher.topic(snapshotTopic(camera)), shot.jpeg, { qos: 0, retain: true });
    }
    return { ok: true, result: { camera, path: shot.path, bytes: shot.jpeg.length, published } };
  }

  requestReload(): Promise<CommandOutcome> {
    return this.o.agent.requestReload();
  }

  acknowledgeAlarm(id: string): CommandOutcome {
    const r = this.alarms.acknowledge(id, Date.now());
    if (isAlarmActionError(r)) return { ok: false, code: r.code, message: r.message };
    this.publishAlarm(r);
    return { ok: true, result: { alarm_id: id, state: "acknowledged" } };
  }

  clearAlarm(id: string): CommandOutcome {
    const r = this.alarms.clearById(id, Date.now());
    if (isAlarmActionError(r)) return { ok: false, code: r.code, message: r.message };
    this.publishAlarm(r);
    return { ok: true, result: { alarm_id: id, state: "cleared" } };
  }

  listEvents(p: CommandParams<"list_events">): CommandOutcome {
    const cursor = p.cursor === undefined ? null : decodeCursor(p.cursor);
    if (p.cursor !== undefined && !cursor) return { ok: false, code: "invalid_params", message: "cursor: not a cursor this device gave out" };
    const page = eventPage(
      (sinceMs, limit) => this.o.agent.queryEvents({ camera: p.camera, label: p.label, sinceMs, limit }),
      Date.parse(p.since),
      p.limit,
      cursor,
    );
    return { ok: true, result: { ...page } };
  }

  status(): CommandOutcome {
    const figures = this.o.agent.cameraFigures();
    const cameras = this.o.agent.cameraStatuses().map((s) => cameraStatusPayload(s, figures[s.camera]?.detection ?? true));
    return { ok: true, result: { cameras, alarms: this.alarms.active(), outbox_depth: this.safeDepth() } };
  }

  // --- internals

  private publishCameraStatus(p: CameraStatusPayload): void {
    // Only changes: a restart loop must not fill the outbox with identical retained states.
    const key = `${p.state}\u0000${p.reason}\u0000${p.detection}`;
    if (this.lastStatus.get(p.camera) === key) return;
    this.lastStatus.set(p.camera, key);
    this.enqueue(cameraStatusTopic(p.camera), JSON.stringify(p), true);
  }

  private enqueue(topic: string, payload: string, retain: boolean): void {
    try {
      this.o.outbox.enqueue(topic, payload, { qos: 1, retain });
      this.o.publisher.notify();
    } catch (err) {
      this.o.log.error({ topic, err: (err as Error).message }, "could not queue a message");
    }
  }

  private safeDepth(): number | null {
    try {
      return this.o.outbox.outboxDepth();
    } catch {
      return null;
    }
  }

  private computeStats(advance: boolean): StatsPayload {
    const now = Date.now();
    const figures = this.o.agent.cameraFigures();
    const states = new Map(this.o.agent.cameraStatuses().map((s) => [s.camera, s]));
    const cameras: Record<string, CameraStatsInput> = {};
    for (const [name, f] of Object.entries(figures)) {
      const s = states.get(name);
      cameras[name] = { ...f, state: !f.detection ? "disabled" : s?.state === "online" ? "online" : "offline" };
    }
    let dbBytes: number | null = null;
    try {
      dbBytes = statSync(this.o.dbFile).size + (statSync(`${this.o.dbFile}-wal`, { throwIfNoEntry: false })?.size ?? 0);
    } catch {
      dbBytes = null;
    }
    const stats = buildStats({
      now,
      seconds: (now - this.previousAt) / 1000,
      cameras,
      previous: this.previous,
      outbox: { depth: this.safeDepth(), ...(this.o.outboxDrops?.() ?? { dropped: 0, compacted: 0 }) },
      dbBytes,
      process: this.sampler.sample(),
    });
    if (advance) {
      this.previous = Object.fromEntries(
        Object.entries(figures).map(([n, f]) => [n, { framesIn: f.framesIn, framesSkipped: f.framesSkipped, processed: f.processed, gated: f.gated }]),
      );
      this.previousAt = now;
    }
    return stats;
  }

  private async publishStats(): Promise<void> {
    try {
      const stats = this.computeStats(true);
      this.latestStats = stats;
      // Message expiry: a subscriber that was away gets no stale figures from its queued session.
      await this.o.publisher.publishLive(this.o.publisher.topic(STATS), JSON.stringify(stats), {
        qos: 1,
        properties: { messageExpiryInterval: Math.ceil(this.o.statsIntervalSeconds * 2) },
      });
    } catch (err) {
      this.o.log.error({ err: (err as Error).message }, "stats failed");
    }
  }
}

/** The retained camera status from the camera stage's state. */
export function cameraStatusPayload(s: CameraStatus, detection: boolean): CameraStatusPayload {
  const since = new Date(s.since).toISOString();
  const base = { camera: s.camera, since, detection, restarts: s.restarts };
  switch (s.state) {
    case "online":
      return detection ? { ...base, state: "online", reason: null } : { ...base, state: "disabled", reason: "detection disabled by command" };
    case "offline":
      return { ...base, state: "offline", reason: s.reason ?? "unknown" };
    case "ended":
      return { ...base, state: "offline", reason: s.reason ?? "end of file" };
    case "stopped":
      return { ...base, state: "offline", reason: "agent stopped" };
  }
}

function unknownCamera(camera: string): CommandOutcome {
  return { ok: false, code: "unknown_camera", message: `no running camera named ${JSON.stringify(camera.slice(0, 64))}` };
}
