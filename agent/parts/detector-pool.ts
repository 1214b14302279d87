import type { Logger } from "pino";
import type { LoadedConfig } from "../config/load.js";
import type { ReloadPlan } from "../config/diff.js";
import type { Config } from "../config/schema.js";
import { Detector, type DetectFilter, type DetectInput, type DetectResult, type ModelInfo } from "../detect/detector.js";
import { detectorSizing } from "../detect/detector-sizing.js";
import { describeModelFile } from "../detect/model-file.js";
import type { DetectorSource } from "../pipeline/camera-pipeline.js";
import { ModelPool } from "./model-pool.js";
import type { Part, PreparedChange } from "./part.js";

/** The input facts of the model a camera will use after a reload commits; null when it is not loaded. */
export type InfoAfter = (model: string) => ModelInfo | null;

/**
 * One detector per model used by an enabled camera, shared by its cameras: opened at start, swapped by a
 * reload (the new one loads while the old one keeps serving), retired once the frames it holds are answered.
 */
export class DetectorPool implements Part, DetectorSource {
  private readonly pool: ModelPool<Detector>;
  /** input facts read from the files of the models still loading at start */
  private readonly described = new Map<string, ModelInfo>();
  private loads: Promise<unknown> = Promise.resolve();
  /** the reload being prepared, until it commits or aborts: the cameras' part reads what will run from it */
  private preparing: Promise<InfoAfter | null> | null = null;

  constructor(log: Logger, openDetector: typeof Detector.open = (o) => Detector.open(o)) {
    this.pool = new ModelPool({ noun: "model", withoutIt: "its cameras stay off", log, open: (cfg, name) => openDetector(openOptions(cfg, name, log)) });
  }

  get failures(): ReadonlyMap<string, string> {
    return this.pool.failures;
  }

  /**
   * Opens the models of the enabled cameras. Resolves once each file's input facts are read (`info` answers
   * from then on, so cameras can start); `loaded` resolves once every session is ready or has failed. One that
   * fails is recorded and logged, the others run.
   */
  async start(cfg: Config): Promise<void> {
    const loads: Promise<void>[] = [];
    await Promise.all(
      [...usedModels(cfg)].map(async (name) => {
        try {
          this.described.set(name, await describeModelFile(cfg.models[name]!));
        } catch (err) {
          this.pool.fail(name, err as Error);
          return;
        }
        loads.push(this.pool.begin(cfg, name).finally(() => this.described.delete(name)));
      }),
    );
    this.loads = Promise.all(loads);
  }

  async loaded(): Promise<void> {
    await this.loads;
  }

  has(model: string): boolean {
    return this.pool.get(model) !== undefined;
  }

  /** Whether the model's session is still loading (start only: a reload loads before it commits). */
  isLoading(model: string): boolean {
    return this.pool.isLoading(model);
  }

  info(model: string): ModelInfo | null {
    return this.pool.get(model)?.info ?? this.described.get(model) ?? null;
  }

  /** Why a model is not loaded, for a camera that cannot run. */
  failure(model: string): string {
    return this.pool.failure(model) ?? "unknown error";
  }

  /** Runs a frame through the model's current detector; the pool keeps count so a swapped one closes when idle. */
  detect(model: string, frame: DetectInput, filter: DetectFilter): Promise<DetectResult> {
    const d = this.pool.get(model);
    // A file read frame by frame waits for its model; live cameras do not send frames until it is ready.
    const loading = d ? undefined : this.pool.whenLoaded(model);
    if (loading) return loading.then(() => this.detect(model, frame, filter));
    if (!d) return Promise.reject(new Error(`model ${model} is not loaded${this.pool.failure(model) !== undefined ? `: ${this.failure(model)}` : ""}`));
    return this.pool.track(d, d.detect(frame, filter));
  }

  providers(): Record<string, string> {
    return this.pool.providers();
  }

  /**
   * Loads the models the next config needs that are not running as it wants: changed ones, and any an enabled
   * camera needs that failed before. Fails with every model that does not load; nothing running changes.
   */
  prepare(next: LoadedConfig, plan: ReloadPlan): Promise<PreparedChange> {
    const load = new Set(plan.models.load);
    for (const c of Object.values(next.config.cameras)) if (c.enabled && !this.has(c.detect.model)) load.add(c.detect.model);
    const ready = this.pool.prepare(next, new Map([...load].map((m) => [m, ""])), plan.models.close);
    this.preparing = ready.then(
      (p) => (model: string) => p.opened.get(model)?.info ?? (plan.models.close.includes(model) ? null : this.info(model)),
      () => null,
    );
    const settled = () => void (this.preparing = null);
    return ready.then((p) => ({ commit: () => p.commit().finally(settled), abort: () => p.abort().finally(settled) }));
  }

  /**
   * While a reload is prepared: which model input each camera will have once it commits (the cameras' part
   * restarts a camera whose frame size changes). Null when no reload is being prepared or its models failed.
   */
  infoAfterReload(): Promise<InfoAfter | null> {
    return this.preparing ?? Promise.resolve(null);
  }

  retired(): Promise<void> {
    return this.pool.retired();
  }

  stop(): Promise<void> {
    return this.pool.stop();
  }

  healthReasons(): string[] {
    return this.pool.healthReasons();
  }
}

function usedModels(cfg: Config): Set<string> {
  return new Set(
    Object.values(cfg.cameras)
      .filter((c) => c.enabled)
      .map((c) => c.detect.model),
  );
}

function openOptions(cfg: Config, name: string, logger: Logger): Parameters<typeof Detector.open>[0] {
  const { workers, threads } = detectorSizing(cfg.detector, usedModels(cfg).size);
  return { name, model: cfg.models[name]!, providers: cfg.detector.providers, threads, workers, gpu: cfg.detector, logger };
}
