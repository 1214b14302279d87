import type { CameraConfig } from "../config/schema.js";
import type { Box } from "../core/geometry.js";
import type { Detection } from "../core/detection.js";
import { StationaryClassifier } from "../track/stationary.js";
import { Tracker, type Track } from "../track/tracker.js";
import { bottomCentre, pointInPolygon, toPixels, type Point, type Polygon } from "../core/geometry.js";
import type { LineSpec } from "./line-crossings.js";
import type { SignOptics } from "../geo/sign-position.js";
import type { AssetSettings, SignAssetBook } from "./sign-assets.js";
import type { ExpectedSign } from "./sign-watch.js";
import { inZone, type ZoneSpec } from "./zones.js";

export interface CameraAnalyticsOptions {
  tracker: ConstructorParameters<typeof Tracker>[0];
  stationaryMs: number;
  /** a track still for this long stops counting as moving for motion gating (motion.still_seconds) */
  gateStillMs: number;
  masks: readonly Polygon[];
  zones: readonly ZoneSpec[];
  lines: readonly LineSpec[];
  /**
   * traffic signs: which labels are signs (all when absent), which must keep being seen, how a box places a
   * sign, and the inventory located sightings merge into (a camera with a position source)
   */
  signs?: { labels?: readonly string[]; watch: readonly ExpectedSign[]; optics: SignOptics; assets: AssetSettings & { book?: SignAssetBook } };
  /** for sighting ids */
  camera: string;
  newId: (timeMs: number) => string;
}

/** One confirmed live track with what the analytics know about it. */
export interface TrackState {
  track: Track;
  zones: string[];
  stationary: boolean;
}

export interface AnalyticsStep {
  tracks: TrackState[];
  /** every live track, tentative ones included, in id order */
  live: Track[];
  /** live tracks, tentative ones included, that moved within motion.still_seconds: motion gating keeps analysing while any is */
  moving: number;
  /** confirmed tracks that died in this frame */
  ended: Track[];
  /** the frame's detections outside the masks */
  detections: readonly Detection[];
}

/** What a record kind's rule (agent/records) is built from: the camera's config, and its analytics in detect-frame pixels. */
export interface RuleConfig {
  camera: CameraConfig;
  analytics: CameraAnalyticsOptions;
}

export const area = (b: Box): number => (b[2] - b[0]) * (b[3] - b[1]);

/**
 * What one camera derives from its detections before any rule: masks, tracks, the zones each track stands in
 * and stationary state. Pure: a frame's time and detections in, plain data out; the record kinds' rules
 * (zones, lines, signs, counts) and the event rules take it from there.
 */
export class CameraAnalytics {
  private tracker: Tracker;
  private stationary: StationaryClassifier;
  /** the same test over a short window: what keeps motion gating open */
  private still: StationaryClassifier;

  constructor(private opts: CameraAnalyticsOptions) {
    this.tracker = new Tracker(opts.tracker);
    this.stationary = new StationaryClassifier(opts.stationaryMs);
    this.still = new StationaryClassifier(opts.gateStillMs);
  }

  /** Whether tracks of this label are signs (sightings) rather than objects (events). */
  isSign(label: string): boolean {
    return !!this.opts.signs && (!this.opts.signs.labels || this.opts.signs.labels.includes(label));
  }

  observe(time: number, detections: readonly Detection[]): AnalyticsStep {
    const kept = this.opts.masks.length ? detections.filter((d) => !this.masked(bottomCentre(d.box))) : detections;
    const { tracks, ended } = this.tracker.update(time, kept);
    const confirmed = tracks.filter((t) => t.confirmed);
    const alive = new Set(tracks.map((t) => t.id));
    this.stationary.retain(alive);
    this.still.retain(alive);
    const states = confirmed.map((track) => ({
      track,
      zones: this.opts.zones.filter((z) => inZone(z, track)).map((z) => z.name),
      stationary: this.stationary.observe(track, time),
    }));
    // Gating needs every frame only while something moves: a track (tentative ones too) still for
    // gateStillMs is looked at again on motion or at the keepalive rate, long before it is stationary.
    let moving = 0;
    for (const t of tracks) if (!this.still.observe(t, time)) moving++;
    return { tracks: states, live: tracks, moving, ended, detections: kept };
  }

  /**
   * Takes edited settings (a config reload) from the next frame. Tracks survive unless the tracker's own
   * settings changed; then they end (returned), as when the camera stops.
   */
  reconfigure(next: CameraAnalyticsOptions): Track[] {
    const trackerChanged = JSON.stringify(next.tracker) !== JSON.stringify(this.opts.tracker) || next.stationaryMs !== this.opts.stationaryMs;
    if (trackerChanged || next.gateStillMs !== this.opts.gateStillMs) this.still = new StationaryClassifier(next.gateStillMs);
    const ended = trackerChanged ? this.endAll() : [];
    if (trackerChanged) {
      this.tracker = new Tracker(next.tracker);
      this.stationary = new StationaryClassifier(next.stationaryMs);
    }
    this.opts = next;
    return ended;
  }

  /** Ends every track (camera ended, agent stopping). */
  endAll(): Track[] {
    return this.tracker.endAll();
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
            optics: { frameWidth: width, fieldOfViewDeg: cam.field_of_view_degrees, signSizeM: cam.signs.size_m },
            assets: {
              radiusM: cam.signs.assets.radius_m,
              headingToleranceDeg: cam.signs.assets.heading_tolerance_degrees,
              missingAfterPasses: cam.signs.assets.missing_after_passes,
            },
          },
        }
      : {}),
  };
}
