import { bottomCentre, type Point } from "../core/geometry.js";
import type { Track } from "./tracker.js";

interface Still {
  anchor: Point;
  since: number;
  stationary: boolean;
}

/**
 * Tells parked objects from moving ones: a track whose bottom-centre stays within a small radius of where it
 * settled for `stationaryMs` is stationary until it leaves that radius. The radius grows with the box, since a
 * detector's jitter does; only detected frames count, so a prediction never moves a parked car.
 */
export class StationaryClassifier {
  private readonly still = new Map<number, Still>();

  constructor(private readonly stationaryMs: number) {}

  /** Returns whether the track is stationary after this frame. */
  observe(track: Track, time: number): boolean {
    let s = this.still.get(track.id);
    const here = bottomCentre(track.box);
    if (!s) {
      s = { anchor: here, since: time, stationary: false };
      this.still.set(track.id, s);
      return false;
    }
    if (!track.detected) return s.stationary;
    const radius = Math.max(MIN_RADIUS_PX, RADIUS_PER_HEIGHT * (track.box[3] - track.box[1]));
    if (Math.hypot(here[0] - s.anchor[0], here[1] - s.anchor[1]) > radius) {
      s.anchor = here;
      s.since = time;
      s.stationary = false;
    } else if (time - s.since >= this.stationaryMs) {
      s.stationary = true;
    }
    return s.stationary;
  }

  /** Drops state of tracks not in `alive`. */
  retain(alive: ReadonlySet<number>): void {
    for (const id of this.still.keys()) if (!alive.has(id)) this.still.delete(id);
  }
}

const MIN_RADIUS_PX = 4;
const RADIUS_PER_HEIGHT = 0.1;
