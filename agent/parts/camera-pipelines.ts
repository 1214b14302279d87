import type { Logger } from "pino";
import { analyticsOptions } from "../analytics/camera-analytics.js";
import type { SignAssetBook } from "../analytics/sign-assets.js";
import type { CameraOptions, CameraStatus } from "../camera/camera.js";
import { clearPrivateFiles, sourceKind } from "../camera/ffmpeg.js";
import type { PixelFormat } from "../camera/frame.js";
import type { ReloadPlan } from "../config/diff.js";
import type { LoadedConfig } from "../config/load.js";
import type { CameraConfig, Config } from "../config/schema.js";
import type { ClassifierSource } from "../classify/classify-stage.js";
import { scaledSize, type ModelInfo } from "../detect/detector.js";
import { positionSourceFor } from "../geo/position-sources.js";
import { EventMaintainer, type EventSink, type MaintainerOptions } from "../events/maintainer.js";
import { newEventId } from "../core/ulid.js";
import type { AgentMetrics, MetricsSnapshot } from "../health/metrics.js";
import { CameraPipeline, type CameraFigures } from "../pipeline/camera-pipeline.js";
import { ClipRecorder } from "../recording/clip-recorder.js";
import type { ControlledAgent } from "../publish/control-room.js";
import type { DetectorPool } from "./detector-pool.js";
import { unchanged, type Part, type PreparedChange } from "./part.js";
import type { Persistence } from "./persistence.js";

export type { CameraFigures };

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

/**
 * Every enabled camera's pipeline. A reload restarts only the cameras whose frames change (source, fps, size,
 * model), updates the others in place at their next frame, and stops those that went away.
 */
export class CameraPipelines implements Part {
  private readonly pipelines = new Map<string, CameraPipeline>();
  /** the event clips of the cameras that record */
  private readonly recorders = new Map<string, ClipRecorder>();
  private finish!: () => void;
  /** resolves when every file camera has ended (with exitOnEof) */
  readonly finished = new Promise<void>((resolve) => (this.finish = resolve));

  constructor(private readonly deps: CameraPipelinesDeps) {}

  /** Builds and starts the enabled cameras; throws when none can run. */
  start(cfg: Config): void {
    // camera credentials an agent killed with -9 left in its runtime folder
    clearPrivateFiles();
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
  async loaded(cfg: Config): Promise<void> {
    const { detectors, onStatus, log } = this.deps;
    for (const p of [...this.pipelines.values()]) {
      const cam = cfg.cameras[p.name]!;
      const info = detectors.info(cam.detect.model);
      if (!detectors.has(cam.detect.model) || !info) {
        await this.stopOne(p.name);
        onStatus({
          camera: p.name,
          state: "offline",
          reason: `model ${cam.detect.model} failed to load: ${detectors.failure(cam.detect.model)}`,
          since: Date.now(),
          restarts: 0,
        });
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

  /**
   * What the reload does to the cameras, given the models the detector pool will run after it (prepared
   * beside this, listed before it). Cannot fail; nothing to do when the detector pool's own prepare failed.
   */
  async prepare(next: LoadedConfig, plan: ReloadPlan): Promise<PreparedChange> {
    const infoAfter = await this.deps.detectors.infoAfterReload();
    if (!infoAfter) return unchanged;
    const cfg = next.config;
    const restart = new Set(plan.cameras.restarted);
    const resizing: string[] = [];
    // A camera whose frame size follows its model restarts when the new model's input size differs.
    for (const p of this.pipelines.values()) {
      const cam = cfg.cameras[p.name];
      const info = cam && infoAfter(cam.detect.model);
      if (!cam || !info || restart.has(p.name) || plan.cameras.removed.includes(p.name)) continue;
      const change = pictureChange(p, cam, info);
      if (change === "size") restart.add(p.name);
      // ffmpeg's scaled picture was made for the old model; a swap must not stop the camera, so the worker
      // resizes the frame itself until the camera next restarts.
      else if (change === "scaled") resizing.push(p.name);
    }
    return {
      // Cameras going away or starting again stop first: their open events end in the store they began in.
      release: async () => void (await Promise.all([...plan.cameras.removed, ...restart].map((n) => this.stopOne(n)))),
      commit: async () => {
        for (const name of resizing)
          this.deps.log.info({ camera: name }, "new model's input differs from ffmpeg's scaled picture: the detector resizes frames until the camera restarts");
        const snapshots = this.deps.persistence.snapshots;
        for (const name of plan.cameras.updated) {
          const p = this.pipelines.get(name);
          if (!p || restart.has(name)) continue;
          const cam = cfg.cameras[name]!;
          const opts = maintainerOptions(cfg, name, cam, p.width, p.height, this.deps.persistence.signAssets);
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
        return [
          p.name,
          {
            framesIn: f.framesIn,
            framesSkipped: f.framesSkipped,
            processed: f.processed,
            analysed: f.analysed,
            gated: f.gated,
            inference,
            provider: providers[p.cfg.detect.model] ?? null,
            detection: p.detection,
          },
        ];
      }),
    );
  }

  /** The detect-frame size of a running camera (the coordinate space of zones and lines). */
  frameSize(camera: string): { width: number; height: number } | null {
    const p = this.pipelines.get(camera);
    return p ? { width: p.width, height: p.height } : null;
  }

  /** The web console's live view: the next analysed frame as a JPEG; null when the camera is not running. */
  grabFrame(camera: string, timeoutMs: number): ReturnType<CameraPipeline["liveJpeg"]> | null {
    const p = this.pipelines.get(camera);
    const state = p?.camera.current.state;
    return p && state !== "ended" && state !== "stopped" ? p.liveJpeg(timeoutMs) : null;
  }

  /** Per running camera, for /metrics. */
  metricsFigures(): MetricsSnapshot["cameras"] {
    const cameras: MetricsSnapshot["cameras"] = {};
    for (const p of this.pipelines.values()) {
      const f = p.snapshotFigures();
      const s = p.camera.current;
      cameras[p.name] = {
        up: s.state === "online" && p.detection,
        framesDecoded: f.framesIn,
        framesProcessed: f.processed,
        framesSkipped: f.framesSkipped,
        restarts: s.restarts,
      };
    }
    return cameras;
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
    void this.pipelines
      .get(s.camera)
      ?.drain()
      .then(() => this.checkAllEnded());
  }

  /** Stops every camera, then ends their open events; the uplink is woken to send those ends while the rest stops. */
  async stop(): Promise<void> {
    await Promise.all(this.all().map((p) => p.camera.stop()));
    clearPrivateFiles();
    for (const p of this.all()) {
      await p.drain();
      p.close();
    }
    // After the drain: the events it ended have their clips cut from what was recorded.
    await Promise.all([...this.recorders.values()].map((r) => r.stop()));
    this.recorders.clear();
    this.deps.notify();
  }

  private async stopOne(name: string): Promise<void> {
    const p = this.pipelines.get(name);
    if (!p) return;
    this.pipelines.delete(name);
    await p.camera.stop();
    await p.drain();
    p.close();
    await this.recorders.get(name)?.stop();
    this.recorders.delete(name);
  }

  /** A recording camera's clips; null when it does not record. */
  recorder(camera: string): ClipRecorder | null {
    return this.recorders.get(camera) ?? null;
  }

  private build(cfg: Config, name: string, cam: CameraConfig, info: ModelInfo | null): CameraPipeline | null {
    const { detectors, classifiers, persistence, sink, notify, onStatus, log } = this.deps;
    if (!info) {
      const reason = `model ${cam.detect.model} failed to load: ${detectors.failure(cam.detect.model)}`;
      onStatus({ camera: name, state: "offline", reason, since: Date.now(), restarts: 0 });
      return null;
    }
    const { width, height } = detectSize(cam, info);
    const opts = maintainerOptions(cfg, name, cam, width, height, persistence.signAssets);
    persistence.snapshots.setScene(name, { zones: opts.analytics.zones, lines: opts.analytics.lines });
    const recorder = cam.record.enabled ? this.startRecorder(cfg, name, cam) : null;
    const events = new EventMaintainer(opts, persistence.snapshots, recorder ? recordingSink(sink, recorder) : sink, notify, log);
    this.declareLineMetrics(name, cam);
    const source = cameraOptions(cam, width, height, scaledFor(info, width, height), this.deps.exitOnEof === true);
    const position = positionSourceFor(name, cam, log);
    return new CameraPipeline({ name, cfg: cam, source, detectors, classifiers, events, position, onStatus, log, metrics: this.deps.metrics });
  }

  /** The camera's recorder, started: its clips are announced as updates of their ended events. */
  private startRecorder(cfg: Config, name: string, cam: CameraConfig): ClipRecorder {
    const { sink, notify, log } = this.deps;
    const recorder = new ClipRecorder({
      camera: name,
      // The main stream, not the detector's substream: the clip is what an operator looks at.
      source: cam.source,
      loop: cam.loop,
      realtime: cam.realtime,
      rtspTransport: cam.rtsp_transport,
      timeoutSeconds: cam.stall_seconds,
      record: cam.record,
      dir: cfg.storage.clips,
      onClip: (ev, clip) => {
        sink.recordEvent("update", { ...ev, clip });
        notify();
      },
      log,
    });
    this.recorders.set(name, recorder);
    void recorder.start().catch((err: Error) => log.error({ camera: name, err: err.message }, "recording could not start"));
    return recorder;
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

/**
 * A recording camera's events carry `clip: null` until their clip is written, and each change reaches the
 * recorder after it is stored: an open event keeps its pre-roll, an ended one has its clip cut.
 */
function recordingSink(sink: EventSink, recorder: ClipRecorder): EventSink {
  return {
    ...sink,
    recordEvent: (change, ev) => {
      const e = ev.clip === undefined ? { ...ev, clip: null } : ev;
      sink.recordEvent(change, e);
      recorder.observe(change, e);
    },
  };
}

/** What a running camera's frames would change with this model: its detect size, ffmpeg's scaled picture, or nothing. */
function pictureChange(p: CameraPipeline, cam: CameraConfig, info: ModelInfo): "size" | "scaled" | null {
  const size = detectSize(cam, info);
  if (size.width !== p.width || size.height !== p.height) return "size";
  return JSON.stringify(scaledFor(info, size.width, size.height)) !== JSON.stringify(p.scaled) ? "scaled" : null;
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

/**
 * YUV when ffmpeg scales the detector's picture beside the frame and nothing crops the frame at every analysed
 * frame: ffmpeg then converts no colours, writes half the bytes, and motion and brightness read the Y plane;
 * RGB is made from it only for a snapshot, the live view or a crop. Crop classifiers and tiles read RGB at every
 * frame, so those cameras get it from ffmpeg. yuv420p needs even sizes.
 */
export function pixelFormatOf(cam: CameraConfig, width: number, height: number, scaled: { width: number; height: number } | undefined): PixelFormat {
  const even = (n: number) => n % 2 === 0;
  if (!scaled || cam.classify.length || cam.detect.tiles) return "rgb24";
  return [width, height, scaled.width, scaled.height].every(even) ? "yuv420p" : "rgb24";
}

/** How the camera's ffmpeg runs: a batch run's file that plays once is dated by its own creation_time. */
function cameraOptions(
  cam: CameraConfig,
  width: number,
  height: number,
  scaled: { width: number; height: number } | undefined,
  fileTime: boolean,
): Omit<CameraOptions, "name"> {
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
    skipFrame: skipFrameOf(cam),
    scaled,
    pixelFormat: pixelFormatOf(cam, width, height, scaled),
    stallSeconds: cam.stall_seconds,
    fileTime,
    hwaccel: cam.hwaccel,
  };
}

function detectSize(cam: CameraConfig, info: ModelInfo): { width: number; height: number } {
  return { width: cam.detect.width ?? info.inputWidth, height: cam.detect.height ?? info.inputHeight };
}

/** What a camera's events stage is built from: event rules and analytics (at the camera's detect size). */
function maintainerOptions(cfg: Config, name: string, cam: CameraConfig, width: number, height: number, assets: SignAssetBook): MaintainerOptions {
  const analytics = analyticsOptions(name, cam, width, height, newEventId);
  // located sightings go into the device's sign inventory
  if (analytics.signs) analytics.signs.assets.book = assets;
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
    analytics,
    camera: cam,
  };
}
