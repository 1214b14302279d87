import type { Logger } from "pino";
import { Camera, type CameraStatus } from "./camera/camera.js";
import { sourceKind } from "./camera/ffmpeg.js";
import type { Frame } from "./camera/frame.js";
import type { ConfigProblem, LoadedConfig } from "./config/load.js";
import { locate } from "./config/load.js";
import { planReload } from "./config/diff.js";
import type { CameraConfig, Config } from "./config/schema.js";
import { Detector } from "./detect/detector.js";
import { EventMaintainer } from "./events/maintainer.js";
import { SnapshotWriter } from "./events/snapshot.js";
import { EventStore } from "./events/store.js";
import { newEventId } from "./events/ulid.js";
import { OutboxPublisher } from "./publish/outbox-publisher.js";

export interface AgentOptions {
  /** resolve `finished` once every file camera has reached its end */
  exitOnEof?: boolean;
}

/** Per-camera figures for logs, bench and stats. */
export interface CameraFigures {
  framesIn: number;
  framesSkipped: number;
  processed: number;
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
  readonly figures: CameraFigures = { framesIn: 0, framesSkipped: 0, processed: 0, inferMsTotal: 0 };
  readonly camera: Camera;
  private inflight: Promise<void> = Promise.resolve();
  private lastError = "";

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

  private process(frame: Frame): void {
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

  /**
   * A reload's new settings for this camera, effective from its next frame (ffmpeg untouched). Every stage
   * that keeps camera settings (events today; tracker, zones, lines and masks with the analytics work)
   * takes them here.
   */
  reconfigure(cfg: CameraConfig, events: ReturnType<typeof eventSettings>): void {
    this.cfg = cfg;
    this.events.reconfigure(events);
  }

  /** Resolves when the frame now in the detector (if any) is done. */
  idle(): Promise<void> {
    return this.inflight;
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

/** Builds the pipeline graph from the config, starts it and stops it. Stages do the work. */
export class Agent {
  private store: EventStore | null = null;
  private publisher: OutboxPublisher | null = null;
  private snapshots: SnapshotWriter | null = null;
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

    const enabled = Object.entries(cfg.cameras).filter(([, c]) => c.enabled);
    const usedModels = new Set(enabled.map(([, c]) => c.detect.model));
    const failures = new Map<string, string>();
    await Promise.all(
      [...usedModels].map(async (name) => {
        try {
          const d = await Detector.open({ name, model: cfg.models[name]!, providers: cfg.detector.providers, threads: cfg.detector.threads, logger: this.log });
          this.detectors.set(name, d);
        } catch (err) {
          failures.set(name, (err as Error).message);
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

  private startPublisher(cfg: Config): void {
    if (!this.store) return;
    this.publisher = new OutboxPublisher({ mqtt: cfg.mqtt, deviceId: cfg.device.id, outbox: this.store, log: this.log });
    this.publisher.start();
  }

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
          opened.set(name, await Detector.open({ name, model: cfg.models[name]!, providers: cfg.detector.providers, threads: cfg.detector.threads, logger: this.log }));
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
      await this.publisher?.stop({ flushTimeoutMs: 2000 });
      await this.snapshots?.idle();
      if (this.store) moveOutbox(this.store, store, this.log);
      this.store?.close();
      this.store = store;
      this.snapshots = new SnapshotWriter(cfg.storage.snapshots);
      this.startPublisher(cfg);
    } else if (plan.mqtt) {
      await this.publisher?.stop({ flushTimeoutMs: 2000 });
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
        if (size.width !== p.width || size.height !== p.height) {
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
      this.pipelines.get(name)?.reconfigure(cam, eventSettings(cfg, cam));
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
    if (!detector || !this.store || !this.snapshots) return null;
    const events = new EventMaintainer(
      { ...eventSettings(cfg, cam), camera: name, newId: newEventId },
      this.snapshots,
      this.store,
      () => this.publisher?.notify(),
      this.log,
    );
    const { width, height } = detectSize(cam, detector);
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

  private cameraStatus(s: CameraStatus): void {
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
    await Promise.all([...this.detectors.values()].map((d) => d.close()));
    await this.publisher?.stop({ flushTimeoutMs });
    await this.snapshots?.idle();
    this.store?.close();
  }
}

function detectSize(cam: CameraConfig, detector: Detector): { width: number; height: number } {
  return { width: cam.detect.width ?? detector.info.inputWidth, height: cam.detect.height ?? detector.info.inputHeight };
}

function eventSettings(cfg: Config, cam: CameraConfig) {
  return {
    device: cfg.device.id,
    minFrames: cam.events.min_frames,
    endAfterMs: cam.events.end_after_seconds * 1000,
    updateIntervalMs: cam.events.update_interval_seconds * 1000,
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
