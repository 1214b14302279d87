import type { Logger } from "pino";
import type { ConfigProblem, LoadedConfig } from "../config/load.js";
import { locate } from "../config/load.js";
import type { ReloadPlan } from "../config/diff.js";
import type { Config } from "../config/schema.js";
import { Detector, type DetectFilter, type DetectInput, type DetectResult, type ModelInfo } from "../detect/detector.js";
import { detectorSizing } from "../detect/detector-sizing.js";
import { describeModelFile } from "../detect/model-file.js";
import { ReloadError, type PreparedChange } from "./part.js";

/** The detector pool's prepared change: the models it will run once committed. */
export interface PreparedDetectors extends PreparedChange {
  /** input facts of the model a camera will use after the commit; null when it is not loaded */
  infoAfter(model: string): ModelInfo | null;
}

/**
 * One detector per model used by an enabled camera, shared by its cameras: opened at start, swapped by a
 * reload (the new one loads while the old one keeps serving), retired once the frames it holds are answered.
 */
export class DetectorPool {
  private readonly detectors = new Map<string, Detector>();
  /** models whose sessions are still loading at start, with the input facts read from their files */
  private readonly loading = new Map<string, { info: ModelInfo; ready: Promise<void> }>();
  /** `models.<name>.path` → why it did not load at start (its cameras stay off) */
  readonly failures = new Map<string, string>();
  private readonly inflight = new Map<Detector, Set<Promise<unknown>>>();
  private readonly retiring = new Set<Promise<void>>();

  constructor(
    private readonly log: Logger,
    private readonly openDetector: typeof Detector.open = (o) => Detector.open(o),
  ) {}

  /**
   * Opens the models of the enabled cameras. Resolves once each file's input facts are read (`info` answers
   * from then on, so cameras can start); `loaded` resolves once every session is ready or has failed. One that
   * fails is recorded and logged, the others run.
   */
  async start(cfg: Config): Promise<{ loaded: Promise<void> }> {
    const used = new Set(Object.values(cfg.cameras).filter((c) => c.enabled).map((c) => c.detect.model));
    const fail = (name: string, err: Error) => {
      this.failures.set(`models.${name}.path`, err.message);
      this.log.error({ model: name, err: err.message }, "model failed to load; its cameras stay off");
    };
    const loads: Promise<void>[] = [];
    await Promise.all(
      [...used].map(async (name) => {
        let info: ModelInfo;
        try {
          info = await describeModelFile(cfg.models[name]!);
        } catch (err) {
          fail(name, err as Error);
          return;
        }
        const ready = this.open(cfg, name).then(
          (d) => void this.detectors.set(name, d),
          (err: Error) => fail(name, err),
        );
        const entry = { info, ready: ready.finally(() => this.loading.delete(name)) };
        this.loading.set(name, entry);
        loads.push(entry.ready);
      }),
    );
    return { loaded: Promise.all(loads).then(() => {}) };
  }

  has(model: string): boolean {
    return this.detectors.has(model);
  }

  /** Whether the model's session is still loading (start only: a reload loads before it commits). */
  isLoading(model: string): boolean {
    return this.loading.has(model);
  }

  info(model: string): ModelInfo | null {
    return this.detectors.get(model)?.info ?? this.loading.get(model)?.info ?? null;
  }

  /** Why a model is not loaded, for a camera that cannot run. */
  failure(model: string): string {
    return this.failures.get(`models.${model}.path`) ?? "unknown error";
  }

  /** Runs a frame through the model's current detector; the pool keeps count so a swapped one closes when idle. */
  detect(model: string, frame: DetectInput, filter: DetectFilter): Promise<DetectResult> {
    const d = this.detectors.get(model);
    // A file read frame by frame waits for its model; live cameras do not send frames until it is ready.
    const loading = this.loading.get(model);
    if (!d && loading) return loading.ready.then(() => this.detect(model, frame, filter));
    if (!d) return Promise.reject(new Error(`model ${model} is not loaded${this.failures.has(`models.${model}.path`) ? `: ${this.failure(model)}` : ""}`));
    const running = d.detect(frame, filter);
    let set = this.inflight.get(d);
    if (!set) this.inflight.set(d, (set = new Set()));
    set.add(running);
    const done = () => set.delete(running);
    running.then(done, done);
    return running;
  }

  providers(): Record<string, string> {
    return Object.fromEntries([...this.detectors].map(([n, d]) => [n, d.provider]));
  }

  /**
   * Loads the models the next config needs that are not running as it wants: changed ones, and any an enabled
   * camera needs that failed before. Fails with every model that does not load; nothing running changes.
   */
  async prepare(next: LoadedConfig, plan: ReloadPlan): Promise<PreparedDetectors> {
    const cfg = next.config;
    const load = new Set(plan.models.load);
    for (const c of Object.values(cfg.cameras)) if (c.enabled && !this.detectors.has(c.detect.model)) load.add(c.detect.model);
    const opened = new Map<string, Detector>();
    const problems: ConfigProblem[] = [];
    await Promise.all(
      [...load].map(async (name) => {
        try {
          opened.set(name, await this.open(cfg, name));
        } catch (err) {
          const keys = ["models", name, "path"];
          problems.push({ file: next.file, ...locate(next.text, keys), path: keys.join("."), message: `model does not load: ${(err as Error).message}` });
        }
      }),
    );
    const abort = async () => void (await Promise.all([...opened.values()].map((d) => d.close())));
    if (problems.length) {
      await abort();
      throw new ReloadError(problems);
    }
    return {
      infoAfter: (model) => opened.get(model)?.info ?? (plan.models.close.includes(model) ? null : this.info(model)),
      abort,
      commit: async () => {
        for (const [model, d] of opened) {
          const old = this.detectors.get(model);
          this.detectors.set(model, d);
          this.failures.delete(`models.${model}.path`);
          if (old) this.retire(old);
        }
        for (const model of plan.models.close) {
          const old = this.detectors.get(model);
          this.detectors.delete(model);
          if (old) this.retire(old);
        }
      },
    };
  }

  /** Resolves once every detector swapped out so far is closed. */
  async retired(): Promise<void> {
    await Promise.all([...this.retiring]);
  }

  async stop(): Promise<void> {
    await Promise.all([...this.loading.values()].map((l) => l.ready)); // a session still loading closes too
    const all = [...this.detectors.values()];
    this.detectors.clear();
    await Promise.all(all.map((d) => d.close()));
    await this.retired();
  }

  /** An old detector closes once the frames it still holds are answered. */
  private retire(d: Detector): void {
    const closing = Promise.allSettled([...(this.inflight.get(d) ?? [])])
      .then(() => d.close())
      .finally(() => {
        this.inflight.delete(d);
        this.retiring.delete(closing);
      });
    this.retiring.add(closing);
  }

  private open(cfg: Config, name: string): Promise<Detector> {
    const models = new Set(Object.values(cfg.cameras).filter((c) => c.enabled).map((c) => c.detect.model)).size;
    const { workers, threads } = detectorSizing(cfg.detector, models);
    return this.openDetector({ name, model: cfg.models[name]!, providers: cfg.detector.providers, threads, workers, gpu: cfg.detector, logger: this.log });
  }
}
