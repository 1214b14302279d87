import type { Box, Detection } from "../detect/detection.js";
import type { EvaEvent, EventChange } from "./event.js";

export interface EventRulesOptions {
  device: string;
  camera: string;
  /** consecutive processed frames with a label before its event opens */
  minFrames: number;
  /** ms without the label before its event ends */
  endAfterMs: number;
  /** at most one 'update' per event per this many ms */
  updateIntervalMs: number;
  newId: (timeMs: number) => string;
}

export interface EventOutput {
  change: EventChange;
  event: EvaEvent;
}

export interface RulesStep {
  changes: EventOutput[];
  /** open events whose best detection is in this frame: the snapshot should come from it */
  improved: EvaEvent[];
}

interface LabelState {
  streak: number;
  streakStart: number;
  lastSeen: number;
  open: EvaEvent | null;
  dirty: boolean;
  lastEmit: number;
}

const iso = (ms: number) => new Date(ms).toISOString();

/**
 * First-version event rules, one open event per label per camera: an event opens after `minFrames`
 * consecutive processed frames with the label and ends `endAfterMs` after it was last seen. Pure: time comes
 * in with the detections, ids from `newId`.
 */
export class EventRules {
  private readonly labels = new Map<string, LabelState>();

  constructor(private opts: EventRulesOptions) {}

  /** New settings from a config reload, effective from the next frame; open events carry on. */
  reconfigure(opts: Partial<Omit<EventRulesOptions, "camera" | "newId">>): void {
    this.opts = { ...this.opts, ...opts };
  }

  /** Feeds one processed frame's detections; returns the event changes it causes, in order. */
  observe(time: number, detections: readonly Detection[]): RulesStep {
    const step: RulesStep = { changes: [], improved: [] };
    const best = bestPerLabel(detections);
    for (const [label, det] of best) {
      let s = this.labels.get(label);
      if (!s) {
        s = { streak: 0, streakStart: time, lastSeen: time, open: null, dirty: false, lastEmit: 0 };
        this.labels.set(label, s);
      }
      if (s.streak === 0) {
        s.streakStart = time;
      }
      s.streak++;
      s.lastSeen = time;
      if (s.open) {
        if (det.score > s.open.top_score) {
          s.open.top_score = round3(det.score);
          s.open.box = roundBox(det.box);
          s.dirty = true;
          step.improved.push(s.open);
        }
        if (s.dirty && time - s.lastEmit >= this.opts.updateIntervalMs) {
          step.changes.push({ change: "update", event: { ...s.open } });
          s.dirty = false;
          s.lastEmit = time;
        }
        continue;
      }
      if (s.streak >= this.opts.minFrames) {
        // Score and box come from this frame: it is the one still in hand for the snapshot. Later frames
        // that score higher replace both.
        s.open = {
          id: this.opts.newId(s.streakStart),
          device: this.opts.device,
          camera: this.opts.camera,
          label,
          start_time: iso(s.streakStart),
          end_time: null,
          top_score: round3(det.score),
          box: roundBox(det.box),
          snapshot: null,
        };
        s.dirty = false;
        s.lastEmit = time;
        step.improved.push(s.open);
        step.changes.push({ change: "new", event: { ...s.open } });
      }
    }
    for (const [label, s] of this.labels) {
      if (best.has(label)) continue;
      s.streak = 0;
      if (s.open && time - s.lastSeen >= this.opts.endAfterMs) step.changes.push(this.end(s));
    }
    return step;
  }

  /** Ends every open event (camera ended or agent stopping). */
  endAll(): EventOutput[] {
    const out: EventOutput[] = [];
    for (const s of this.labels.values()) if (s.open) out.push(this.end(s));
    return out;
  }

  /** Sets the snapshot path on an open event, so later changes carry it. */
  setSnapshot(eventId: string, snapshot: string): void {
    for (const s of this.labels.values()) if (s.open?.id === eventId) s.open.snapshot = snapshot;
  }

  private end(s: LabelState): EventOutput {
    const ev = s.open!;
    ev.end_time = iso(s.lastSeen);
    s.open = null;
    s.streak = 0;
    return { change: "end", event: { ...ev } };
  }
}

function bestPerLabel(detections: readonly Detection[]): Map<string, Detection> {
  const best = new Map<string, Detection>();
  for (const d of detections) {
    const b = best.get(d.label);
    if (!b || d.score > b.score) best.set(d.label, d);
  }
  return best;
}

const round3 = (v: number) => Math.round(v * 1000) / 1000;
const roundBox = (b: Box): Box => [Math.round(b[0]), Math.round(b[1]), Math.round(b[2]), Math.round(b[3])];
