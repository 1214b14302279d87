import type { Logger } from "pino";
import { CameraAnalytics, type CameraAnalyticsOptions, type TrackState } from "../analytics/camera-analytics.js";
import { FrameQuality, sharpness } from "../analytics/frame-quality.js";
import type { SignSighting } from "../analytics/sign-sightings.js";
import type { SignAlarm } from "../analytics/sign-watch.js";
import type { Occupancy, ZoneAlarm } from "../analytics/zones.js";
import type { Frame } from "../camera/frame.js";
import type { CameraConfig } from "../config/schema.js";
import type { Box } from "../core/geometry.js";
import type { Detection } from "../core/detection.js";
import type { AnalyticsRule, Emitted, RecordEnvelope, RecordKind, RuleFrame } from "../core/records.js";
import { crossings } from "../records/crossings.js";
import { lineTotals } from "../records/line-totals.js";
import { occupancy } from "../records/occupancy.js";
import { recordKinds } from "../records/registry.js";
import { sightings } from "../records/sightings.js";
import type { Unstamped } from "./recorder.js";
import type { EvaEvent, EventChange } from "../core/event.js";
import { SnapshotWriter } from "./snapshot.js";
import { TrackEvents, type EventOutput, type TrackEventOptions } from "./track-events.js";

/**
 * Where decisions go: the store writes each with its outbox message in one transaction, so whatever is stored
 * is published and nothing else is.
 */
export interface EventSink {
  recordEvent(change: EventChange, ev: EvaEvent): void;
  /** any record kind (agent/records): crossings, line totals, sightings, occupancy, count reports, … */
  record<T extends RecordEnvelope>(kind: RecordKind<T, never>, record: Unstamped<T>): void;
  /** a zone's occupancy changed (it is also recorded, retained on occupancy/<camera>/<zone>) */
  occupancy?(camera: string, o: Occupancy): void;
  /** an analytics alarm raised or cleared; the control-room API's alarm book gives it an id operators can ack */
  alarm(camera: string, alarm: ZoneAlarm | SignAlarm): void;
}

export interface MaintainerOptions {
  events: TrackEventOptions;
  analytics: CameraAnalyticsOptions;
  /** the camera's config, for the record kinds' rules (count reports) */
  camera: CameraConfig;
}

/** A stream repeating one picture this long is frozen: sign watch stops counting until it changes. */
const FROZEN_MS = 10_000;

/**
 * The events stage for one camera: runs the pure analytics and event rules on each processed frame, keeps the
 * best frame of each open event for its snapshot, and hands every decision to the sink — events, crossings,
 * alarms, and retained occupancy per zone. A failing snapshot write is logged and the event still goes out
 * (without the picture it is still an event).
 */
export class EventMaintainer {
  private readonly analytics: CameraAnalytics;
  private readonly rules: TrackEvents;
  private readonly camera: string;
  private readonly device: string;
  /** the record kinds' own rules (agent/records), beside the analytics */
  private readonly kindRules: AnalyticsRule<CameraConfig>[];
  private lineNames: string[];
  private readonly frameQuality = new FrameQuality(FROZEN_MS);
  private lastFrameTime = 0;

  constructor(
    opts: MaintainerOptions,
    private readonly snapshots: SnapshotWriter,
    private readonly sink: EventSink,
    private readonly onRecorded: () => void,
    private readonly log: Logger,
  ) {
    this.camera = opts.events.camera;
    this.device = opts.events.device;
    this.analytics = new CameraAnalytics(opts.analytics);
    this.rules = new TrackEvents(opts.events);
    this.kindRules = recordKinds.flatMap((k) => k.rule?.(this.camera, opts.camera) ?? []);
    this.lineNames = opts.analytics.lines.map((l) => l.name);
    // Retained, so a control room subscribing later sees each zone's state; empty until the first frame says otherwise.
    this.publishOccupancy(this.analytics.initialOccupancy(), Date.now());
    this.announceLines(Date.now());
    this.onRecorded();
  }

  /**
   * Processes one frame's detections. Synchronous, so the frame may be released right after it returns.
   * Returns how many live tracks are not stationary (motion gating analyses every frame while any is).
   */
  observe(frame: Frame, detections: readonly Detection[]): number {
    this.lastFrameTime = frame.time;
    const { dark, frozen } = this.frameQuality.observe(frame.time, frame.data);
    const quality = (b: Box) => (b[2] - b[0]) * (b[3] - b[1]) * (1 + sharpness(frame.data, frame.width, frame.height, b));
    const a = this.analytics.observe(frame.time, detections, { usable: !dark && !frozen, quality });
    const isObject = (label: string) => !this.analytics.isSign(label);
    const step = this.rules.observe(
      frame.time,
      a.tracks.filter((s) => isObject(s.track.label)),
      a.ended.filter((t) => isObject(t.label)),
    );
    for (const ev of step.improved) this.snapshots.capture(ev.id, frame);
    this.emit(step.changes);
    for (const s of a.sightings.improved) {
      if (!s.snapshot) this.analytics.setSightingSnapshot(s.id, this.snapshots.pathFor(s));
      this.snapshots.capture(s.id, frame);
    }
    this.recordSightings(a.sightings.done);
    for (const c of a.crossings) this.record(crossings, { ...c });
    this.publishAlarms(a.alarms);
    this.publishOccupancy(a.occupancy, frame.time);
    const emitted = this.kindRules.length ? this.observeRules(frame.time, a.tracks, a.crossings) : [];
    this.recordAll(emitted);
    if (a.crossings.length || a.alarms.length || a.occupancy.length || a.sightings.done.length || emitted.length) this.onRecorded();
    return a.moving;
  }

  /**
   * A reload's settings, applied from the next frame without losing open events: event rules change in place;
   * edited zones, lines, masks or sign watch replace the old ones (their occupancy empties and their alarms
   * clear first); changed tracker settings end the current tracks and start afresh.
   */
  reconfigure(opts: MaintainerOptions): void {
    this.rules.reconfigure(opts.events);
    const now = Date.now();
    const a = this.analytics.reconfigure(opts.analytics, now);
    if (a.ended.length) this.emit(this.rules.endAll(a.ended));
    this.recordSightings(a.sightings.done);
    this.publishAlarms(a.alarms);
    this.publishOccupancy(a.occupancy, now);
    this.recordAll(this.kindRules.flatMap((r) => r.reconfigure(opts.camera, Math.max(now, this.lastFrameTime))));
    this.lineNames = opts.analytics.lines.map((l) => l.name);
    this.announceLines(now);
    this.onRecorded();
  }

  /** Ends every open event and empties the zones (camera ended, disabled or agent stopping). */
  endAll(): void {
    // A file read faster than real time dates its frames ahead of the wall clock: never end before the last one.
    const end = Math.max(Date.now(), this.lastFrameTime);
    const a = this.analytics.endAll(end);
    this.emit(this.rules.endAll(a.ended));
    this.recordSightings(a.sightings.done);
    this.publishAlarms(a.alarms);
    this.publishOccupancy(a.occupancy, end);
    this.recordAll(this.kindRules.flatMap((r) => r.endAll(end)));
    this.onRecorded();
  }

  /** A pass is stored once it ends, with the JPEG of its best view (the box and class drawn). */
  private recordSightings(done: readonly SignSighting[]): void {
    for (const s of done) {
      this.record(sightings, s);
      const picture: EvaEvent = {
        id: s.id,
        device: "",
        camera: s.camera,
        label: s.label,
        start_time: s.first_seen,
        end_time: s.last_seen,
        top_score: s.score,
        box: s.box,
        snapshot: s.snapshot,
      };
      this.writeSnapshot("end", picture);
    }
  }

  private publishAlarms(alarms: ReadonlyArray<ZoneAlarm | SignAlarm>): void {
    for (const a of alarms) this.sink.alarm(this.camera, a);
  }

  private publishOccupancy(changes: readonly Occupancy[], time: number): void {
    for (const o of changes) {
      this.sink.occupancy?.(this.camera, o);
      this.record(occupancy, { zone: o.zone, counts: o.counts, total: o.total, time });
    }
  }

  /** Retained line totals as they stand, so a dashboard shows a line's count before its first crossing of this run. */
  private announceLines(time: number): void {
    for (const line of this.lineNames) this.record(lineTotals, { line, time });
  }

  /** A record of this camera and device. */
  private record<T extends RecordEnvelope>(kind: RecordKind<T, never>, record: Omit<Unstamped<T>, "camera" | "device">): void {
    this.sink.record(kind, { ...record, camera: this.camera, device: this.device } as Unstamped<T>);
  }

  private observeRules(time: number, tracks: readonly TrackState[], crossings: RuleFrame["crossings"]): Emitted[] {
    const view: RuleFrame = { time, tracks: tracks.map((s) => ({ id: s.track.id, label: s.track.label, zones: s.zones })), crossings };
    return this.kindRules.flatMap((r) => r.observe(view));
  }

  private recordAll(emitted: readonly Emitted[]): void {
    for (const e of emitted) this.sink.record(e.kind, { ...e.record, camera: this.camera, device: this.device } as never);
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
