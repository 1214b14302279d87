import type { Logger } from "pino";
import { Camera, type CameraStatus } from "./camera/camera.js";
import { sourceKind } from "./camera/ffmpeg.js";
import type { Frame } from "./camera/frame.js";
import type { LoadedConfig } from "./config/load.js";
import type { CameraConfig, Config } from "./config/schema.js";
import { Detector } from "./detect/detector.js";
import { analyticsOptions } from "./analytics/camera-analytics.js";
import { CrossingStore } from "./events/crossing-store.js";
import { EventMaintainer, type EventSink } from "./events/maintainer.js";
import type { SignAlarm } from "./analytics/sign-watch.js";
import type { ZoneAlarm } from "./analytics/zones.js";
import { Retention } from "./events/retention.js";
import { SignStore } from "./events/sign-store.js";
import { SnapshotWriter } from "./events/snapshot.js";
import { EventStore } from "./events/store.js";
import { newEventId } from "./events/ulid.js";
import { OutboxPublisher } from "./publish/outbox-publisher.js";
import type { EvaEvent, EventChange } from "./events/event.js";
import { frameJpeg } from "./events/frame-jpeg.js";
import { LatencyWindow } from "./health/latency-window.js";
import { HealthServer, type HealthReport } from "./health/http.js";
import type { CommandOutcome } from "./publish/commands.js";
import type { AlarmKey } from "./publish/alarm-book.js";
import { ControlRoomApi, type ControlledAgent } from "./publish/control-room.js";
import { deepStreamEncoder } from "./publish/deepstream.js";
import { OutboxBound } from "./publish/outbox-bound.js";

export interface AgentOptions {
  /** resolve `finished` once every file camera has reached its end */
  exitOnEof?: boolean;
  /** live config reload (issue 6); without it the `reload` command answers not_supported */
  reload?: () => Promise<CommandOutcome>;
}

/** Per-camera figures for logs, bench and stats. */
export interface CameraFigures {
  framesIn: number;
  framesSkipped: number;
  processed: number;
  inferMsTotal: number;
}

const DETECT_WATCHDOG_MS = 30_000;

class CameraPipeline {
  readonly figures: CameraFigures = { framesIn: 0, framesSkipped: 0, processed: 0, inferMsTotal: 0 };
  readonly camera: Camera;
  private inflight: Promise<void> = Promise.resolve();
  lastError = "";
  /** detector time of the most recent frames, for the p50/p95 in stats */
  readonly inferMs = new LatencyWindow();
  /** off by the set_detection command: frames still flow, nothing is detected */
  detection = true;
  private snapshotWaiters: Array<(frame: Frame) => void> = [];

  constructor(
    readonly name: string,
    readonly cfg: CameraConfig,
    private readonly detector: Detector,
    private readonly events: EventMaintainer,
    width: number,
    height: number,
    onStatus: (s: CameraStatus) => void,
    private readonly log: Logger,
  ) {
    this.camera = new Camera(
      {
        name,
        source: cfg.source,
        fps: cfg.fps,
        width,
        height,
        loop: cfg.loop,
        realtime: cfg.realtime,
        rtspTransport: cfg.rtsp_transport,
        timeoutSeconds: cfg.stall_seconds,
        stallSeconds: cfg.stall_seconds,
        threads: 2,
      },
      (frame) => this.process(frame),
      onStatus,
      log,
    );
  }

  /** Resolves with a JPEG of the next frame (written under dir), or rejects after timeoutMs without one. */
  snapshotNext(dir: string, timeoutMs = 10_000): Promise<{ path: string; jpeg: Buffer }> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.snapshotWaiters = this.snapshotWaiters.filter((w) => w !== take);
        reject(new Error(`no frame from camera ${this.name} within ${timeoutMs / 1000} s`));
      }, timeoutMs);
      const take = (frame: Frame): void => {
        clearTimeout(timer);
        frameJpeg(frame, dir).then(resolve, reject);
      };
      this.snapshotWaiters.push(take);
    });
  }

  private process(frame: Frame): void {
    if (this.snapshotWaiters.length) {
      const waiters = this.snapshotWaiters;
      this.snapshotWaiters = [];
      for (const w of waiters) w(frame);
    }
    if (!this.detection) {
      frame.release();
      return;
    }
    // A detector that never answers must not hold the camera's frame slot for ever: after the watchdog the
    // frame is let go (and reported), so the camera keeps flowing while the cause is investigated.
    let released = false;
    const release = () => {
      if (released) return;
      released = true;
      clearTimeout(watchdog);
      frame.release();
    };
    const watchdog = setTimeout(() => {
      this.log.error({ camera: this.name, seconds: DETECT_WATCHDOG_MS / 1000 }, "detector did not answer; frame dropped");
      release();
    }, DETECT_WATCHDOG_MS);
    this.inflight = this.detector
      .detect(frame, this.cfg.detect)
      .then(({ detections, inferMs }) => {
        this.figures.processed++;
        this.figures.inferMsTotal += inferMs;
        this.inferMs.add(inferMs);
        this.events.observe(frame, detections);
        this.lastError = "";
      })
      .catch((err: Error) => {
        // One line per distinct failure, not one per frame.
        if (err.message !== this.lastError) this.log.error({ camera: this.name, err: err.message }, "detection failed");
        this.lastError = err.message;
      })
      .finally(release);
  }

  /** Turns detection on or off; turning it off ends the camera's open events. */
  setDetection(enabled: boolean): void {
    if (this.detection === enabled) return;
    this.detection = enabled;
    if (!enabled) void this.drain();
  }

  /** Waits for the frame in the detector, then ends the camera's open events. */
  async drain(): Promise<void> {
    await this.inflight;
    this.events.endAll();
  }

  snapshotFigures(): CameraFigures {
    const c = this.camera.counters;
    this.figures.framesIn = c.framesIn;
    this.figures.framesSkipped = c.framesSkipped;
    return { ...this.figures };
  }
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

/** Builds the pipeline graph from the config, starts it and stops it. Stages do the work. */
export class Agent {
  private store: EventStore | null = null;
  private publisher: OutboxPublisher | null = null;
  private snapshots: SnapshotWriter | null = null;
  private api: ControlRoomApi | null = null;
  private bound: OutboxBound | null = null;
  private health: HealthServer | null = null;
  private retention: Retention | null = null;
  private readonly modelFailures = new Map<string, string>();
  private readonly detectors = new Map<string, Detector>();
  private readonly pipelines = new Map<string, CameraPipeline>();
  private finish!: () => void;
  /** resolves when every file camera has ended (with exitOnEof) */
  readonly finished = new Promise<void>((resolve) => (this.finish = resolve));
  private stopped = false;

  constructor(
    private readonly loaded: LoadedConfig,
    private readonly log: Logger,
    private readonly opts: AgentOptions = {},
  ) {}

  get config(): Config {
    return this.loaded.config;
  }

  async start(): Promise<void> {
    const cfg = this.config;
    this.store = new EventStore(cfg.storage.db);
    this.publisher = new OutboxPublisher({
      mqtt: cfg.mqtt,
      deviceId: cfg.device.id,
      outbox: this.store,
      log: this.log,
      ...(cfg.mqtt.payload_format === "deepstream" ? { encode: deepStreamEncoder } : {}),
    });
    const bound = (this.bound = new OutboxBound(this.store, { maxRows: cfg.mqtt.outbox.max_rows, maxAgeMs: cfg.mqtt.outbox.max_age_hours * 3_600_000 }, this.log));
    bound.start();
    this.api = new ControlRoomApi({
      publisher: this.publisher,
      outbox: this.store,
      agent: this.controlled(),
      log: this.log,
      cameras: Object.fromEntries(Object.entries(cfg.cameras).map(([n, c]) => [n, { enabled: c.enabled }])),
      statsIntervalSeconds: cfg.mqtt.stats_interval_seconds,
      publishSnapshots: cfg.mqtt.snapshots,
      dbFile: cfg.storage.db,
      newId: newEventId,
      outboxDrops: () => ({ dropped: bound.dropped, compacted: bound.compacted }),
    });
    this.api.start();
    this.publisher.start();
    if (cfg.health.port > 0) {
      this.health = new HealthServer({ health: () => this.healthReport(), stats: () => this.api!.stats() }, this.log);
      // A taken port must not stop video analytics: the error is logged and the agent runs without it.
      await this.health.start(cfg.health.port, cfg.health.host).catch((err: Error) => {
        this.log.error({ port: cfg.health.port, host: cfg.health.host, err: err.message }, "health server could not start");
      });
    }
    const keep = cfg.storage.retention;
    if (keep && (keep.days !== undefined || keep.max_mb !== undefined)) {
      this.retention = new Retention(this.store, {
        ...(keep.days !== undefined ? { maxAgeMs: keep.days * 86_400_000 } : {}),
        ...(keep.max_mb !== undefined ? { maxBytes: keep.max_mb * 1_048_576 } : {}),
      }, this.log);
      this.retention.start();
    }

    const enabled = Object.entries(cfg.cameras).filter(([, c]) => c.enabled);
    const usedModels = new Set(enabled.map(([, c]) => c.detect.model));
    const failures = this.modelFailures;
    await Promise.all(
      [...usedModels].map(async (name) => {
        try {
          const d = await Detector.open({ name, model: cfg.models[name]!, providers: cfg.detector.providers, threads: cfg.detector.threads, logger: this.log });
          this.detectors.set(name, d);
        } catch (err) {
          failures.set(`models.${name}.path`, (err as Error).message);
          this.log.error({ model: name, err: (err as Error).message }, "model failed to load; its cameras stay off");
        }
      }),
    );

    const snapshots = (this.snapshots = new SnapshotWriter(cfg.storage.snapshots));
    const store = this.store;
    const api = this.api;
    const crossings = new CrossingStore(store);
    const signs = new SignStore(store);
    // Events go to the store (with their outbox row); the API publishes their snapshots once written.
    const sink: EventSink = {
      recordEvent: (change, ev) => {
        store.recordEvent(change, ev);
        api.onEvent(change, ev, () => new Promise((r) => setImmediate(r)).then(() => snapshots.idle()));
      },
      recordCrossing: (camera, c) => crossings.record(camera, c),
      recordSighting: (s) => signs.record(s),
      enqueue: (topic, payload, o) => store.enqueue(topic, payload, o),
      alarm: (camera, a) => {
        const { type, state, zone, time: _time, ...extra } = a;
        this.api?.setAlarmCondition({ type, camera, zone }, state === "raised", a.time, alarmReason(a), extra);
      },
    };
    for (const [name, cam] of enabled) {
      const detector = this.detectors.get(cam.detect.model);
      if (!detector) {
        const reason = `model ${cam.detect.model} failed to load: ${failures.get(`models.${cam.detect.model}.path`) ?? "unknown error"}`;
        this.api.onCameraStatus({ camera: name, state: "offline", reason, since: Date.now(), restarts: 0 });
        continue;
      }
      const width = cam.detect.width ?? detector.info.inputWidth;
      const height = cam.detect.height ?? detector.info.inputHeight;
      const analytics = analyticsOptions(name, cam, width, height, newEventId);
      snapshots.setScene(name, { zones: analytics.zones, lines: analytics.lines });
      const events = new EventMaintainer(
        {
          events: {
            device: cfg.device.id,
            camera: name,
            minFrames: cam.events.min_frames,
            threshold: cam.events.threshold,
            updateIntervalMs: cam.events.update_interval_seconds * 1000,
            stationary: cam.events.stationary,
            newId: newEventId,
          },
          analytics,
        },
        snapshots,
        sink,
        () => this.publisher?.notify(),
        this.log,
      );
      const pipeline = new CameraPipeline(name, cam, detector, events, width, height, (s) => this.cameraStatus(s), this.log);
      this.pipelines.set(name, pipeline);
    }
    if (this.pipelines.size === 0) {
      const why = [...failures].map(([m, e]) => `${m}: ${e}`).join("; ");
      throw new Error(`no camera can run${why ? ` (${why})` : ""}`);
    }
    for (const p of this.pipelines.values()) p.camera.start();
  }

  cameraStatuses(): CameraStatus[] {
    return [...this.pipelines.values()].map((p) => p.camera.current);
  }

  figures(): Record<string, CameraFigures> {
    return Object.fromEntries([...this.pipelines].map(([n, p]) => [n, p.snapshotFigures()]));
  }

  providers(): Record<string, string> {
    return Object.fromEntries([...this.detectors].map(([n, d]) => [n, d.provider]));
  }

  /** Turns detection on or off for a running camera; false when there is none by that name. */
  setDetection(camera: string, enabled: boolean): boolean {
    const p = this.pipelines.get(camera);
    if (!p) return false;
    p.setDetection(enabled);
    return true;
  }

  /** A JPEG of the camera's next frame; null when the camera is not running. */
  async snapshotNow(camera: string): Promise<{ path: string; jpeg: Buffer } | null> {
    const p = this.pipelines.get(camera);
    return p ? p.snapshotNext(this.config.storage.snapshots) : null;
  }

  /** An alarm condition from analytics (loitering, overcrowding, sign_missing) holds or has ended. */
  alarmCondition(key: AlarmKey, active: boolean, reason: string | null = null, extra: Record<string, unknown> = {}): void {
    this.api?.setAlarmCondition(key, active, Date.now(), reason, extra);
  }

  /** The reload command: the live reload hook when there is one (issue 6). */
  requestReload(): Promise<CommandOutcome> {
    if (this.opts.reload) return this.opts.reload();
    return Promise.resolve({ ok: false, code: "not_supported", message: "live config reload is not available in this version; restart the agent" });
  }

  /** /healthz: every running camera online (or ended) with detection working, every model loaded. */
  healthReport(): HealthReport {
    const reasons: string[] = [];
    for (const [m, err] of this.modelFailures) reasons.push(`model ${m}: ${err}`);
    for (const p of this.pipelines.values()) {
      const s = p.camera.current;
      if (s.state === "offline" || s.state === "stopped") reasons.push(`camera ${s.camera} ${s.state}: ${s.reason ?? ""}`);
      if (p.lastError) reasons.push(`camera ${p.name} detection failing: ${p.lastError}`);
    }
    if (this.pipelines.size === 0) reasons.push("no camera running");
    return { healthy: reasons.length === 0, reasons };
  }

  private controlled(): ControlledAgent {
    return {
      cameraStatuses: () => this.cameraStatuses(),
      cameraFigures: () => {
        const providers = this.providers();
        return Object.fromEntries(
          [...this.pipelines].map(([n, p]) => {
            const f = p.snapshotFigures();
            const inference = p.inferMs.percentiles([50, 95] as const);
            return [n, { framesIn: f.framesIn, framesSkipped: f.framesSkipped, processed: f.processed, inference, provider: providers[p.cfg.detect.model] ?? null, detection: p.detection }];
          }),
        );
      },
      setDetection: (c, e) => this.setDetection(c, e),
      snapshotNow: (c) => this.snapshotNow(c),
      requestReload: () => this.requestReload(),
      queryEvents: (q) => this.store?.queryEvents(q) ?? [],
    };
  }

  private cameraStatus(s: CameraStatus): void {
    this.api?.onCameraStatus(s);
    if (s.state === "ended") {
      const p = this.pipelines.get(s.camera);
      void p?.drain().then(() => this.checkAllEnded());
    }
  }

  private checkAllEnded(): void {
    if (!this.opts.exitOnEof) return;
    const files = [...this.pipelines.values()].filter((p) => sourceKind(p.cfg.source) === "file");
    if (files.length && files.every((p) => p.camera.current.state === "ended")) this.finish();
  }

  /** Stops cameras, ends open events, flushes the outbox while the broker is up, closes the DB. */
  async stop(flushTimeoutMs = 5000): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    await Promise.all([...this.pipelines.values()].map((p) => p.camera.stop()));
    for (const p of this.pipelines.values()) await p.drain();
    this.publisher?.notify();
    this.api?.stop();
    this.bound?.stop();
    await this.health?.stop();
    await Promise.all([...this.detectors.values()].map((d) => d.close()));
    await this.publisher?.stop({ flushTimeoutMs });
    await this.snapshots?.idle();
    this.retention?.stop();
    this.store?.close();
  }
}
