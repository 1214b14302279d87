import type { ReloadPlan } from "../config/diff.js";
import type { ConfigProblem, LoadedConfig } from "../config/load.js";
import type { Config } from "../config/schema.js";

// What every part of the running agent (camera pipelines, detector pool, persistence, uplink) offers a reload:
// prepare the next config without touching what runs, then either commit it or abort it. A reload prepares
// every part it touches first; only when all of them are ready does anything running change, so a rejected
// edit leaves the agent exactly as it was.

/** A part's next config, made ready: opened, validated, loaded, but not running yet. */
export interface PreparedChange {
  /**
   * Stops what the new config drops (cameras going away, a publisher to be replaced) before any part commits,
   * so their last writes land where they began. Cannot fail.
   */
  release?(): Promise<void>;
  /** Puts the prepared config in place. Cannot fail: a fault after this point is logged, not thrown. */
  commit(): Promise<void>;
  /** Closes what prepare opened. Touches nothing that runs. */
  abort(): Promise<void>;
}

/**
 * A part of the running agent as the controller drives it. The controller keeps its parts in one list in
 * dependency order (a part before the parts that use it): it starts them in that order, stops them in the
 * reverse order, prepares them all for a reload at once and commits them in order (see commitAll).
 */
export interface Part {
  /** Starts from the config; resolves once the parts after it may use it (a model may still be loading). */
  start(cfg: Config): void | Promise<void>;
  /** At start, once every part has started, in order: resolves when what start left loading is ready or failed. */
  loaded?(cfg: Config): Promise<void>;
  /** Makes the next config ready without touching what runs; rejects (a ReloadError) when it cannot be applied. */
  prepare(next: LoadedConfig, plan: ReloadPlan): Promise<PreparedChange>;
  /** After a reload has committed: resolves once what it replaced (an old model) is closed. */
  retired?(): Promise<void>;
  /** `flushTimeoutMs`: how long the part may take to hand on what it holds (the outbox to the broker). */
  stop(flushTimeoutMs: number): Promise<void>;
  /** Why the part makes the agent unhealthy; none while it is well. */
  healthReasons?(): string[];
}

/** Nothing to change for this part. */
export const unchanged: PreparedChange = { commit: async () => {}, abort: async () => {} };

/** A reload that cannot be applied (a model that does not load, a bad URL): the running config stays. */
export class ReloadError extends Error {
  readonly code = "EVA_RELOAD";
  constructor(readonly problems: ConfigProblem[]) {
    super(problems.map((p) => `${p.path}: ${p.message}`).join("; "));
  }
}

/**
 * Prepares every part concurrently. When one fails, every part that did prepare is aborted and a ReloadError
 * lists all the problems found (not only the first).
 */
export async function prepareAll(steps: ReadonlyArray<() => Promise<PreparedChange>>): Promise<PreparedChange[]> {
  const results = await Promise.allSettled(steps.map((s) => s()));
  const problems: ConfigProblem[] = [];
  for (const r of results) {
    if (r.status === "fulfilled") continue;
    if (r.reason instanceof ReloadError) problems.push(...r.reason.problems);
    else problems.push({ file: "", line: 1, col: 1, path: "", message: (r.reason as Error)?.message ?? String(r.reason) });
  }
  const ready = results.flatMap((r) => (r.status === "fulfilled" ? [r.value] : []));
  if (problems.length) {
    await Promise.all(ready.map((c) => c.abort()));
    throw new ReloadError(problems);
  }
  return ready;
}

/**
 * Applies prepared changes given in dependency order (a part before the parts that use it): releases run from
 * the last to the first, so users stop before what they use; commits run from the first to the last, so what
 * a part uses is in place before it starts.
 */
export async function commitAll(changes: readonly PreparedChange[]): Promise<void> {
  for (const c of [...changes].reverse()) await c.release?.();
  for (const c of changes) await c.commit();
}
