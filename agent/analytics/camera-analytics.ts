import type { CameraConfig } from "../config/schema.js";
import type { Detection } from "../detect/detection.js";
import { StationaryClassifier } from "../track/stationary.js";
import { Tracker, type Track } from "../track/tracker.js";
import { bottomCentre, pointInPolygon, toPixels, type Point, type Polygon } from "./geometry.js";
import { LineCrossings, type Crossing, type LineSpec } from "./line-crossings.js";
import { ZoneAnalytics, type Occupancy, type ZoneAlarm, type ZoneSpec } from "./zones.js";

export interface CameraAnalyticsOptions {
  tracker: ConstructorParameters<typeof Tracker>[0];
  stationaryMs: number;
  masks: readonly Polygon[];
  zones: readonly ZoneSpec[];
  lines: readonly LineSpec[];
}

/** One confirmed live track with what the analytics know about it. */
export interface TrackState {
  track: Track;
  zones: string[];
  stationary: boolean;
}

export interface AnalyticsStep {
  tracks: TrackState[];
  /** confirmed tracks that died in this frame */
  ended: Track[];
  crossings: Crossing[];
  alarms: ZoneAlarm[];
  occupancy: Occupancy[];
}

/**
 * Everything one camera derives from its detections, frame by frame: masks, tracks, stationary state, zones and
 * lines. Pure: a frame's time and detections in, plain data out; the events stage decides what to store.
 */
export class CameraAnalytics {
  private readonly tracker: Tracker;
  private readonly stationary: StationaryClassifier;
  private readonly zones: ZoneAnalytics;
  private readonly lines: LineCrossings;

  constructor(private readonly opts: CameraAnalyticsOptions) {
    this.tracker = new Tracker(opts.tracker);
    this.stationary = new StationaryClassifier(opts.stationaryMs);
    this.zones = new ZoneAnalytics(opts.zones);
    this.lines = new LineCrossings(opts.lines);
  }

  /** Each zone's starting occupancy (empty), published once when the camera starts. */
  initialOccupancy(): Occupancy[] {
    return this.zones.initial();
  }

  observe(time: number, detections: readonly Detection[]): AnalyticsStep {
    const kept = this.opts.masks.length ? detections.filter((d) => !this.masked(bottomCentre(d.box))) : detections;
    const { tracks, ended } = this.tracker.update(time, kept);
    const crossings = this.lines.observe(time, tracks);
    const confirmed = tracks.filter((t) => t.confirmed);
    const zoneStep = this.zones.observe(time, confirmed);
    this.stationary.retain(new Set(tracks.map((t) => t.id)));
    return {
      tracks: confirmed.map((track) => ({ track, zones: zoneStep.zonesOf.get(track.id) ?? [], stationary: this.stationary.observe(track, time) })),
      ended,
      crossings,
      alarms: zoneStep.alarms,
      occupancy: zoneStep.occupancy,
    };
  }

  /** Ends every track (camera ended, agent stopping); zones empty out and their alarms clear. */
  endAll(time: number): Pick<AnalyticsStep, "ended" | "alarms" | "occupancy"> {
    const ended = this.tracker.endAll();
    const { alarms, occupancy } = this.zones.observe(time, []);
    return { ended, alarms, occupancy };
  }

  private masked(p: Point): boolean {
    return this.opts.masks.some((m) => pointInPolygon(p, m));
  }
}

/** The analytics options of a camera's config, with fractional coordinates turned into detect-frame pixels. */
export function analyticsOptions(cam: CameraConfig, width: number, height: number): CameraAnalyticsOptions {
  const px = (pts: readonly (readonly [number, number])[]) => toPixels(pts, width, height);
  return {
    tracker: {
      minHits: cam.tracker.min_hits,
      maxAgeMs: (cam.tracker.max_age_seconds ?? cam.events.end_after_seconds) * 1000,
      highScore: cam.tracker.high_score,
      lowScore: cam.tracker.low_score,
      iou: cam.tracker.iou,
    },
    stationaryMs: cam.events.stationary_seconds * 1000,
    masks: cam.masks.map(px),
    zones: Object.entries(cam.zones).map(([name, z]) => ({
      name,
      polygon: px(z.points),
      ...(z.labels ? { labels: z.labels } : {}),
      minScore: z.min_score,
      ...(z.loiter_seconds !== undefined ? { loiterMs: z.loiter_seconds * 1000 } : {}),
      ...(z.max_objects !== undefined ? { maxObjects: z.max_objects } : {}),
    })),
    lines: Object.entries(cam.lines).map(([name, l]) => {
      const [a, b] = px(l.points);
      return { name, a: a!, b: b!, ...(l.labels ? { labels: l.labels } : {}), hysteresisPx: l.hysteresis_px };
    }),
  };
}
