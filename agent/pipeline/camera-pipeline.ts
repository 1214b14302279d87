import type { Logger } from "pino";
import { Camera, type CameraOptions, type CameraStatus } from "../camera/camera.js";
import { lumaOf, type Frame } from "../camera/frame.js";
import type { CameraConfig } from "../config/schema.js";
import { classifyDetections, type ClassifierSource } from "../classify/classify-stage.js";
import type { Detection } from "../core/detection.js";
import type { DetectFilter, DetectInput, DetectResult } from "../detect/detector.js";
import { TiledDetection } from "../detect/tiled-detection.js";
import { frameJpeg, frameJpegBytes } from "../events/frame-jpeg.js";
import type { EventMaintainer, MaintainerOptions } from "../events/maintainer.js";
import type { PositionSource } from "../geo/position.js";
import { LatencyWindow } from "../health/latency-window.js";
import type { AgentMetrics } from "../health/metrics.js";
import { CameraMotion } from "../motion/camera-motion.js";
import { FrameWaiters } from "./frame-waiters.js";

/** Per-camera figures for logs, bench and stats. */
export interface CameraFigures {
  framesIn: number;
  framesSkipped: number;
  processed: number;
  /** frames handed to the detector, counted as they go (processed lags it by the frame in the detector) */
  analysed: number;
  /** frames motion gating kept from the detector */
  gated: number;
  /** live frames shown but not analysed while the camera's model was still loading at start */
  waiting: number;
  inferMsTotal: number;
  /** detector runs (one per tile with detect.tiles) and classifier crops, summed over processed frames */
  modelRuns: number;
  crops: number;
}

/** Where a camera's frames are detected: the agent's detector pool, by model name. */
export interface DetectorSource {
  detect(model: string, frame: DetectInput, filter: DetectFilter): Promise<DetectResult>;
  /** the model's session is still loading at start */
  isLoading(model: string): boolean;
}

export interface CameraPipelineOptions {
  name: string;
  /** the camera's config; replaced by a reload, read at every frame */
  cfg: CameraConfig;
  /** what ffmpeg is started with (the detect size, the scaled picture, decode options) */
  source: Omit<CameraOptions, "name">;
  detectors: DetectorSource;
  classifiers: ClassifierSource;
  events: EventMaintainer;
  /** where the camera is at each frame (location or gps); started with the pipeline, stopped by close() */
  position?: PositionSource | null;
  onStatus: (s: CameraStatus) => void;
  log: Logger;
  metrics?: AgentMetrics | null;
}

const DETECT_WATCHDOG_MS = 30_000;

/** One camera's ffmpeg → detector → classify → events stage, with its figures. */
export class CameraPipeline {
  readonly name: string;
  /** replaced by a reload; read at every frame */
  cfg: CameraConfig;
  readonly width: number;
  readonly height: number;
  /** the detector's picture ffmpeg scales beside each frame */
  readonly scaled: { width: number; height: number } | undefined;
  readonly figures: CameraFigures = { framesIn: 0, framesSkipped: 0, processed: 0, analysed: 0, gated: 0, waiting: 0, inferMsTotal: 0, modelRuns: 0, crops: 0 };
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
  private readonly snapshots: FrameWaiters;
  /** the web console's live view waiting for the next frame */
  private readonly live: FrameWaiters;
  private readonly tiled = new TiledDetection();
  private readonly detectWith: (frame: DetectInput, filter: DetectFilter) => Promise<DetectResult>;
  /** the last classify failure: the camera goes on with the detector's labels and reports it */
  classifyError = "";
  private readonly detectors: DetectorSource;
  private readonly classifiers: ClassifierSource;
  private readonly events: EventMaintainer;
  readonly position: PositionSource | null;
  private readonly log: Logger;
  private readonly metrics: AgentMetrics | null;

  constructor(o: CameraPipelineOptions) {
    ({ name: this.name, cfg: this.cfg, detectors: this.detectors, classifiers: this.classifiers, events: this.events, log: this.log } = o);
    this.metrics = o.metrics ?? null;
    this.position = o.position ?? null;
    this.position?.start();
    this.width = o.source.width;
    this.height = o.source.height;
    this.scaled = o.source.scaled;
    this.snapshots = new FrameWaiters(o.name);
    this.live = new FrameWaiters(o.name);
    this.motion = new CameraMotion(o.cfg.motion, o.cfg.masks, this.width, this.height, trackMaxAgeMs(o.cfg));
    this.camera = new Camera({ name: o.name, ...o.source }, (frame) => this.process(frame), o.onStatus, o.log);
    this.detectWith = (input, filter) => this.detectors.detect(this.cfg.detect.model, input, filter);
  }

  /**
   * Resolves with a JPEG of the next frame (written under dir); rejects at once when no frame can come (the
   * file has ended, the camera is stopped or offline for a reason other than starting), or after timeoutMs.
   */
  snapshotNext(dir: string, timeoutMs = 10_000): Promise<{ path: string; jpeg: Buffer }> {
    const noFrame = this.noFrameReason();
    if (noFrame) return Promise.reject(new Error(noFrame));
    return this.snapshots.next(timeoutMs, (frame) => frameJpeg(frame, dir));
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
    if (!this.snapshots.waiting) return;
    const why = this.noFrameReason();
    if (why) this.snapshots.fail(why);
  }

  private process(frame: Frame): void {
    this.snapshots.serve(frame, null);
    const gated = !this.detection || this.motion.decide(lumaOf(frame), frame.time) === "gated";
    // At start the model may still be loading (a TensorRT build takes minutes): a live camera runs meanwhile
    // (online, live view, motion background) and its frames are not queued; a file read frame by frame waits.
    const waiting = !gated && !this.camera.batch && this.detectors.isLoading(this.cfg.detect.model);
    if (gated || waiting) {
      if (waiting) this.figures.waiting++;
      else if (this.detection) this.figures.gated++;
      // the live view shows frames nothing looked at too (detection off, or no motion), without boxes
      this.live.serve(frame, null);
      frame.release();
      return;
    }
    this.figures.analysed++;
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
        this.motion.tracks(this.events.observe(frame, detections, this.position?.fixAt(frame) ?? null));
        this.live.serve(frame, detections);
        this.lastError = "";
      })
      .catch((err: Error) => {
        this.live.serve(frame, null);
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

  /** Whether this frame (by its token: the pool reuses Frame objects) is still the one in the detector. */
  private holds(frame: Frame, token: number): boolean {
    return this.held === frame && this.heldToken === token;
  }

  /** Gives the frame back to the camera's pool once, whether the detector answered or the watchdog fired. */
  private releaseHeld(frame: Frame, token: number): void {
    if (!this.holds(frame, token)) return;
    this.held = null;
    frame.release();
  }

  /**
   * A JPEG of the next processed frame in memory with what the detector saw in it, for the web console's live
   * view (boxes drawn on the very picture they were found in); rejects after timeoutMs without one.
   */
  liveJpeg(timeoutMs: number): Promise<{ jpeg: Buffer; time: number; detections: readonly Detection[] | null }> {
    return this.live.next(timeoutMs, (frame, detections) => {
      const time = frame.time;
      return frameJpegBytes(frame, 80).then((jpeg) => ({ jpeg, time, detections }));
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

  /** The camera is gone (stopped for good or replaced): its position source stops. */
  close(): void {
    this.position?.stop();
  }

  snapshotFigures(): CameraFigures {
    const c = this.camera.counters;
    this.figures.framesIn = c.framesIn;
    this.figures.framesSkipped = c.framesSkipped;
    return { ...this.figures };
  }
}

function trackMaxAgeMs(cam: CameraConfig): number {
  return (cam.tracker.max_age_seconds ?? cam.events.end_after_seconds) * 1000;
}
