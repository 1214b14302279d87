import type { Logger } from "pino";
import type { Frame } from "../camera/frame.js";
import type { Detection } from "../detect/detection.js";
import type { EvaEvent, EventChange } from "./event.js";
import { EventRules, type EventOutput } from "./rules.js";
import { SnapshotWriter } from "./snapshot.js";

/** Where event changes go once decided: the store writes them with their outbox row in one transaction. */
export interface EventSink {
  recordEvent(change: EventChange, ev: EvaEvent): void;
}

export interface MaintainerOptions {
  device: string;
  camera: string;
  minFrames: number;
  endAfterMs: number;
  updateIntervalMs: number;
  newId: (timeMs: number) => string;
}

/**
 * The events stage for one camera: runs the pure rules on each processed frame, keeps the best frame of each
 * open event for its snapshot, and hands every change to the sink. A failing snapshot write is logged and
 * the event still goes out (without the picture it is still an event).
 */
export class EventMaintainer {
  private readonly rules: EventRules;

  constructor(
    opts: MaintainerOptions,
    private readonly snapshots: SnapshotWriter,
    private readonly sink: EventSink,
    private readonly onRecorded: () => void,
    private readonly log: Logger,
  ) {
    this.rules = new EventRules(opts);
  }

  /** Processes one frame's detections. Synchronous, so the frame may be released right after it returns. */
  observe(frame: Frame, detections: readonly Detection[]): void {
    const step = this.rules.observe(frame.time, detections);
    for (const ev of step.improved) this.snapshots.capture(ev.id, frame);
    this.emit(step.changes);
  }

  /** Applies a config reload's event settings without losing open events. */
  reconfigure(opts: Pick<MaintainerOptions, "device" | "minFrames" | "endAfterMs" | "updateIntervalMs">): void {
    this.rules.reconfigure(opts);
  }

  /** Ends every open event (camera ended, disabled or agent stopping). */
  endAll(): void {
    this.emit(this.rules.endAll());
  }

  private emit(changes: EventOutput[]): void {
    for (const { change, event } of changes) {
      if (change === "new") {
        event.snapshot = this.snapshots.pathFor(event);
        this.rules.setSnapshot(event.id, event.snapshot);
      }
      this.sink.recordEvent(change, event);
      this.writeSnapshot(change, event);
    }
    if (changes.length) this.onRecorded();
  }

  private writeSnapshot(change: EventChange, ev: EvaEvent): void {
    this.snapshots
      .write(ev)
      .catch((err: Error) => this.log.error({ camera: ev.camera, event: ev.id, err: err.message }, "snapshot write failed"))
      .finally(() => {
        if (change === "end") void this.snapshots.release(ev.id);
      });
  }
}
