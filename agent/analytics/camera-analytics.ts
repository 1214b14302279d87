import type { CameraConfig } from "../config/schema.js";
import type { Box } from "../core/geometry.js";
import type { Detection } from "../core/detection.js";
import { StationaryClassifier } from "../track/stationary.js";
import { Tracker, type Track } from "../track/tracker.js";
import { bottomCentre, pointInPolygon, toPixels, type Point, type Polygon } from "../core/geometry.js";
import { LineCrossings, type Crossing, type LineSpec } from "./line-crossings.js";
import { SignSightings, type SightingStep } from "./sign-sightings.js";
import { SignWatch, type ExpectedSign, type SignAlarm } from "./sign-watch.js";
import { ZoneAnalytics, type Occupancy, type ZoneAlarm, type ZoneSpec } from "./zones.js";

export interface CameraAnalyticsOptions {
  tracker: ConstructorParameters<typeof Tracker>[0];
  stationaryMs: number;
  /** a track still for this long stops counting as moving for motion gating (motion.still_seconds) */
  gateStillMs: number;
  masks: readonly Polygon[];
  zones: readonly ZoneSpec[];
  lines: readonly LineSpec[];
  /** traffic signs: which labels are signs (all when absent) and which must keep being seen */
  signs?: { labels?: readonly string[]; watch: readonly ExpectedSign[] };
  /** for sighting ids */
  camera: string;
  newId: (timeMs: number) => string;
}

/** What the shell knows about the frame's pixels. */
export interface FrameView {
  /** not dark, not frozen */
  usable: boolean;
  /** how good a view of the object in this box is (larger and sharper is better) */
  quality(box: Box): number;
}

/** One confirmed live track with what the analytics know about it. */
export interface TrackState {
  track: Track;
  zones: string[];
  stationary: boolean;
}

export interface AnalyticsStep {
  tracks: TrackState[];
  /** live tracks, tentative ones included, that moved within motion.still_seconds: motion gating keeps analysing while any is */
  moving: number;
  /** confirmed tracks that died in this frame */
  ended: Track[];
  crossings: Crossing[];
  alarms: Array<ZoneAlarm | SignAlarm>;
  occupancy: Occupancy[];
  sightings: SightingStep;
}

const area = (b: Box) => (b[2] - b[0]) * (b[3] - b[1]);

/**
 * Everything one camera derives from its detections, frame by frame: masks, tracks, stationary state, zones and
 * lines. Pure: a frame's time and detections in, plain data out; the events stage decides what to store.
 */
export class CameraAnalytics {
  private tracker: Tracker;
  private stationary: StationaryClassifier;
  /** the same test over a short window: what keeps motion gating open */
  private still: StationaryClassifier;
  private zones: ZoneAnalytics;
  private lines: LineCrossings;
  private sightings: SignSightings | null;
  private signWatch: SignWatch | null;

  constructor(private opts: CameraAnalyticsOptions) {
    this.tracker = new Tracker(opts.tracker);
    this.sightings = opts.signs ? new SignSightings(opts.camera, opts.newId) : null;
    this.signWatch = opts.signs?.watch.length ? new SignWatch(opts.signs.watch) : null;
    this.stationary = new StationaryClassifier(opts.stationaryMs);
    this.still = new StationaryClassifier(opts.gateStillMs);
    this.zones = new ZoneAnalytics(opts.zones);
    this.lines = new LineCrossings(opts.lines);
  }

  /** Each zone's starting occupancy (empty), published once when the camera starts. */
  initialOccupancy(): Occupancy[] {
    return this.zones.initial();
  }

  /** Whether tracks of this label are signs (sightings) rather than objects (events). */
  isSign(label: string): boolean {
    return !!this.opts.signs && (!this.opts.signs.labels || this.opts.signs.labels.includes(label));
  }

  observe(time: number, detections: readonly Detection[], view: FrameView = { usable: true, quality: area }): AnalyticsStep {
    const kept = this.opts.masks.length ? detections.filter((d) => !this.masked(bottomCentre(d.box))) : detections;
    const { tracks, ended } = this.tracker.update(time, kept);
    const crossings = this.lines.observe(time, tracks);
    const confirmed = tracks.filter((t) => t.confirmed);
    const zoneStep = this.zones.observe(time, confirmed);
    const alive = new Set(tracks.map((t) => t.id));
    this.stationary.retain(alive);
    this.still.retain(alive);
    const signAlarms = this.signWatch?.observe(time, kept, view.usable) ?? [];
    const sightings = this.sightings
      ? this.sightings.observe(
          confirmed.filter((t) => this.isSign(t.label)),
          ended.filter((t) => this.isSign(t.label)),
          view.quality,
        )
      : { improved: [], done: [] };
    const states = confirmed.map((track) => ({ track, zones: zoneStep.zonesOf.get(track.id) ?? [], stationary: this.stationary.observe(track, time) }));
    // Gating needs every frame only while something moves: a track (tentative ones too) still for
    // gateStillMs is looked at again on motion or at the keepalive rate, long before it is stationary.
    let moving = 0;
    for (const t of tracks) if (!this.still.observe(t, time)) moving++;
    return {
      tracks: states,
      moving,
      ended,
      crossings,
      alarms: [...zoneStep.alarms, ...signAlarms],
      occupancy: zoneStep.occupancy,
      sightings,
    };
  }

  /** Sets the snapshot path of a sign pass in progress. */
  setSightingSnapshot(id: string, file: string): void {
    this.sightings?.setSnapshot(id, file);
  }

  /**
   * Takes edited settings (a config reload). The old zones empty out first (their occupancy goes to zero and
   * their alarms clear), then the new zones, lines, masks and sign watch apply from the next frame. Tracks
   * survive unless the tracker's own settings changed; then they end, as when the camera stops.
   */
  reconfigure(next: CameraAnalyticsOptions, time: number): Pick<AnalyticsStep, "ended" | "alarms" | "occupancy" | "sightings"> {
    const trackerChanged = JSON.stringify(next.tracker) !== JSON.stringify(this.opts.tracker) || next.stationaryMs !== this.opts.stationaryMs;
    if (trackerChanged || next.gateStillMs !== this.opts.gateStillMs) this.still = new StationaryClassifier(next.gateStillMs);
    const out = trackerChanged ? this.endAll(time) : { ended: [], ...this.zones.observe(time, []), sightings: { improved: [], done: [] } };
    if (trackerChanged) {
      this.tracker = new Tracker(next.tracker);
      this.stationary = new StationaryClassifier(next.stationaryMs);
    }
    if (JSON.stringify(next.signs) !== JSON.stringify(this.opts.signs)) {
      this.sightings = next.signs ? (this.sightings ?? new SignSightings(next.camera, next.newId)) : null;
      this.signWatch = next.signs?.watch.length ? new SignWatch(next.signs.watch) : null;
    }
    this.zones = new ZoneAnalytics(next.zones);
    this.lines = new LineCrossings(next.lines);
    this.opts = next;
    return { ended: out.ended, alarms: out.alarms, occupancy: [...out.occupancy, ...this.zones.initial()], sightings: out.sightings };
  }

  /** Ends every track (camera ended, agent stopping); zones empty out and their alarms clear. */
  endAll(time: number): Pick<AnalyticsStep, "ended" | "alarms" | "occupancy" | "sightings"> {
    const ended = this.tracker.endAll();
    const { alarms, occupancy } = this.zones.observe(time, []);
    const sightings = this.sightings?.observe(
      [],
      ended.filter((t) => this.isSign(t.label)),
      area,
    ) ?? { improved: [], done: [] };
    return { ended, alarms, occupancy, sightings };
  }

  private masked(p: Point): boolean {
    return this.opts.masks.some((m) => pointInPolygon(p, m));
  }
}

/** The analytics options of a camera's config, with fractional coordinates turned into detect-frame pixels. */
export function analyticsOptions(camera: string, cam: CameraConfig, width: number, height: number, newId: (timeMs: number) => string): CameraAnalyticsOptions {
  const px = (pts: readonly (readonly [number, number])[]) => toPixels(pts, width, height);
  return {
    camera,
    newId,
    tracker: {
      minHits: cam.tracker.min_hits,
      maxAgeMs: (cam.tracker.max_age_seconds ?? cam.events.end_after_seconds) * 1000,
      highScore: cam.tracker.high_score,
      lowScore: cam.tracker.low_score,
      iou: cam.tracker.iou,
    },
    stationaryMs: cam.events.stationary_seconds * 1000,
    gateStillMs: Math.min(cam.motion.still_seconds, cam.events.stationary_seconds) * 1000,
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
    ...(cam.signs
      ? {
          signs: {
            ...(cam.signs.labels ? { labels: cam.signs.labels } : {}),
            watch: cam.signs.watch.map((w) => ({
              label: w.label,
              zone: w.zone,
              polygon: px(cam.zones[w.zone]!.points),
              missingAfterMs: w.missing_after_seconds * 1000,
            })),
          },
        }
      : {}),
  };
}
