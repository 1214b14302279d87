import type { Track } from "../track/tracker.js";
import { bottomCentre, pointInPolygon, type Polygon } from "../core/geometry.js";

export interface ZoneSpec {
  name: string;
  polygon: Polygon;
  /** labels that count in the zone; all when absent */
  labels?: readonly string[];
  /** least median detection score of a track for it to count */
  minScore: number;
  /** a track staying this long raises one `loitering` alarm per stay */
  loiterMs?: number;
  /** more tracks than this in the zone raise `overcrowding` */
  maxObjects?: number;
}

export type AlarmType = "loitering" | "overcrowding";

/** An alarm change without the camera (the shell adds it): raised once, cleared once. */
export interface ZoneAlarm {
  type: AlarmType;
  state: "raised" | "cleared";
  zone: string;
  /** ms since epoch */
  time: number;
  track_id?: number;
  label?: string;
  /** objects in the zone, for overcrowding */
  count?: number;
  max_objects?: number;
}

export interface Occupancy {
  zone: string;
  counts: Record<string, number>;
  total: number;
}

export interface ZoneStep {
  /** zones each live track is in now, by track id */
  zonesOf: Map<number, string[]>;
  /** zones whose per-label counts changed in this frame */
  occupancy: Occupancy[];
  alarms: ZoneAlarm[];
}

interface Stay {
  since: number;
  loitering: boolean;
  label: string;
}

/**
 * How long a track the detector stopped seeing still counts in a zone's occupancy: long enough that a missed
 * frame or two does not make the count flicker, short enough that someone who walked out is not counted on.
 */
export const OCCUPANCY_HOLD_MS = 1000;

/**
 * Zone membership, occupancy, loitering and overcrowding for one camera. A track is in a zone when its
 * bottom-centre (where it stands) is inside the polygon or on its edge. Occupancy and overcrowding count what
 * was seen in this frame or within OCCUPANCY_HOLD_MS; a lost track keeps its stay (loitering) until the
 * tracker gives it up, so a person hidden for a moment does not start a new stay.
 */
export class ZoneAnalytics {
  private readonly stays = new Map<string, Map<number, Stay>>();
  private readonly lastCounts = new Map<string, string>();
  private readonly crowded = new Set<string>();

  constructor(private readonly zones: readonly ZoneSpec[]) {
    for (const z of zones) this.stays.set(z.name, new Map());
  }

  /** The zones' starting state (all empty), to publish once at start. */
  initial(): Occupancy[] {
    return this.zones.map((z) => {
      this.lastCounts.set(z.name, "[]");
      return { zone: z.name, counts: {}, total: 0 };
    });
  }

  /** Feeds the confirmed live tracks of one frame. */
  observe(time: number, tracks: readonly Track[]): ZoneStep {
    const step: ZoneStep = { zonesOf: new Map(tracks.map((t) => [t.id, []])), occupancy: [], alarms: [] };
    for (const zone of this.zones) {
      const stays = this.stays.get(zone.name)!;
      const inside = tracks.filter((t) => this.counts(zone, t));
      const here = new Set(inside.map((t) => t.id));
      const seen = inside.filter((t) => time - t.lastSeen <= OCCUPANCY_HOLD_MS);
      for (const [id, stay] of stays) {
        if (here.has(id)) continue;
        stays.delete(id);
        if (stay.loitering) step.alarms.push({ type: "loitering", state: "cleared", zone: zone.name, time, track_id: id, label: stay.label });
      }
      const counts: Record<string, number> = {};
      for (const t of seen) counts[t.label] = (counts[t.label] ?? 0) + 1;
      for (const t of inside) {
        step.zonesOf.get(t.id)!.push(zone.name);
        let stay = stays.get(t.id);
        if (!stay) stays.set(t.id, (stay = { since: time, loitering: false, label: t.label }));
        stay.label = t.label;
        if (zone.loiterMs !== undefined && !stay.loitering && time - stay.since >= zone.loiterMs) {
          stay.loitering = true;
          step.alarms.push({ type: "loitering", state: "raised", zone: zone.name, time, track_id: t.id, label: t.label });
        }
      }
      const key = JSON.stringify(Object.entries(counts).sort(([a], [b]) => a.localeCompare(b)));
      if (key !== (this.lastCounts.get(zone.name) ?? "[]")) {
        this.lastCounts.set(zone.name, key);
        step.occupancy.push({ zone: zone.name, counts, total: seen.length });
      }
      if (zone.maxObjects !== undefined) {
        const over = seen.length > zone.maxObjects;
        if (over !== this.crowded.has(zone.name)) {
          if (over) this.crowded.add(zone.name);
          else this.crowded.delete(zone.name);
          step.alarms.push({
            type: "overcrowding",
            state: over ? "raised" : "cleared",
            zone: zone.name,
            time,
            count: seen.length,
            max_objects: zone.maxObjects,
          });
        }
      }
    }
    return step;
  }

  private counts(zone: ZoneSpec, t: Track): boolean {
    return inZone(zone, t);
  }
}

/** Whether a track counts in a zone: a label it takes, a steady enough score, and standing inside. */
export function inZone(zone: ZoneSpec, t: Track): boolean {
  if (zone.labels && !zone.labels.includes(t.label)) return false;
  if (t.medianScore < zone.minScore) return false;
  return pointInPolygon(bottomCentre(t.box), zone.polygon);
}
