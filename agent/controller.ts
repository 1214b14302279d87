import type { Logger } from "pino";
import { Camera, type CameraStatus } from "./camera/camera.js";
import { sourceKind } from "./camera/ffmpeg.js";
import type { Frame } from "./camera/frame.js";
import type { LoadedConfig } from "./config/load.js";
import type { CameraConfig, Config } from "./config/schema.js";
import { Detector } from "./detect/detector.js";
import { analyticsOptions } from "./analytics/camera-analytics.js";
import { CrossingStore } from "./events/crossing-store.js";
import { EventMaintainer } from "./events/maintainer.js";
import { Retention } from "./events/retention.js";
import { SignStore } from "./events/sign-store.js";
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

class CameraPipeline {
  readonly figures: CameraFigures = { framesIn: 0, framesSkipped: 0, processed: 0, inferMsTotal: 0 };
  readonly camera: Camera;
  private inflight: Promise<void> = Promise.resolve();
  private lastError = "";

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
  private retention: Retention | null = null;
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
    this.publisher = new OutboxPublisher({ mqtt: cfg.mqtt, deviceId: cfg.device.id, outbox: this.store, log: this.log });
    this.publisher.start();
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

    const snapshots = (this.snapshots = new SnapshotWriter(cfg.storage.snapshots));
    const crossings = new CrossingStore(this.store);
    const signs = new SignStore(this.store);
    for (const [name, cam] of enabled) {
      const detector = this.detectors.get(cam.detect.model);
      if (!detector) continue;
      const width = cam.detect.width ?? detector.info.inputWidth;
      const height = cam.detect.height ?? detector.info.inputHeight;
      const store = this.store;
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
        {
          recordEvent: (change, ev) => store.recordEvent(change, ev),
          recordCrossing: (camera, c) => crossings.record(camera, c),
          recordSighting: (s) => signs.record(s),
          enqueue: (topic, payload, o) => store.enqueue(topic, payload, o),
        },
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
    this.retention?.stop();
    this.store?.close();
  }
}
