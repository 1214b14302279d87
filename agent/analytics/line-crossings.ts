import type { Track } from "../track/tracker.js";
import { bottomCentre, segmentsIntersect, signedDistance, type Point } from "../core/geometry.js";

export interface LineSpec {
  name: string;
  /** walking from a to b, the left side is "before" an `in` crossing */
  a: Point;
  b: Point;
  /** labels counted; all when absent */
  labels?: readonly string[];
  /** the bottom-centre must get this far from the line, on the far side, before a crossing counts */
  hysteresisPx: number;
}

export type Direction = "in" | "out";

export interface Crossing {
  line: string;
  direction: Direction;
  label: string;
  track_id: number;
  /** ms since epoch */
  time: number;
}

interface Side {
  /** -1 left, +1 right, of the line as seen walking from a to b */
  side: -1 | 1;
  /** where the track last stood clearly on that side */
  point: Point;
}

/**
 * Counts tracks crossing line segments. A track's side of a line changes only once its bottom-centre is at least
 * `hysteresisPx` past the line, so one that stops or jitters on the line, or turns back, counts only what it
 * really crossed; and the path between the two clear positions must cross the segment itself, not the line's
 * extension. Crossings of tracks not yet confirmed are held and come out on confirmation (or are dropped with
 * the track), so a short-lived false detection counts nothing.
 */
export class LineCrossings {
  private readonly sides = new Map<string, Map<number, Side>>();
  private readonly held = new Map<number, Crossing[]>();

  constructor(private readonly lines: readonly LineSpec[]) {
    for (const l of lines) this.sides.set(l.name, new Map());
  }

  /** Feeds the live tracks of one frame; returns the crossings they made, in line order. */
  observe(time: number, tracks: readonly Track[]): Crossing[] {
    const out: Crossing[] = [];
    for (const t of tracks) {
      if (!t.detected) continue;
      const p = bottomCentre(t.box);
      for (const line of this.lines) {
        const sides = this.sides.get(line.name)!;
        const d = signedDistance(line.a, line.b, p);
        if (Math.abs(d) < line.hysteresisPx) continue;
        const side: -1 | 1 = d < 0 ? -1 : 1;
        const prev = sides.get(t.id);
        sides.set(t.id, { side, point: p });
        if (!prev || prev.side === side || !segmentsIntersect(prev.point, p, line.a, line.b)) continue;
        if (line.labels && !line.labels.includes(t.label)) continue;
        const c: Crossing = { line: line.name, direction: prev.side < side ? "in" : "out", label: t.label, track_id: t.id, time };
        if (t.confirmed) out.push(c);
        else this.held.set(t.id, [...(this.held.get(t.id) ?? []), c]);
      }
      if (t.confirmed && this.held.has(t.id)) {
        out.unshift(...this.held.get(t.id)!);
        this.held.delete(t.id);
      }
    }
    const alive = new Set(tracks.map((t) => t.id));
    for (const sides of this.sides.values()) for (const id of sides.keys()) if (!alive.has(id)) sides.delete(id);
    for (const id of this.held.keys()) if (!alive.has(id)) this.held.delete(id);
    return out;
  }
}
