import type { Logger } from "pino";
import type { ClassifierInfo } from "../classify/classifier-info.js";
import { Classifier, type ClassifyResult } from "../classify/classifier.js";
import type { ClassifierSource, FrameImage } from "../classify/classify-stage.js";
import type { LoadedConfig } from "../config/load.js";
import type { Config } from "../config/schema.js";
import type { Box } from "../core/geometry.js";
import { ModelPool } from "./model-pool.js";
import { unchanged, type Part, type PreparedChange } from "./part.js";

/** The classifiers the enabled cameras' `classify` rules name, and the settings each was opened with. */
function wanted(cfg: Config): Map<string, string> {
  const out = new Map<string, string>();
  for (const cam of Object.values(cfg.cameras)) {
    if (!cam.enabled) continue;
    for (const rule of cam.classify) {
      const model = cfg.models[rule.model];
      if (model) out.set(rule.model, JSON.stringify({ path: model.path, detector: cfg.detector }));
    }
  }
  return out;
}

/**
 * One crop classifier per model named by an enabled camera's `classify` rules, shared by those cameras: the
 * classify stage's counterpart of the detector pool. A classifier that does not load at start is logged and its
 * rules fail per frame (the camera keeps the detector's labels and reports it); a reload that names one that
 * does not load is refused, and the running ones stay.
 */
export class ClassifierPool implements Part, ClassifierSource {
  private readonly pool: ModelPool<Classifier>;

  constructor(log: Logger) {
    this.pool = new ModelPool({ noun: "classifier", withoutIt: "its cameras keep the detector's labels", log, open: (cfg, name) => open(cfg, name, log) });
  }

  get failures(): ReadonlyMap<string, string> {
    return this.pool.failures;
  }

  async start(cfg: Config): Promise<void> {
    await Promise.all([...wanted(cfg)].map(([name, opened]) => this.pool.begin(cfg, name, opened)));
  }

  info(model: string): ClassifierInfo | null {
    return this.pool.get(model)?.info ?? null;
  }

  classify(model: string, frame: FrameImage, regions: readonly Box[]): Promise<ClassifyResult> {
    const c = this.pool.get(model);
    if (!c) return Promise.reject(new Error(`classifier ${model} is not loaded: ${this.pool.failure(model) ?? "not named by any enabled camera"}`));
    return this.pool.track(c, c.classify(frame, regions));
  }

  providers(): Record<string, string> {
    return this.pool.providers();
  }

  /** Opens the classifiers the next config needs that do not run as it wants; refuses the reload if one fails. */
  async prepare(next: LoadedConfig): Promise<PreparedChange> {
    const want = wanted(next.config);
    const load = new Map([...want].filter(([name, opened]) => this.pool.keyOf(name) !== opened));
    const close = this.pool.names().filter((name) => !want.has(name));
    if (load.size === 0 && close.length === 0) return unchanged;
    return this.pool.prepare(next, load, close);
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

function open(cfg: Config, name: string, logger: Logger): Promise<Classifier> {
  // One session per classifier model, with detector.threads' intra-op threads (auto: 1, as for detectors).
  const threads = cfg.detector.threads === "auto" ? 1 : cfg.detector.threads;
  return Classifier.open({ name, path: cfg.models[name]!.path, providers: cfg.detector.providers, threads, gpu: cfg.detector, logger });
}
