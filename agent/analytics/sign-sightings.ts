import type { Box } from "../core/geometry.js";
import type { Track } from "../track/tracker.js";

/** One physical sign seen in one pass, as stored and published on `signs`. */
export interface SignSighting {
  id: string;
  camera: string;
  /** the class with the highest summed score over the pass */
  label: string;
  /** best detection score of that class during the pass */
  score: number;
  /** ISO 8601 UTC */
  first_seen: string;
  last_seen: string;
  /** the box of the best view (largest and sharpest), detect-frame pixels */
  box: Box;
  track_id: number;
  /** JPEG of the best view; null until written */
  snapshot: string | null;
}

interface Pass {
  sighting: SignSighting;
  quality: number;
  bestScore: Map<string, number>;
}

export interface SightingStep {
  /** passes whose best view is in this frame: the shell keeps the frame for the snapshot */
  improved: SignSighting[];
  /** passes that ended: one sighting each */
  done: SignSighting[];
}

/**
 * Turns sign tracks into sightings, one per physical sign per pass. The class is the tracker's score-weighted
 * vote (a 30 and a 50 limit look alike from afar; the vote over the pass settles it); the best view is the
 * largest and sharpest, measured by `quality` (box area × sharpness) that the shell computes from pixels.
 */
export class SignSightings {
  private readonly passes = new Map<number, Pass>();

  constructor(
    private readonly camera: string,
    private readonly newId: (timeMs: number) => string,
  ) {}

  observe(tracks: readonly Track[], ended: readonly Track[], quality: (box: Box) => number): SightingStep {
    const step: SightingStep = { improved: [], done: [] };
    for (const t of tracks) {
      if (!t.detected) continue;
      let p = this.passes.get(t.id);
      const q = quality(t.box);
      if (!p) {
        p = {
          sighting: {
            id: this.newId(t.firstSeen),
            camera: this.camera,
            label: t.label,
            score: 0,
            first_seen: iso(t.firstSeen),
            last_seen: iso(t.lastSeen),
            box: round(t.box),
            track_id: t.id,
            snapshot: null,
          },
          quality: -1,
          bestScore: new Map(),
        };
        this.passes.set(t.id, p);
      }
      // t.score is this frame's detection, whose class may differ from the vote: keep the best per class.
      p.bestScore.set(t.label, Math.max(p.bestScore.get(t.label) ?? 0, t.score));
      p.sighting.label = t.label;
      p.sighting.last_seen = iso(t.lastSeen);
      if (q > p.quality) {
        p.quality = q;
        p.sighting.box = round(t.box);
        step.improved.push(p.sighting);
      }
    }
    for (const t of ended) {
      const p = this.passes.get(t.id);
      if (!p) continue;
      this.passes.delete(t.id);
      p.sighting.label = t.label;
      p.sighting.score = Math.round((p.bestScore.get(t.label) ?? t.score) * 1000) / 1000;
      p.sighting.last_seen = iso(t.lastSeen);
      step.done.push({ ...p.sighting });
    }
    return step;
  }

  /** Sets the snapshot path of a pass still in progress. */
  setSnapshot(id: string, file: string): void {
    for (const p of this.passes.values()) if (p.sighting.id === id) p.sighting.snapshot = file;
  }
}

const iso = (ms: number) => new Date(ms).toISOString();
const round = (b: Box): Box => [Math.round(b[0]), Math.round(b[1]), Math.round(b[2]), Math.round(b[3])];
