import type { Logger } from "pino";
import type { ClassifierInfo } from "../classify/classifier-info.js";
import { Classifier, type ClassifyResult } from "../classify/classifier.js";
import type { ClassifierSource, FrameImage } from "../classify/classify-stage.js";
import type { ConfigProblem, LoadedConfig } from "../config/load.js";
import { locate } from "../config/load.js";
import type { Config } from "../config/schema.js";
import type { Box } from "../core/geometry.js";
import { ReloadError, type PreparedChange } from "./part.js";

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
export class ClassifierPool implements ClassifierSource {
  private readonly classifiers = new Map<string, { classifier: Classifier; opened: string }>();
  readonly failures = new Map<string, string>();
  private readonly inflight = new Map<Classifier, Set<Promise<unknown>>>();
  private readonly retiring = new Set<Promise<void>>();

  constructor(private readonly log: Logger) {}

  async start(cfg: Config): Promise<void> {
    await Promise.all(
      [...wanted(cfg)].map(async ([name, opened]) => {
        try {
          this.classifiers.set(name, { classifier: await this.open(cfg, name), opened });
        } catch (err) {
          this.failures.set(`models.${name}.path`, (err as Error).message);
          this.log.error({ model: name, err: (err as Error).message }, "classifier failed to load; its cameras keep the detector's labels");
        }
      }),
    );
  }

  info(model: string): ClassifierInfo | null {
    return this.classifiers.get(model)?.classifier.info ?? null;
  }

  classify(model: string, frame: FrameImage, regions: readonly Box[]): Promise<ClassifyResult> {
    const c = this.classifiers.get(model)?.classifier;
    if (!c) return Promise.reject(new Error(`classifier ${model} is not loaded: ${this.failures.get(`models.${model}.path`) ?? "not named by any enabled camera"}`));
    const running = c.classify(frame, regions);
    let set = this.inflight.get(c);
    if (!set) this.inflight.set(c, (set = new Set()));
    set.add(running);
    const done = () => set.delete(running);
    running.then(done, done);
    return running;
  }

  providers(): Record<string, string> {
    return Object.fromEntries([...this.classifiers].map(([n, c]) => [n, c.classifier.provider]));
  }

  /** Opens the classifiers the next config needs that do not run as it wants; refuses the reload if one fails. */
  async prepare(next: LoadedConfig): Promise<PreparedChange> {
    const want = wanted(next.config);
    const load = [...want].filter(([name, opened]) => this.classifiers.get(name)?.opened !== opened);
    const close = [...this.classifiers.keys()].filter((name) => !want.has(name));
    if (load.length === 0 && close.length === 0) return { commit: async () => {}, abort: async () => {} };
    const ready = new Map<string, { classifier: Classifier; opened: string }>();
    const problems: ConfigProblem[] = [];
    await Promise.all(
      load.map(async ([name, opened]) => {
        try {
          ready.set(name, { classifier: await this.open(next.config, name), opened });
        } catch (err) {
          const keys = ["models", name, "path"];
          problems.push({ file: next.file, ...locate(next.text, keys), path: keys.join("."), message: `classifier does not load: ${(err as Error).message}` });
        }
      }),
    );
    const abort = async () => void (await Promise.all([...ready.values()].map((c) => c.classifier.close())));
    if (problems.length) {
      await abort();
      throw new ReloadError(problems);
    }
    return {
      abort,
      commit: async () => {
        for (const [name, c] of ready) {
          const old = this.classifiers.get(name);
          this.classifiers.set(name, c);
          this.failures.delete(`models.${name}.path`);
          if (old) this.retire(old.classifier);
        }
        for (const name of close) {
          const old = this.classifiers.get(name);
          this.classifiers.delete(name);
          if (old) this.retire(old.classifier);
        }
      },
    };
  }

  async retired(): Promise<void> {
    await Promise.all([...this.retiring]);
  }

  async stop(): Promise<void> {
    const all = [...this.classifiers.values()];
    this.classifiers.clear();
    await Promise.all(all.map((c) => c.classifier.close()));
    await this.retired();
  }

  /** A swapped-out classifier closes once the frames it still holds are answered. */
  private retire(c: Classifier): void {
    const closing = Promise.allSettled([...(this.inflight.get(c) ?? [])])
      .then(() => c.close())
      .finally(() => {
        this.inflight.delete(c);
        this.retiring.delete(closing);
      });
    this.retiring.add(closing);
  }

  private open(cfg: Config, name: string): Promise<Classifier> {
    // One session per classifier model, with detector.threads' intra-op threads (auto: 1, as for detectors).
    const threads = cfg.detector.threads === "auto" ? 1 : cfg.detector.threads;
    return Classifier.open({ name, path: cfg.models[name]!.path, providers: cfg.detector.providers, threads, gpu: cfg.detector, logger: this.log });
  }
}
