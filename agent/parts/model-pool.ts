import type { Logger } from "pino";
import { locate, type ConfigProblem, type LoadedConfig } from "../config/load.js";
import type { Config } from "../config/schema.js";
import { ReloadError, type PreparedChange } from "./part.js";

/** What the pool needs of a loaded model (a Detector, a Classifier). */
export interface PooledModel {
  readonly provider: string;
  close(): Promise<void>;
}

export interface ModelPoolOptions<M> {
  /** opens the model `models.<name>` of a config; rejects with why it does not load */
  open(cfg: Config, name: string): Promise<M>;
  /** "model", "classifier": how errors and the log name what did not load */
  noun: string;
  /** what the log adds when one fails at start: what its cameras do without it */
  withoutIt: string;
  log: Logger;
}

/** A model swap made ready by `prepare`: the opened models, not in use until the commit. */
export interface PreparedModels<M> extends PreparedChange {
  readonly opened: ReadonlyMap<string, M>;
}

/**
 * The models the cameras share, by their key under `models`: opened at start (the cameras may run while they
 * load), swapped by a reload (the new one loads while the old one keeps serving), and retired once the frames
 * an old one holds are answered. The detector and classifier pools are this pool plus what they run.
 */
export class ModelPool<M extends PooledModel> {
  private readonly models = new Map<string, { model: M; key: string }>();
  private readonly loading = new Map<string, Promise<void>>();
  /** `models.<name>.path` → why it did not load */
  readonly failures = new Map<string, string>();
  private readonly inflight = new Map<M, Set<Promise<unknown>>>();
  private readonly retiring = new Set<Promise<void>>();

  constructor(private readonly o: ModelPoolOptions<M>) {}

  get(name: string): M | undefined {
    return this.models.get(name)?.model;
  }

  /** what the running model was opened with (see `begin`); undefined when none runs */
  keyOf(name: string): string | undefined {
    return this.models.get(name)?.key;
  }

  names(): string[] {
    return [...this.models.keys()];
  }

  isLoading(name: string): boolean {
    return this.loading.has(name);
  }

  failure(name: string): string | undefined {
    return this.failures.get(`models.${name}.path`);
  }

  /** A model that could not be used at start: recorded for /healthz and logged; its cameras run without it. */
  fail(name: string, err: Error): void {
    this.failures.set(`models.${name}.path`, err.message);
    this.o.log.error({ model: name, err: err.message }, `${this.o.noun} failed to load; ${this.o.withoutIt}`);
  }

  /**
   * Opens a model at start in the background; resolves once it is in use or has failed (never rejects).
   * `key` is what it was opened with, for a reload to tell whether it changed.
   */
  begin(cfg: Config, name: string, key = ""): Promise<void> {
    const ready = this.o.open(cfg, name).then(
      (model) => void this.models.set(name, { model, key }),
      (err: Error) => this.fail(name, err),
    );
    const settled = ready.finally(() => this.loading.delete(name));
    this.loading.set(name, settled);
    return settled;
  }

  /** While a model loads at start: resolves once it is in use or has failed. */
  whenLoaded(name: string): Promise<void> | undefined {
    return this.loading.get(name);
  }

  /** Counts a request on a model until it is answered, so a swapped-out one closes when its last one is. */
  track<T>(model: M, running: Promise<T>): Promise<T> {
    let set = this.inflight.get(model);
    if (!set) this.inflight.set(model, (set = new Set()));
    set.add(running);
    const done = () => set.delete(running);
    running.then(done, done);
    return running;
  }

  providers(): Record<string, string> {
    return Object.fromEntries([...this.models].map(([n, m]) => [n, m.model.provider]));
  }

  /**
   * Opens `load` (name → key) for the next config; fails with every model that does not load, each located
   * in the config file, and closes what it did open. Nothing running changes before the commit, which swaps
   * the loaded ones in and retires them and the `close` ones.
   */
  async prepare(next: LoadedConfig, load: ReadonlyMap<string, string>, close: readonly string[]): Promise<PreparedModels<M>> {
    const opened = new Map<string, { model: M; key: string }>();
    const problems: ConfigProblem[] = [];
    await Promise.all(
      [...load].map(async ([name, key]) => {
        try {
          opened.set(name, { model: await this.o.open(next.config, name), key });
        } catch (err) {
          const keys = ["models", name, "path"];
          problems.push({
            file: next.file,
            ...locate(next.text, keys),
            path: keys.join("."),
            message: `${this.o.noun} does not load: ${(err as Error).message}`,
          });
        }
      }),
    );
    const abort = async () => void (await Promise.all([...opened.values()].map((m) => m.model.close())));
    if (problems.length) {
      await abort();
      throw new ReloadError(problems);
    }
    return {
      opened: new Map([...opened].map(([n, m]) => [n, m.model])),
      abort,
      commit: async () => {
        for (const [name, m] of opened) {
          const old = this.models.get(name);
          this.models.set(name, m);
          this.failures.delete(`models.${name}.path`);
          if (old) this.retire(old.model);
        }
        for (const name of close) {
          const old = this.models.get(name);
          this.models.delete(name);
          if (old) this.retire(old.model);
        }
      },
    };
  }

  /** Resolves once every model swapped out so far is closed. */
  async retired(): Promise<void> {
    await Promise.all([...this.retiring]);
  }

  /** Closes every model, those still loading at start once they have loaded. */
  async stop(): Promise<void> {
    await Promise.all([...this.loading.values()]);
    const all = [...this.models.values()];
    this.models.clear();
    await Promise.all(all.map((m) => m.model.close()));
    await this.retired();
  }

  /** Why the pool makes the agent unhealthy: the models that did not load. */
  healthReasons(): string[] {
    return [...this.failures].map(([m, err]) => `model ${m}: ${err}`);
  }

  private retire(m: M): void {
    const closing = Promise.allSettled([...(this.inflight.get(m) ?? [])])
      .then(() => m.close())
      .finally(() => {
        this.inflight.delete(m);
        this.retiring.delete(closing);
      });
    this.retiring.add(closing);
  }
}
