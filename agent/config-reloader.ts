import { createHash } from "node:crypto";
import { readFile, stat } from "node:fs/promises";
import type { Logger } from "pino";
import { checkConfigText } from "./check/config-check.js";
import type { ConfigProblem, LoadedConfig } from "./config/load.js";
import { watchConfigFile, type ConfigWatcher } from "./config/watch.js";
import { ReloadError, type CameraFigures } from "./controller.js";

/** What every reload publishes on `<prefix>/<device>/config` and logs. */
export type ReloadReport = { result: "applied"; hash: string; changed: string[] } | { result: "rejected"; hash: string | null; errors: ConfigProblem[] };

/** What asked for a reload, as logged: a signal, the control room's `reload` command over MQTT, or a save in the web console. */
export type ReloadTrigger = "SIGHUP" | "MQTT reload command" | "web console";

/** The part of the Agent a reload drives. */
export interface ReloadTarget {
  reload(next: LoadedConfig): Promise<string[]>;
  publish(topic: string, payload: unknown): void;
  figures(): Record<string, CameraFigures>;
}

export interface ConfigReloaderOptions {
  /** the text the agent runs now */
  runningText: string;
  debounceMs?: number;
  env?: NodeJS.ProcessEnv;
}

// Editors that save by rename leave the file missing for a moment: a missing file is looked at again once
// before the edit counts as "file not found".
const MISSING_RETRY_MS = 400;

export const hashText = (text: string) => createHash("sha256").update(text).digest("hex");

/**
 * Live config: on a change of the file (or a SIGHUP) it validates the new text as `eva check-config` does, has
 * the agent apply what changed, and reports the outcome. Reloads run one at a time; a rejected edit leaves
 * the running config untouched, and never throws.
 */
export class ConfigReloader {
  private chain: Promise<unknown> = Promise.resolve();
  private watchQueued = false;
  private watcher: ConfigWatcher | null = null;
  private runningHash: string;
  /** hash of the last text looked at, applied or not (or why it could not be read): a save that changes nothing is not reported again */
  private seenHash: string;
  private closed = false;

  constructor(
    private readonly file: string,
    private readonly target: ReloadTarget,
    private readonly log: Logger,
    private readonly opts: ConfigReloaderOptions,
  ) {
    this.runningHash = this.seenHash = hashText(opts.runningText);
  }

  /** Starts watching the file. */
  watch(): this {
    this.watcher = watchConfigFile(this.file, () => void this.onFileChange(), {
      debounceMs: this.opts.debounceMs,
      onError: (err) => this.log.warn({ file: this.file, err: err.message }, "config watch failed; SIGHUP still reloads"),
    });
    // An edit saved while the agent was starting (before the watch existed) is picked up now.
    void this.onFileChange();
    return this;
  }

  private onFileChange(): Promise<ReloadReport | null> | undefined {
    if (this.watchQueued) return;
    this.watchQueued = true;
    return this.enqueue(() => {
      this.watchQueued = false;
      return this.reloadOnce("file changed");
    });
  }

  /** Reloads now (SIGHUP, or the control room's reload command); resolves with the report, null when closed. */
  trigger(trigger: ReloadTrigger = "SIGHUP"): Promise<ReloadReport | null> {
    return this.enqueue(() => this.reloadOnce(trigger));
  }

  /** Stops watching; waits for a reload in progress. */
  async close(): Promise<void> {
    this.closed = true;
    this.watcher?.close();
    await this.chain.catch(() => {});
  }

  private enqueue(job: () => Promise<ReloadReport | null>): Promise<ReloadReport | null> {
    const run = this.chain.then(() => (this.closed ? null : job()));
    this.chain = run.catch(() => {});
    return run;
  }

  private async reloadOnce(trigger: ReloadTrigger | "file changed"): Promise<ReloadReport | null> {
    const text = await this.readText();
    if (typeof text !== "string") {
      const seen = `unreadable: ${text.error}`;
      if (trigger === "file changed" && seen === this.seenHash) return null;
      this.seenHash = seen;
      return this.report(trigger, { result: "rejected", hash: null, errors: [{ file: this.file, line: 1, col: 1, path: "", message: text.error }] });
    }
    const hash = hashText(text);
    if (trigger === "file changed" && hash === this.seenHash) return null;
    this.seenHash = hash;
    if (hash === this.runningHash) return this.report(trigger, { result: "applied", hash, changed: [] });

    let report: ReloadReport;
    try {
      const { loaded, problems } = await checkConfigText(text, this.file, this.opts.env);
      if (!loaded) report = { result: "rejected", hash, errors: problems };
      else {
        const changed = await this.target.reload(loaded);
        this.runningHash = hash;
        report = { result: "applied", hash, changed };
      }
    } catch (err) {
      const errors: ConfigProblem[] =
        err instanceof ReloadError ? err.problems : [{ file: this.file, line: 1, col: 1, path: "", message: `reload failed: ${(err as Error).message}` }];
      if (!(err instanceof ReloadError)) this.log.error({ err: (err as Error).stack }, "unexpected reload failure");
      report = { result: "rejected", hash, errors };
    }
    return this.report(trigger, report);
  }

  private async readText(): Promise<string | { error: string }> {
    for (let attempt = 0; ; attempt++) {
      try {
        // stat first: a FIFO put in the config's place must not hold a reload (and every later one) for ever
        const st = await stat(this.file);
        if (!st.isFile() && !st.isDirectory()) return { error: "is not a regular file" };
        return await readFile(this.file, "utf8");
      } catch (err) {
        const e = err as NodeJS.ErrnoException;
        if (e.code === "ENOENT" && attempt === 0) {
          await new Promise((r) => setTimeout(r, MISSING_RETRY_MS));
          continue;
        }
        return { error: e.code === "ENOENT" ? "file not found" : e.code === "EISDIR" ? "is a folder, not a file" : e.message };
      }
    }
  }

  private report(trigger: string, report: ReloadReport): ReloadReport {
    if (report.result === "applied") {
      this.log.info({ trigger, hash: report.hash, changed: report.changed, figures: this.target.figures() }, "config applied");
    } else {
      this.log.warn({ trigger, hash: report.hash, errors: report.errors, figures: this.target.figures() }, "config rejected; the running config stays");
    }
    this.target.publish("config", report);
    return report;
  }
}
