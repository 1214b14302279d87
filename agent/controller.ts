import type { Logger } from "pino";
import { Camera, type CameraStatus } from "./camera/camera.js";
import { sourceKind } from "./camera/ffmpeg.js";
import type { Frame } from "./camera/frame.js";
import type { ConfigProblem, LoadedConfig } from "./config/load.js";
import { locate } from "./config/load.js";
import { planReload } from "./config/diff.js";
import type { CameraConfig, Config } from "./config/schema.js";
import { Detector } from "./detect/detector.js";
import { detectorSizing } from "./detect/detector-sizing.js";
import { CameraMotion } from "./motion/camera-motion.js";
import type { FrameSourceOptions } from "./camera/ffmpeg.js";
import { analyticsOptions } from "./analytics/camera-analytics.js";
import { CrossingStore } from "./events/crossing-store.js";
import { EventMaintainer, type EventSink, type MaintainerOptions } from "./events/maintainer.js";
import type { SignAlarm } from "./analytics/sign-watch.js";
import type { ZoneAlarm } from "./analytics/zones.js";
import { Retention } from "./events/retention.js";
import { SignStore } from "./events/sign-store.js";
import { SnapshotWriter } from "./events/snapshot.js";
import { EventStore } from "./events/store.js";
import { newEventId } from "./events/ulid.js";
import { OutboxPublisher } from "./publish/outbox-publisher.js";
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
  /** frames motion gating kept from the detector */
  gated: number;
  inferMsTotal: number;
}

const DETECT_WATCHDOG_MS = 30_000;

/** A reload that cannot be applied (a model that does not load): the running config stays. */
export class ReloadError extends Error {
  readonly code = "EVA_RELOAD";
  constructor(readonly problems: ConfigProblem[]) {
    super(problems.map((p) => `${p.path}: ${p.message}`).join("; "));
  }
}

class CameraPipeline {
  readonly figures: CameraFigures = { framesIn: 0, framesSkipped: 0, processed: 0, gated: 0, inferMsTotal: 0 };
  readonly motion: CameraMotion;
  readonly camera: Camera;
  private inflight: Promise<void> = Promise.resolve();
  private held: Frame | null = null;
  private heldSince = 0;
  private heldToken = 0;
  private watchdog: NodeJS.Timeout | null = null;
  lastError = "";
  /** detector time of the most recent frames, for the p50/p95 in stats */
  readonly inferMs = new LatencyWindow();
  /** off by the set_detection command: frames still flow, nothing is detected */
  detection = true;
  private snapshotWaiters: Array<(frame: Frame) => void> = [];

  constructor(
    readonly name: string,
    /** replaced by a reload; read at every frame */
    public cfg: CameraConfig,
    /** swapped by a reload that loaded a new model */
    public detector: Detector,
    private readonly events: EventMaintainer,
    readonly width: number,
    readonly height: number,
    onStatus: (s: CameraStatus) => void,
    private readonly log: Logger,
  ) {
    this.motion = new CameraMotion(cfg.motion, cfg.masks, width, height, trackMaxAgeMs(cfg));
    this.camera = new Camera(
      { name, ...frameSourceOptions(cfg, width, height, detector), stallSeconds: cfg.stall_seconds },
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
    if (!this.detection || this.motion.decide(frame.data, frame.time) === "gated") {
      if (this.detection) this.figures.gated++;
      frame.release();
      return;
    }
    this.held = frame;
    this.heldSince = Date.now();
    // The pool hands the same Frame objects out again: a late answer must not release a newer frame.
    const token = ++this.heldToken;
    // A detector that never answers must not hold the camera's frame slot for ever. One slow timer per camera
    // checks the frame in the detector (a timer per frame would allocate on the hot path).
    if (!this.watchdog) {
      this.watchdog = setInterval(() => {
        if (!this.held || Date.now() - this.heldSince < DETECT_WATCHDOG_MS) return;
        this.log.error({ camera: this.name, seconds: DETECT_WATCHDOG_MS / 1000 }, "detector did not answer; frame dropped");
        this.releaseHeld(this.held, this.heldToken);
      }, DETECT_WATCHDOG_MS / 4);
      this.watchdog.unref();
    }
    this.inflight = this.detector
      .detect(frame, this.cfg.detect)
      .then(({ detections, inferMs }) => {
        this.figures.processed++;
        this.figures.inferMsTotal += inferMs;
        this.inferMs.add(inferMs);
        this.motion.tracks(this.events.observe(frame, detections));
        this.lastError = "";
      })
      .catch((err: Error) => {
        // One line per distinct failure, not one per frame.
        if (err.message !== this.lastError) this.log.error({ camera: this.name, err: err.message }, "detection failed");
        this.lastError = err.message;
      })
      .finally(() => this.releaseHeld(frame, token));
  }

  /** Gives the frame back to the camera's pool once, whether the detector answered or the watchdog fired. */
  private releaseHeld(frame: Frame, token: number): void {
    if (this.held !== frame || this.heldToken !== token) return;
    this.held = null;
    frame.release();
  }

  /** Turns detection on or off; turning it off ends the camera's open events. */
  setDetection(enabled: boolean): void {
    if (this.detection === enabled) return;
    this.detection = enabled;
    this.motion.reset();
    if (!enabled) void this.drain();
  }

  /**
   * A reload's new settings for this camera, effective from its next frame (ffmpeg untouched): detect
   * thresholds, event rules, tracker, zones, lines, masks and sign watch.
   */
  reconfigure(cfg: CameraConfig, events: MaintainerOptions): void {
    this.cfg = cfg;
    this.motion.reconfigure(cfg.motion, cfg.masks, trackMaxAgeMs(cfg));
    this.events.reconfigure(events);
  }

  /** Resolves when the frame now in the detector (if any) is done. */
  idle(): Promise<void> {
    return this.inflight;
  }

  /** Waits for the frame in the detector, then ends the camera's open events. */
  async drain(): Promise<void> {
    await this.inflight;
    if (this.watchdog) clearInterval(this.watchdog);
    this.watchdog = null;
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
  private crossings: CrossingStore | null = null;
  private signs: SignStore | null = null;
  private readonly modelFailures = new Map<string, string>();
  private readonly detectors = new Map<string, Detector>();
  private readonly pipelines = new Map<string, CameraPipeline>();
  private finish!: () => void;
  /** resolves when every file camera has ended (with exitOnEof) */
  readonly finished = new Promise<void>((resolve) => (this.finish = resolve));
  private stopped = false;

  constructor(
    private loaded: LoadedConfig,
    private readonly log: Logger,
    private readonly opts: AgentOptions = {},
  ) {}

  get config(): Config {
    return this.loaded.config;
  }

  async start(): Promise<void> {
    const cfg = this.config;
    this.store = new EventStore(cfg.storage.db);
    this.startPublisher(cfg);
    if (cfg.health.port > 0) {
      this.health = new HealthServer({ health: () => this.healthReport(), stats: () => this.api!.stats() }, this.log);
      // A taken port must not stop video analytics: the error is logged and the agent runs without it.
      await this.health.start(cfg.health.port, cfg.health.host).catch((err: Error) => {
        this.log.error({ port: cfg.health.port, host: cfg.health.host, err: err.message }, "health server could not start");
      });
    }
    this.startRetention(cfg);

    const enabled = Object.entries(cfg.cameras).filter(([, c]) => c.enabled);
    const usedModels = new Set(enabled.map(([, c]) => c.detect.model));
    const failures = this.modelFailures;
    await Promise.all(
      [...usedModels].map(async (name) => {
        try {
          const d = await openDetector(cfg, name, usedModels.size, this.log);
          this.detectors.set(name, d);
        } catch (err) {
          failures.set(`models.${name}.path`, (err as Error).message);
          this.log.error({ model: name, err: (err as Error).message }, "model failed to load; its cameras stay off");
        }
      }),
    );

    this.snapshots = new SnapshotWriter(cfg.storage.snapshots);
    for (const [name, cam] of enabled) {
      const pipeline = this.buildPipeline(cfg, name, cam);
      if (pipeline) this.pipelines.set(name, pipeline);
    }
    if (this.pipelines.size === 0) {
      const why = [...failures].map(([m, e]) => `${m}: ${e}`).join("; ");
      throw new Error(`no camera can run${why ? ` (${why})` : ""}`);
    }
    for (const p of this.pipelines.values()) p.camera.start();
  }

  /** The publisher with what rides on it: the outbox bound and the control-room API (commands, stats, alarms). */
  private startPublisher(cfg: Config): void {
    const store = this.store;
    if (!store) return;
    this.crossings = new CrossingStore(store);
    this.signs = new SignStore(store);
    this.publisher = new OutboxPublisher({
      mqtt: cfg.mqtt,
      deviceId: cfg.device.id,
      outbox: store,
      log: this.log,
      ...(cfg.mqtt.payload_format === "deepstream" ? { encode: deepStreamEncoder } : {}),
    });
    const bound = (this.bound = new OutboxBound(store, { maxRows: cfg.mqtt.outbox.max_rows, maxAgeMs: cfg.mqtt.outbox.max_age_hours * 3_600_000 }, this.log));
    bound.start();
    this.api = new ControlRoomApi({
      publisher: this.publisher,
      outbox: store,
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
    // A publisher started by a reload tells the control room where the running cameras stand.
    for (const p of this.pipelines.values()) this.api.onCameraStatus(p.camera.current);
  }

  private async stopPublisher(flushTimeoutMs: number): Promise<void> {
    this.api?.stop();
    this.bound?.stop();
    await this.publisher?.stop({ flushTimeoutMs });
  }

  private startRetention(cfg: Config): void {
    this.retention?.stop();
    this.retention = null;
    const keep = cfg.storage.retention;
    if (!this.store || !keep || (keep.days === undefined && keep.max_mb === undefined)) return;
    this.retention = new Retention(this.store, {
      ...(keep.days !== undefined ? { maxAgeMs: keep.days * 86_400_000 } : {}),
      ...(keep.max_mb !== undefined ? { maxBytes: keep.max_mb * 1_048_576 } : {}),
    }, this.log);
    this.retention.start();
  }

  /**
   * Where every camera's decisions go. It looks up the store and the API when called, so a reload that moves
   * the database or reconnects MQTT is followed by cameras that keep running.
   */
  private readonly sink: EventSink = {
    recordEvent: (change, ev) => {
      this.store!.recordEvent(change, ev);
      // The API publishes the event's snapshot once it is written.
      this.api?.onEvent(change, ev, () => new Promise((r) => setImmediate(r)).then(() => this.snapshots?.idle()));
    },
    recordCrossing: (camera, c) => this.crossings!.record(camera, c),
    recordSighting: (s) => this.signs!.record(s),
    enqueue: (topic, payload, o) => this.store!.enqueue(topic, payload, o),
    alarm: (camera, a) => {
      const { type, state, zone, time: _time, ...extra } = a;
      this.api?.setAlarmCondition({ type, camera, zone }, state === "raised", a.time, alarmReason(a), extra);
    },
  };

  /** Queues a message on `<prefix>/<device>/<topic>` through the outbox (QoS 1, not retained). */
  publish(topic: string, payload: unknown): void {
    this.store?.enqueue(topic, JSON.stringify(payload), { qos: 1, retain: false });
    this.publisher?.notify();
  }

  /**
   * Applies a validated config, changing only what differs from the running one (see planReload). Whatever
   * can fail (a model load, a new database) is prepared first while the cameras keep running on the old
   * config; if it fails, nothing is applied and a ReloadError says why. Returns the changed key paths.
   */
  async reload(next: LoadedConfig): Promise<string[]> {
    if (this.stopped) throw new Error("the agent is stopping");
    const cfg = next.config;
    const plan = planReload(this.config, cfg);
    const problem = (keys: string[], message: string): ConfigProblem => ({ file: next.file, ...locate(next.text, keys), path: keys.join("."), message });

    // Models: the changed ones, plus any an enabled camera needs that is not loaded (it failed at start).
    const load = new Set(plan.models.load);
    for (const c of Object.values(cfg.cameras)) if (c.enabled && !this.detectors.has(c.detect.model)) load.add(c.detect.model);
    const opened = new Map<string, Detector>();
    const failed: ConfigProblem[] = [];
    await Promise.all(
      [...load].map(async (name) => {
        try {
          opened.set(name, await openDetector(cfg, name, modelsInUse(cfg), this.log));
        } catch (err) {
          failed.push(problem(["models", name, "path"], `model does not load: ${(err as Error).message}`));
        }
      }),
    );
    let store: EventStore | null = null;
    if (plan.storage && !failed.length) {
      try {
        store = new EventStore(cfg.storage.db);
      } catch (err) {
        failed.push(problem(["storage", "db"], (err as Error).message));
      }
    }
    if (failed.length || this.stopped) {
      await Promise.all([...opened.values()].map((d) => d.close()));
      store?.close();
      throw new ReloadError(failed.length ? failed : [problem([], "the agent is stopping")]);
    }

    if (plan.log) this.log.level = cfg.log.level;
    // Cameras going away or starting again stop first: their open events end in the store they began in.
    const restart = new Set(plan.cameras.restarted);
    await Promise.all([...plan.cameras.removed, ...restart].map((n) => this.stopPipeline(n)));
    if (store) {
      await this.stopPublisher(2000);
      await this.snapshots?.idle();
      this.retention?.stop();
      if (this.store) moveOutbox(this.store, store, this.log);
      this.store?.close();
      this.store = store;
      this.snapshots = new SnapshotWriter(cfg.storage.snapshots);
      this.startPublisher(cfg);
      this.startRetention(cfg);
    } else if (plan.mqtt) {
      await this.stopPublisher(2000);
      this.startPublisher(cfg);
    }

    // Swap new detectors into running cameras; one whose frame size follows the model restarts if it changed.
    const retired: Detector[] = [];
    const users: CameraPipeline[] = [];
    for (const [model, detector] of opened) {
      const old = this.detectors.get(model);
      this.detectors.set(model, detector);
      if (old) retired.push(old);
      for (const p of this.pipelines.values()) {
        if (p.cfg.detect.model !== model) continue;
        const size = detectSize(cfg.cameras[p.name]!, detector);
        // ffmpeg scales the detector's picture for the model: a model of another input size needs a new ffmpeg.
        const scaled = JSON.stringify(scaledFor(size.width, size.height, detector)) !== JSON.stringify(scaledFor(p.width, p.height, p.detector));
        if (size.width !== p.width || size.height !== p.height || scaled) {
          await this.stopPipeline(p.name);
          restart.add(p.name);
        } else {
          p.detector = detector;
          users.push(p);
        }
      }
    }
    for (const model of plan.models.close) {
      const d = this.detectors.get(model);
      this.detectors.delete(model);
      if (d) retired.push(d);
    }

    for (const name of plan.cameras.updated) {
      const cam = cfg.cameras[name]!;
      const p = this.pipelines.get(name);
      if (!p) continue;
      const opts = maintainerOptions(cfg, name, cam, p.width, p.height);
      this.snapshots?.setScene(name, { zones: opts.analytics.zones, lines: opts.analytics.lines });
      p.reconfigure(cam, opts);
    }
    for (const name of [...plan.cameras.added, ...restart]) {
      const cam = cfg.cameras[name];
      if (!cam?.enabled || this.pipelines.has(name)) continue;
      const p = this.buildPipeline(cfg, name, cam);
      if (!p) continue;
      this.pipelines.set(name, p);
      p.camera.start();
    }
    this.loaded = next;

    // An old detector closes once the frame it may still hold is done.
    await Promise.all(users.map((p) => p.idle()));
    await Promise.all(retired.map((d) => d.close()));
    return plan.changed;
  }

  private async stopPipeline(name: string): Promise<void> {
    const p = this.pipelines.get(name);
    if (!p) return;
    this.pipelines.delete(name);
    await p.camera.stop();
    await p.drain();
  }

  private buildPipeline(cfg: Config, name: string, cam: CameraConfig): CameraPipeline | null {
    const detector = this.detectors.get(cam.detect.model);
    if (!detector) {
      const reason = `model ${cam.detect.model} failed to load: ${this.modelFailures.get(`models.${cam.detect.model}.path`) ?? "unknown error"}`;
      this.api?.onCameraStatus({ camera: name, state: "offline", reason, since: Date.now(), restarts: 0 });
      return null;
    }
    if (!this.store || !this.snapshots) return null;
    const { width, height } = detectSize(cam, detector);
    const opts = maintainerOptions(cfg, name, cam, width, height);
    this.snapshots.setScene(name, { zones: opts.analytics.zones, lines: opts.analytics.lines });
    const events = new EventMaintainer(opts, this.snapshots, this.sink, () => this.publisher?.notify(), this.log);
    return new CameraPipeline(name, cam, detector, events, width, height, (s) => this.cameraStatus(s), this.log);
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
            return [n, { framesIn: f.framesIn, framesSkipped: f.framesSkipped, processed: f.processed, gated: f.gated, inference, provider: providers[p.cfg.detect.model] ?? null, detection: p.detection }];
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
    await this.health?.stop();
    await Promise.all([...this.detectors.values()].map((d) => d.close()));
    await this.stopPublisher(flushTimeoutMs);
    await this.snapshots?.idle();
    this.retention?.stop();
    this.store?.close();
  }
}

function trackMaxAgeMs(cam: CameraConfig): number {
  return (cam.tracker.max_age_seconds ?? cam.events.end_after_seconds) * 1000;
}

function modelsInUse(cfg: Config): number {
  return new Set(Object.values(cfg.cameras).filter((c) => c.enabled).map((c) => c.detect.model)).size;
}

function openDetector(cfg: Config, name: string, models: number, log: Logger): Promise<Detector> {
  const { workers, threads } = detectorSizing(cfg.detector, models);
  return Detector.open({ name, model: cfg.models[name]!, providers: cfg.detector.providers, threads, workers, logger: log });
}

/**
 * The picture ffmpeg scales for the detector beside the frame: none when the frame already is the model's
 * input size, or when the model's picture would be wider than the frame (the worker resizes then).
 */
function scaledFor(width: number, height: number, detector: Detector): { width: number; height: number } | undefined {
  const s = detector.scaledSize(width, height);
  return s && s.width <= width ? s : undefined;
}

function frameSourceOptions(cam: CameraConfig, width: number, height: number, detector: Detector): FrameSourceOptions {
  // Skipping non-reference frames is free at low fps (the fps filter drops most frames anyway); at high fps
  // it would leave gaps the fps filter fills with repeats.
  const skip = cam.decode.skip_frame === "auto" ? (cam.fps <= 12.5 ? "noref" : "none") : cam.decode.skip_frame;
  return {
    source: cam.detect_source ?? cam.source,
    fps: cam.fps,
    width,
    height,
    loop: cam.loop,
    realtime: cam.realtime,
    rtspTransport: cam.rtsp_transport,
    timeoutSeconds: cam.stall_seconds,
    threads: cam.decode.threads,
    skipFrame: skip,
    scaled: scaledFor(width, height, detector),
  };
}

function detectSize(cam: CameraConfig, detector: Detector): { width: number; height: number } {
  return { width: cam.detect.width ?? detector.info.inputWidth, height: cam.detect.height ?? detector.info.inputHeight };
}

/** What a camera's events stage is built from: event rules and analytics (at the camera's detect size). */
function maintainerOptions(cfg: Config, name: string, cam: CameraConfig, width: number, height: number): MaintainerOptions {
  return {
    events: {
      device: cfg.device.id,
      camera: name,
      minFrames: cam.events.min_frames,
      threshold: cam.events.threshold,
      updateIntervalMs: cam.events.update_interval_seconds * 1000,
      stationary: cam.events.stationary,
      newId: newEventId,
    },
    analytics: analyticsOptions(name, cam, width, height, newEventId),
  };
}

/** Messages not yet delivered follow the database to its new place, in order, so a storage move loses none. */
function moveOutbox(from: EventStore, to: EventStore, log: Logger): void {
  let moved = 0;
  for (let rows = from.peekOutbox(0, 500); rows.length; rows = from.peekOutbox(0, 500)) {
    for (const row of rows) {
      to.enqueue(row.topic, row.payload, { qos: row.qos, retain: row.retain });
      from.deleteOutbox(row.seq);
      moved++;
    }
  }
  if (moved) log.info({ messages: moved }, "undelivered messages moved to the new database");
}
