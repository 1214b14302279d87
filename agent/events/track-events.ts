import type { Box } from "../core/geometry.js";
import type { TrackState } from "../analytics/camera-analytics.js";
import { iou } from "../track/association.js";
import type { Track } from "../track/tracker.js";
import type { EvaEvent, EventChange } from "../core/event.js";

export interface TrackEventOptions {
  device: string;
  camera: string;
  /** detections a track needs before its event can open */
  minFrames: number;
  /** median detection score over the track that confirms its event */
  threshold: number;
  /** at most one 'update' per event per this many ms */
  updateIntervalMs: number;
  /** what a stationary object does to its event */
  stationary: "end" | "keep";
  newId: (timeMs: number) => string;
}

export interface EventOutput {
  change: EventChange;
  event: EvaEvent;
}

export interface EventStep {
  changes: EventOutput[];
  /** open events whose best detection is in this frame: the snapshot should come from it */
  improved: EvaEvent[];
}

interface TrackEvent {
  open: EvaEvent | null;
  dirty: boolean;
  lastEmit: number;
  /** the event ended because the object parked: no new one until it moves */
  parked: boolean;
  /** when the object drove off after parking: its next event starts there, not at the track's birth */
  movedAt: number | null;
  /** a new track born on a parked object's spot: no event until it leaves the spot */
  onSpot: Box | null;
}

/** Where a stationary object's track died: the same object found again there is not news. */
interface ParkedSpot {
  label: string;
  box: Box;
  until: number;
}

/** How long a parked object's spot is remembered after its track dies (a detector can miss a car for minutes at dusk). */
const SPOT_MEMORY_MS = 3_600_000;
/** A new track overlapping a spot this much is the parked object again. */
const SAME_SPOT_IOU = 0.5;

const iso = (ms: number) => new Date(ms).toISOString();

/**
 * Events as track lifecycles: `new` once a confirmed track's median score reaches the threshold over enough
 * detections, `update` only when something a person would care about changed (zone entered or left, a better
 * snapshot, stationary or moving again, the label vote) and at most every `updateIntervalMs`, `end` when the
 * track dies. A stationary object either ends its event or keeps it; it never opens a new one while parked,
 * not even when the detector loses it for a while and the tracker finds it again under a new id.
 */
export class TrackEvents {
  private readonly byTrack = new Map<number, TrackEvent>();
  private spots: ParkedSpot[] = [];

  constructor(private opts: TrackEventOptions) {}

  /** New rules from a reload; open events carry on under them. */
  reconfigure(opts: TrackEventOptions): void {
    this.opts = opts;
  }

  observe(time: number, tracks: readonly TrackState[], ended: readonly Track[]): EventStep {
    const step: EventStep = { changes: [], improved: [] };
    for (const s of tracks) this.observeTrack(time, s, step);
    for (const t of ended) {
      const te = this.byTrack.get(t.id);
      this.byTrack.delete(t.id);
      if (te?.parked || te?.onSpot || te?.open?.stationary) this.spots.push({ label: t.label, box: t.box, until: time + SPOT_MEMORY_MS });
      if (te?.open) step.changes.push(end(te, t.lastSeen));
    }
    return step;
  }

  /** Ends every open event (camera ended or agent stopping). */
  endAll(ended: readonly Track[]): EventOutput[] {
    const out: EventOutput[] = [];
    const lastSeen = new Map(ended.map((t) => [t.id, t.lastSeen]));
    for (const [id, te] of this.byTrack) if (te.open) out.push(end(te, lastSeen.get(id) ?? Date.parse(te.open.start_time)));
    this.byTrack.clear();
    return out;
  }

  /** Sets the snapshot path on an open event, so later changes carry it. */
  setSnapshot(eventId: string, snapshot: string | null): void {
    for (const te of this.byTrack.values()) if (te.open?.id === eventId) te.open.snapshot = snapshot;
  }

  private observeTrack(time: number, s: TrackState, step: EventStep): void {
    const { track } = s;
    let te = this.byTrack.get(track.id);
    if (!te) {
      this.spots = this.spots.filter((p) => p.until > time);
      const spot = this.spots.findIndex((p) => p.label === track.label && iou(p.box, track.box) >= SAME_SPOT_IOU);
      const onSpot = spot >= 0 ? this.spots.splice(spot, 1)[0]!.box : null;
      this.byTrack.set(track.id, (te = { open: null, dirty: false, lastEmit: 0, parked: false, movedAt: null, onSpot }));
    }
    if (te.onSpot) {
      if (iou(te.onSpot, track.box) >= SAME_SPOT_IOU) return;
      te.onSpot = null; // left the spot: from here it is news
      te.movedAt = time;
    }

    if (te.parked) {
      if (s.stationary) return;
      te.parked = false; // moving again: a new event may open below
      te.movedAt = time;
    }
    const ev = te.open;
    if (!ev) {
      if (track.scoreCount < this.opts.minFrames || track.medianScore < this.opts.threshold || !track.detected) return;
      if (s.stationary && this.opts.stationary === "end") return;
      const start = te.movedAt ?? track.firstSeen;
      te.open = {
        id: this.opts.newId(start),
        device: this.opts.device,
        camera: this.opts.camera,
        label: track.label,
        start_time: iso(start),
        end_time: null,
        top_score: round3(track.score),
        box: roundBox(track.box),
        snapshot: null,
        track_id: track.id,
        current_zones: [...s.zones],
        entered_zones: [...s.zones],
        stationary: s.stationary,
      };
      te.lastEmit = time;
      te.dirty = false;
      step.improved.push(te.open);
      step.changes.push({ change: "new", event: { ...te.open } });
      return;
    }

    if (track.detected && track.score > ev.top_score) {
      ev.top_score = round3(track.score);
      ev.box = roundBox(track.box);
      te.dirty = true;
      step.improved.push(ev);
    }
    if (track.label !== ev.label) {
      ev.label = track.label;
      te.dirty = true;
    }
    if (!sameList(s.zones, ev.current_zones ?? [])) {
      ev.current_zones = [...s.zones];
      for (const z of s.zones) if (!ev.entered_zones!.includes(z)) ev.entered_zones!.push(z);
      te.dirty = true;
    }
    if (s.stationary !== ev.stationary) {
      ev.stationary = s.stationary;
      if (s.stationary && this.opts.stationary === "end") {
        te.parked = true;
        step.changes.push(end(te, time));
        return;
      }
      te.dirty = true;
    }
    if (te.dirty && time - te.lastEmit >= this.opts.updateIntervalMs) {
      step.changes.push({ change: "update", event: { ...ev, current_zones: [...ev.current_zones!], entered_zones: [...ev.entered_zones!] } });
      te.dirty = false;
      te.lastEmit = time;
    }
  }
}

function end(te: TrackEvent, lastSeen: number): EventOutput {
  const ev = te.open!;
  ev.end_time = iso(lastSeen);
  te.open = null;
  te.dirty = false;
  return { change: "end", event: { ...ev } };
}

const sameList = (a: readonly string[], b: readonly string[]) => a.length === b.length && a.every((x, i) => x === b[i]);
const round3 = (v: number) => Math.round(v * 1000) / 1000;
const roundBox = (b: Box): Box => [Math.round(b[0]), Math.round(b[1]), Math.round(b[2]), Math.round(b[3])];
