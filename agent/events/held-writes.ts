import type { Logger } from "pino";
import { StoreError } from "./store.js";

// A database that cannot take a write for lack of space (SD card full, max size reached) must not lose the
// events of the minutes until space returns: failing writes wait here, in order, and go in once it does.

/** Store failures that pass: space comes back (retention, the outbox draining), the lock is released. */
const PASSING = new Set(["full", "io", "busy"]);

/**
 * Writes to the event store that failed for lack of space, held in memory in order and bounded: past `max`,
 * the oldest is dropped (counted and logged). While any is held, new writes queue behind them so that order
 * is kept; `flush` writes them in order and stops at the first that still fails.
 */
export class HeldWrites {
  private readonly queue: Array<{ op: string; write: () => void }> = [];
  /** writes held since start */
  heldTotal = 0;
  /** writes dropped because the bound was reached */
  dropped = 0;
  /** why the last write failed, while writes are held */
  lastError = "";

  constructor(
    /** the most writes held; past it the oldest go first */
    readonly max: number,
    private readonly log: Logger,
  ) {}

  get held(): number {
    return this.queue.length;
  }

  /**
   * Runs `write(arg)` now, or holds it (with a copy of `arg`, which the caller may change later) when writes
   * are already held or this one fails for lack of space. Returns the write's result, undefined when held.
   * Any other failure is thrown as before.
   */
  run<A, T>(op: string, write: (arg: A) => T, arg: A): T | undefined {
    if (this.queue.length === 0) {
      try {
        return write(arg);
      } catch (err) {
        if (!(err instanceof StoreError) || !PASSING.has(err.reason)) throw err;
        this.lastError = err.message;
        this.log.error({ op, err: err.message }, "event store cannot write; holding writes in memory until it can");
      }
    }
    const copy = structuredClone(arg);
    this.hold(op, () => void write(copy));
    return undefined;
  }

  /** Writes what is held, in order; true when nothing is left. */
  flush(): boolean {
    while (this.queue.length) {
      try {
        this.queue[0]!.write();
      } catch (err) {
        if (!(err instanceof StoreError) || !PASSING.has(err.reason)) {
          // Not a passing fault: this write can never go in; it is dropped, loudly, and the rest go on.
          this.log.error({ op: this.queue[0]!.op, err: (err as Error).message }, "held write failed for good; dropped");
          this.queue.shift();
          this.dropped++;
          continue;
        }
        this.lastError = err.message;
        return false;
      }
      this.queue.shift();
      if (this.queue.length === 0) this.log.info({ held: this.heldTotal, dropped: this.dropped }, "event store writable again; held writes stored");
    }
    this.lastError = "";
    return true;
  }

  private hold(op: string, write: () => void): void {
    this.queue.push({ op, write });
    this.heldTotal++;
    if (this.queue.length > this.max) {
      this.queue.shift();
      this.dropped++;
      if (this.dropped === 1 || this.dropped % 1000 === 0)
        this.log.error({ dropped: this.dropped, bound: this.max }, "held writes over their bound: oldest dropped");
    }
  }
}
