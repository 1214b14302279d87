import type { Logger } from "pino";
import { analyticsOptions } from "../analytics/camera-analytics.js";
import { Camera, type CameraStatus } from "../camera/camera.js";
import { sourceKind, type FrameSourceOptions } from "../camera/ffmpeg.js";
import type { Frame } from "../camera/frame.js";
import type { ReloadPlan } from "../config/diff.js";
import type { LoadedConfig } from "../config/load.js";
import type { CameraConfig, Config } from "../config/schema.js";
import { classifyDetections, type ClassifierSource } from "../classify/classify-stage.js";
import type { Detection } from "../core/detection.js";
import { scaledSize, type DetectFilter, type DetectInput, type DetectResult, type ModelInfo } from "../detect/detector.js";
import { TiledDetection } from "../detect/tiled-detection.js";
import { frameJpeg, frameJpegBytes } from "../events/frame-jpeg.js";
import { EventMaintainer, type EventSink, type MaintainerOptions } from "../events/maintainer.js";
import { newEventId } from "../core/ulid.js";
import { LatencyWindow } from "../health/latency-window.js";
import { CameraMotion } from "../motion/camera-motion.js";
import type { AgentMetrics } from "../health/metrics.js";
import type { ControlledAgent } from "../publish/control-room.js";
import type { DetectorPool, PreparedDetectors } from "./detector-pool.js";
import type { PreparedChange } from "./part.js";
import type { Persistence } from "./persistence.js";

/** Per-camera figures for logs, bench and stats. */
export interface CameraFigures {
  framesIn: number;
  framesSkipped: number;
  processed: number;
  /** frames motion gating kept from the detector */
  gated: number;
  /** live frames shown but not analysed while the camera's model was still loading at start */
  waiting: number;
  inferMsTotal: number;
  /** detector runs (one per tile with detect.tiles) and classifier crops, summed over processed frames */
  modelRuns: number;
  crops: number;
}

export interface CameraPipelinesDeps {
  detectors: DetectorPool;
  /** the crop classifiers of the cameras' `classify` rules */
  classifiers: ClassifierSource;
  persistence: Persistence;
  /** where every camera's decisions go */
  sink: EventSink;
  /** something was queued for the control room */
  notify: () => void;
  /** a camera changed state (also for cameras that cannot run) */
  onStatus: (s: CameraStatus) => void;
  log: Logger;
  /** resolve `finished` once every file camera has reached its end; files that play once are dated by their creation_time */
  exitOnEof?: boolean;
  /** inference times and line series for /metrics */
  metrics?: AgentMetrics;
}

const DETECT_WATCHDOG_MS = 30_000;

/** One camera's ffmpeg → detector → events stage, with its figures. */
export class CameraPipeline {
  readonly figures: CameraFigures = { framesIn: 0, framesSkipped: 0, processed: 0, gated: 0, waiting: 0, inferMsTotal: 0, modelRuns: 0, crops: 0 };
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
  private snapshotWaiters: Array<{ take: (frame: Frame) => void; fail: (why: string) => void }> = [];
  private readonly tiled = new TiledDetection();
  private readonly detectWith: (frame: DetectInput, filter: DetectFilter) => Promise<DetectResult>;
  /** the last classify failure: the camera goes on with the detector's labels and reports it */
  classifyError = "";

  constructor(
    readonly name: string,
    /** replaced by a reload; read at every frame */
    public cfg: CameraConfig,
    private readonly detectors: DetectorPool,
    private readonly classifiers: ClassifierSource,
    private readonly events: EventMaintainer,
    readonly width: number,
    readonly height: number,
    onStatus: (s: CameraStatus) => void,
    private readonly log: Logger,
    private readonly metrics: AgentMetrics | null = null,
    /** batch run: a file that plays once is dated by its own creation_time */
    fileTime = false,
    /** the detector's picture ffmpeg scales beside each frame (see frameSourceOptions) */
    readonly scaled: { width: number; height: number } | undefined,
  ) {
    this.motion = new CameraMotion(cfg.motion, cfg.masks, width, height, trackMaxAgeMs(cfg));
    this.camera = new Camera(
      { name, ...frameSourceOptions(cfg, width, height, scaled), stallSeconds: cfg.stall_seconds, fileTime, hwaccel: cfg.hwaccel },
      (frame) => this.process(frame),
      onStatus,
      log,
    );
    this.detectWith = (input, filter) => this.detectors.detect(this.cfg.detect.model, input, filter);
  }

  /**
   * Resolves with a JPEG of the next frame (written under dir); rejects at once when no frame can come (the
   * file has ended, the camera is stopped or offline for a reason other than starting), or after timeoutMs.
   */
  snapshotNext(dir: string, timeoutMs = 10_000): Promise<{ path: string; jpeg: Buffer }> {
    const noFrame = this.noFrameReason();
    if (noFrame) return Promise.reject(new Error(noFrame));
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.snapshotWaiters = this.snapshotWaiters.filter((w) => w !== waiter);
        reject(new Error(`no frame from camera ${this.name} within ${timeoutMs / 1000} s`));
      }, timeoutMs);
      const waiter = {
        take: (frame: Frame): void => {
          clearTimeout(timer);
          frameJpeg(frame, dir).then(resolve, reject);
        },
        fail: (why: string): void => {
          clearTimeout(timer);
          reject(new Error(why));
        },
      };
      this.snapshotWaiters.push(waiter);
    });
  }

  /** Why no next frame will come, or null while one may. */
  private noFrameReason(): string | null {
    const s = this.camera.current;
    if (s.state === "ended") return `camera ${this.name} has ended (${s.reason ?? "end of file"}): no frame to take`;
    if (s.state === "stopped") return `camera ${this.name} is stopped`;
    if (s.state === "offline" && s.reason !== "starting") return `camera ${this.name} is offline: ${s.reason ?? "unknown"}`;
    return null;
  }

  /** The camera changed state: snapshot requests waiting for a frame that cannot come now fail at once. */
  onStateChange(): void {
    const why = this.noFrameReason();
    if (!why || !this.snapshotWaiters.length) return;
    const waiters = this.snapshotWaiters;
    this.snapshotWaiters = [];
    for (const w of waiters) w.fail(why);
  }

  private process(frame: Frame): void {
    if (this.snapshotWaiters.length) {
      const waiters = this.snapshotWaiters;
      this.snapshotWaiters = [];
      for (const w of waiters) w.take(frame);
    }
    const gated = !this.detection || this.motion.decide(frame.data, frame.time) === "gated";
    // At start the model may still be loading (a TensorRT build takes minutes): a live camera runs meanwhile
    // (online, live view, motion background) and its frames are not queued; a file read frame by frame waits.
    const waiting = !gated && !this.camera.batch && this.detectors.isLoading(this.cfg.detect.model);
    if (gated || waiting) {
      if (waiting) this.figures.waiting++;
      else if (this.detection) this.figures.gated++;
      // the live view shows frames nothing looked at too (detection off, or no motion), without boxes
      this.serveLive(frame, null);
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
        if (!this.held || Date.now() - this.heldSince < DETECT_WATCHDOG_MS || this.detectors.isLoading(this.cfg.detect.model)) return;
        this.log.error({ camera: this.name, seconds: DETECT_WATCHDOG_MS / 1000 }, "detector did not answer; frame dropped");
        this.releaseHeld(this.held, this.heldToken);
      }, DETECT_WATCHDOG_MS / 4);
      this.watchdog.unref();
    }
    const cfg = this.cfg;
    this.inflight = this.tiled
      .detect(this.detectWith, frame, cfg.detect)
      .then(async (found) => {
        // An answer after the watchdog gave the slot back describes pixels the pool has since handed to a newer
        // frame (the same Frame object): crops and events must not use them.
        if (!this.holds(frame, token)) return;
        let { detections, inferMs } = found;
        this.figures.modelRuns += found.tiles;
        if (cfg.classify.length) {
          ({ detections, inferMs } = await this.classify(frame, detections, inferMs, cfg));
          if (!this.holds(frame, token)) return;
        }
        this.figures.processed++;
        this.figures.inferMsTotal += inferMs;
        this.inferMs.add(inferMs);
        this.metrics?.observeInference(this.name, inferMs);
        this.motion.tracks(this.events.observe(frame, detections));
        this.serveLive(frame, detections);
        this.lastError = "";
      })
      .catch((err: Error) => {
        this.serveLive(frame, null);
        // One line per distinct failure, not one per frame.
        if (err.message !== this.lastError) this.log.error({ camera: this.name, err: err.message }, "detection failed");
        this.lastError = err.message;
      })
      .finally(() => this.releaseHeld(frame, token));
  }

  /** The classify stage on this frame (crops from the frame as delivered); on failure the detector's labels stay. */
  private async classify(frame: Frame, detections: Detection[], inferMs: number, cfg: CameraConfig): Promise<{ detections: Detection[]; inferMs: number }> {
    try {
      const refined = await classifyDetections(this.classifiers, cfg.classify, frame, detections);
      this.classifyError = "";
      this.figures.crops += refined.crops;
      return { detections: refined.detections, inferMs: inferMs + refined.inferMs };
    } catch (err) {
      const message = (err as Error).message;
      if (message !== this.classifyError) this.log.error({ camera: this.name, err: message }, "classification failed; the detector's labels are kept");
      this.classifyError = message;
      return { detections, inferMs };
    }
  }

  /** Gives the frame back to the camera's pool once, whether the detector answered or the watchdog fired. */
  /** Whether this frame (by its token: the pool reuses Frame objects) is still the one in the detector. */
  private holds(frame: Frame, token: number): boolean {
    return this.held === frame && this.heldToken === token;
  }

  private releaseHeld(frame: Frame, token: number): void {
    if (!this.holds(frame, token)) return;
    this.held = null;
    frame.release();
  }

  /** the web console's live view waiting for the next frame */
  private liveWaiters: Array<(frame: Frame, detections: readonly Detection[] | null) => void> = [];

  private serveLive(frame: Frame, detections: readonly Detection[] | null): void {
    if (!this.liveWaiters.length) return;
    const waiters = this.liveWaiters;
    this.liveWaiters = [];
    for (const w of waiters) w(frame, detections);
  }

  /**
   * A JPEG of the next processed frame in memory with what the detector saw in it, for the web console's live
   * view (boxes drawn on the very picture they were found in); rejects after timeoutMs without one.
   */
  liveJpeg(timeoutMs: number): Promise<{ jpeg: Buffer; time: number; detections: readonly Detection[] | null }> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.liveWaiters = this.liveWaiters.filter((w) => w !== take);
        reject(new Error(`no frame from camera ${this.name} within ${timeoutMs / 1000} s`));
      }, timeoutMs);
      const take = (frame: Frame, detections: readonly Detection[] | null): void => {
        clearTimeout(timer);
        const time = frame.time;
        frameJpegBytes(frame, 80).then((jpeg) => resolve({ jpeg, time, detections }), reject);
      };
      this.liveWaiters.push(take);
    });
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

/**
 * Every enabled camera's pipeline. A reload restarts only the cameras whose frames change (source, fps, size,
 * model), updates the others in place at their next frame, and stops those that went away.
 */
export class CameraPipelines {
  private readonly pipelines = new Map<string, CameraPipeline>();
  private finish!: () => void;
  /** resolves when every file camera has ended (with exitOnEof) */
  readonly finished = new Promise<void>((resolve) => (this.finish = resolve));

  constructor(private readonly deps: CameraPipelinesDeps) {}

  /** Builds and starts the enabled cameras; throws when none can run. */
  start(cfg: Config): void {
    for (const [name, cam] of Object.entries(cfg.cameras)) {
      if (!cam.enabled) continue;
      const p = this.build(cfg, name, cam, this.deps.detectors.info(cam.detect.model));
      if (p) this.pipelines.set(name, p);
    }
    if (this.pipelines.size === 0) throw this.noCamera();
    for (const p of this.pipelines.values()) p.camera.start();
  }

  /**
   * Once every model has loaded (or failed) at start: cameras whose model failed stop and say why; a camera
   * whose model turned out to take another picture than its file declared starts again on the real one.
   * Throws when no camera can run.
   */
  async modelsLoaded(cfg: Config): Promise<void> {
    const { detectors, onStatus, log } = this.deps;
    for (const p of [...this.pipelines.values()]) {
      const cam = cfg.cameras[p.name]!;
      const info = detectors.info(cam.detect.model);
      if (!detectors.has(cam.detect.model) || !info) {
        await this.stopOne(p.name);
        onStatus({ camera: p.name, state: "offline", reason: `model ${cam.detect.model} failed to load: ${detectors.failure(cam.detect.model)}`, since: Date.now(), restarts: 0 });
        continue;
      }
      if (!pictureChange(p, cam, info)) continue;
      log.warn({ camera: p.name, model: cam.detect.model }, "the loaded model's input differs from what its file declares: the camera starts again on it");
      await this.stopOne(p.name);
      const again = this.build(cfg, p.name, cam, info);
      if (again) {
        this.pipelines.set(p.name, again);
        again.camera.start();
      }
    }
    if (this.pipelines.size === 0) throw this.noCamera();
  }

  private noCamera(): Error {
    const why = [...this.deps.detectors.failures].map(([m, e]) => `${m}: ${e}`).join("; ");
    return new Error(`no camera can run${why ? ` (${why})` : ""}`);
  }

  /** What the reload does to the cameras, given the models the detector pool will run after it. Cannot fail. */
  prepare(next: LoadedConfig, plan: ReloadPlan, detectors: PreparedDetectors): PreparedChange {
    const cfg = next.config;
    const restart = new Set(plan.cameras.restarted);
    const resizing: string[] = [];
    // A camera whose frame size follows its model restarts when the new model's input size differs.
    for (const p of this.pipelines.values()) {
      const cam = cfg.cameras[p.name];
      const info = cam && detectors.infoAfter(cam.detect.model);
      if (!cam || !info || restart.has(p.name) || plan.cameras.removed.includes(p.name)) continue;
      const change = pictureChange(p, cam, info);
      if (change === "size") restart.add(p.name);
      // ffmpeg's scaled picture was made for the old model; a swap must not stop the camera, so the worker
      // resizes the frame itself (as before issue 13) until the camera next restarts.
      else if (change === "scaled") resizing.push(p.name);
    }
    return {
      // Cameras going away or starting again stop first: their open events end in the store they began in.
      release: async () => void (await Promise.all([...plan.cameras.removed, ...restart].map((n) => this.stopOne(n)))),
      commit: async () => {
        for (const name of resizing) this.deps.log.info({ camera: name }, "new model's input differs from ffmpeg's scaled picture: the detector resizes frames until the camera restarts");
        const snapshots = this.deps.persistence.snapshots;
        for (const name of plan.cameras.updated) {
          const p = this.pipelines.get(name);
          if (!p || restart.has(name)) continue;
          const cam = cfg.cameras[name]!;
          const opts = maintainerOptions(cfg, name, cam, p.width, p.height);
          snapshots.setScene(name, { zones: opts.analytics.zones, lines: opts.analytics.lines });
          p.reconfigure(cam, opts);
          this.declareLineMetrics(name, cam);
        }
        // Besides added and restarted cameras: any enabled one not running, e.g. its model failed at start and
        // loads now.
        const idle = Object.keys(cfg.cameras).filter((n) => cfg.cameras[n]!.enabled && !this.pipelines.has(n));
        for (const name of new Set([...plan.cameras.added, ...restart, ...idle])) {
          const cam = cfg.cameras[name];
          if (!cam?.enabled || this.pipelines.has(name)) continue;
          const p = this.build(cfg, name, cam, this.deps.detectors.info(cam.detect.model));
          if (!p) continue;
          this.pipelines.set(name, p);
          p.camera.start();
        }
      },
      abort: async () => {},
    };
  }

  get(camera: string): CameraPipeline | undefined {
    return this.pipelines.get(camera);
  }

  all(): CameraPipeline[] {
    return [...this.pipelines.values()];
  }

  statuses(): CameraStatus[] {
    return this.all().map((p) => p.camera.current);
  }

  figures(): Record<string, CameraFigures> {
    return Object.fromEntries([...this.pipelines].map(([n, p]) => [n, p.snapshotFigures()]));
  }

  /** Per running camera, for the control room's stats: counters, recent inference times, provider, detection on. */
  controlFigures(providers: Record<string, string>): ReturnType<ControlledAgent["cameraFigures"]> {
    return Object.fromEntries(
      this.all().map((p) => {
        const f = p.snapshotFigures();
        const inference = p.inferMs.percentiles([50, 95] as const);
        return [p.name, { framesIn: f.framesIn, framesSkipped: f.framesSkipped, processed: f.processed, gated: f.gated, inference, provider: providers[p.cfg.detect.model] ?? null, detection: p.detection }];
      }),
    );
  }

  /** Why the cameras make the agent unhealthy: offline or stopped, or detection failing. */
  healthReasons(): string[] {
    const reasons: string[] = [];
    for (const p of this.pipelines.values()) {
      const s = p.camera.current;
      if (s.state === "offline" || s.state === "stopped") reasons.push(`camera ${s.camera} ${s.state}: ${s.reason ?? ""}`);
      if (p.lastError) reasons.push(`camera ${p.name} detection failing: ${p.lastError}`);
      if (p.classifyError) reasons.push(`camera ${p.name} classification failing: ${p.classifyError}`);
      if (this.deps.detectors.isLoading(p.cfg.detect.model)) reasons.push(`camera ${p.name} waiting for model ${p.cfg.detect.model} to load`);
    }
    if (this.pipelines.size === 0) reasons.push("no camera running");
    return reasons;
  }

  /** A camera's state changed: an ended file camera drains, and the agent may be finished. */
  onStatus(s: CameraStatus): void {
    this.pipelines.get(s.camera)?.onStateChange();
    if (s.state !== "ended") return;
    void this.pipelines.get(s.camera)?.drain().then(() => this.checkAllEnded());
  }

  /** Stops every camera, then ends their open events. */
  async stop(): Promise<void> {
    await Promise.all(this.all().map((p) => p.camera.stop()));
    for (const p of this.all()) await p.drain();
  }

  private async stopOne(name: string): Promise<void> {
    const p = this.pipelines.get(name);
    if (!p) return;
    this.pipelines.delete(name);
    await p.camera.stop();
    await p.drain();
  }

  private build(cfg: Config, name: string, cam: CameraConfig, info: ModelInfo | null): CameraPipeline | null {
    const { detectors, classifiers, persistence, sink, notify, onStatus, log } = this.deps;
    if (!info) {
      const reason = `model ${cam.detect.model} failed to load: ${detectors.failure(cam.detect.model)}`;
      onStatus({ camera: name, state: "offline", reason, since: Date.now(), restarts: 0 });
      return null;
    }
    const { width, height } = detectSize(cam, info);
    const opts = maintainerOptions(cfg, name, cam, width, height);
    persistence.snapshots.setScene(name, { zones: opts.analytics.zones, lines: opts.analytics.lines });
    const events = new EventMaintainer(opts, persistence.snapshots, sink, notify, log);
    this.declareLineMetrics(name, cam);
    return new CameraPipeline(name, cam, detectors, classifiers, events, width, height, onStatus, log, this.deps.metrics ?? null, this.deps.exitOnEof === true, scaledFor(info, width, height));
  }

  /** The lines' /metrics series from zero, at start and after an edit (the events stage publishes their totals). */
  private declareLineMetrics(name: string, cam: CameraConfig): void {
    const lines = Object.entries(cam.lines);
    for (const [line, l] of lines) {
      const labels = l.labels ?? cam.detect.labels;
      if (labels) this.deps.metrics?.declareLines(name, [line], labels);
    }
  }

  private checkAllEnded(): void {
    if (!this.deps.exitOnEof) return;
    const files = this.all().filter((p) => sourceKind(p.cfg.source) === "file");
    if (files.length && files.every((p) => p.camera.current.state === "ended")) this.finish();
  }
}

/** What a running camera's frames would change with this model: its detect size, ffmpeg's scaled picture, or nothing. */
function pictureChange(p: CameraPipeline, cam: CameraConfig, info: ModelInfo): "size" | "scaled" | null {
  const size = detectSize(cam, info);
  if (size.width !== p.width || size.height !== p.height) return "size";
  return JSON.stringify(scaledFor(info, size.width, size.height)) !== JSON.stringify(p.scaled) ? "scaled" : null;
}

function trackMaxAgeMs(cam: CameraConfig): number {
  return (cam.tracker.max_age_seconds ?? cam.events.end_after_seconds) * 1000;
}

/**
 * The picture ffmpeg scales for the detector beside the frame: none when the frame already is the model's
 * input size, or when the model's picture would be wider than the frame (the worker resizes then).
 */
function scaledFor(info: ModelInfo, width: number, height: number): { width: number; height: number } | undefined {
  const s = scaledSize(info, width, height);
  return s && s.width <= width ? s : undefined;
}

/**
 * Skipping non-reference frames is free at low fps (the fps filter drops most frames anyway); at high fps it
 * would leave gaps the fps filter fills with repeats.
 */
export function skipFrameOf(cam: CameraConfig): "none" | "noref" | "nokey" {
  return cam.decode.skip_frame === "auto" ? (cam.fps <= 12.5 ? "noref" : "none") : cam.decode.skip_frame;
}

function frameSourceOptions(cam: CameraConfig, width: number, height: number, scaled: { width: number; height: number } | undefined): FrameSourceOptions {
  const skip = skipFrameOf(cam);
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
    scaled,
  };
}

function detectSize(cam: CameraConfig, info: ModelInfo): { width: number; height: number } {
  return { width: cam.detect.width ?? info.inputWidth, height: cam.detect.height ?? info.inputHeight };
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
    camera: cam,
  };
}
