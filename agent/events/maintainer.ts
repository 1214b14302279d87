import type { Logger } from "pino";
import { area, CameraAnalytics, type CameraAnalyticsOptions, type RuleConfig } from "../analytics/camera-analytics.js";
import { FrameQuality, sharpness } from "../analytics/frame-quality.js";
import type { Occupancy } from "../analytics/zones.js";
import { lumaOf, type Frame } from "../camera/frame.js";
import type { CameraConfig } from "../config/schema.js";
import type { Box } from "../core/geometry.js";
import type { Detection } from "../core/detection.js";
import type { Fix } from "../core/fix.js";
import type { AnalyticsRule, Emitted, RecordEnvelope, RecordKind, RuleFrame } from "../core/records.js";
import { alarms, type RuleAlarm } from "../records/alarms.js";
import { occupancy, type OccupancyRecord } from "../records/occupancy.js";
import { recordKinds } from "../records/registry.js";
import type { Unstamped } from "./recorder.js";
import type { EvaEvent, EventChange } from "../core/event.js";
import type { SnapshotWriter } from "./snapshot.js";
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
  alarm(camera: string, alarm: RuleAlarm): void;
}

export interface MaintainerOptions {
  events: TrackEventOptions;
  analytics: CameraAnalyticsOptions;
  /** the camera's config, for the record kinds' rules */
  camera: CameraConfig;
}

/** A stream repeating one picture this long is frozen: sign watch stops counting until it changes. */
const FROZEN_MS = 10_000;

const ALARMS = alarms as unknown as Emitted["kind"];
const OCCUPANCY = occupancy as unknown as Emitted["kind"];

/**
 * The events stage for one camera: runs the analytics, the event rules and the record kinds' rules (zones,
 * lines, signs, counts; agent/records) on each processed frame, keeps the best frame of each open event and
 * sign pass for its snapshot, and hands every record to the sink. A failing snapshot write is logged and the
 * record still goes out (without the picture it is still a record).
 */
export class EventMaintainer {
  private readonly analytics: CameraAnalytics;
  private readonly rules: TrackEvents;
  private readonly camera: string;
  private readonly device: string;
  /** each record kind's rule for this camera */
  private readonly kindRules = new Map<RecordKind<never, never>, AnalyticsRule<RuleConfig>>();
  /** the same in registry order, whatever order they were added in: a rule sees what those before it emitted */
  private ordered: AnalyticsRule<RuleConfig>[] = [];
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
    // Retained state (each zone empty, each line's totals) goes out at start, so a control room sees it at once.
    this.recordAll(this.addRules(opts, Date.now()));
    this.onRecorded();
  }

  /**
   * Processes one frame's detections. Synchronous, so the frame may be released right after it returns.
   * `fix` is where the camera was (null without a position). Returns how many live tracks are not stationary
   * (motion gating analyses every frame while any is).
   */
  observe(frame: Frame, detections: readonly Detection[], fix: Fix | null = null): number {
    this.lastFrameTime = frame.time;
    const luma = lumaOf(frame);
    const { dark, frozen } = this.frameQuality.observe(frame.time, luma);
    const a = this.analytics.observe(frame.time, detections);
    const isObject = (label: string) => !this.analytics.isSign(label);
    const step = this.rules.observe(
      frame.time,
      a.tracks.filter((s) => isObject(s.track.label)),
      a.ended.filter((t) => isObject(t.label)),
    );
    for (const ev of step.improved) this.snapshots.capture(ev.id, frame);
    this.emit(step.changes);
    const emitted = this.observeRules({
      time: frame.time,
      tracks: a.tracks.map((s) => ({ id: s.track.id, label: s.track.label, zones: s.zones })),
      live: a.live,
      ended: a.ended,
      detections: a.detections,
      usable: !dark && !frozen,
      fix,
      quality: (b: Box) => (b[2] - b[0]) * (b[3] - b[1]) * (1 + sharpness(luma, frame.width, frame.height, b)),
      snapshot: (r) => {
        this.snapshots.capture(r.id, frame);
        return this.snapshots.pathFor(r);
      },
    });
    this.recordAll(emitted);
    if (emitted.length) this.onRecorded();
    return a.moving;
  }

  /**
   * A reload's settings, applied from the next frame without losing open events: event rules change in place;
   * each record kind's rule takes the new settings (edited zones empty and their alarms clear first; edited
   * lines announce their totals); changed tracker settings end the current tracks and start afresh.
   */
  reconfigure(opts: MaintainerOptions): void {
    this.rules.reconfigure(opts.events);
    const now = Date.now();
    const ended = this.analytics.reconfigure(opts.analytics);
    if (ended.length) {
      this.emit(this.rules.endAll(ended));
      // The rules see the tracks end as in a frame with nothing in it: sign passes are recorded, zones empty.
      this.recordAll(this.observeRules({ ...this.emptyFrame(now), ended }));
    }
    const time = Math.max(now, this.lastFrameTime);
    const out = this.ordered.flatMap((r) => r.reconfigure(opts, time));
    this.recordAll([...out, ...this.addRules(opts, now)]);
    this.onRecorded();
  }

  /** Ends every open event and empties the zones (camera ended, disabled or agent stopping). */
  endAll(): void {
    // A file read faster than real time dates its frames ahead of the wall clock: never end before the last one.
    const end = Math.max(Date.now(), this.lastFrameTime);
    const ended = this.analytics.endAll();
    this.emit(this.rules.endAll(ended));
    this.recordAll(this.ordered.flatMap((r) => r.endAll(end)));
    this.onRecorded();
  }

  /** The rules of the kinds that have none yet for this camera (at start, or zones, lines or signs added by a reload), started. */
  private addRules(opts: MaintainerOptions, time: number): Emitted[] {
    const out: Emitted[] = [];
    for (const kind of recordKinds) {
      if (this.kindRules.has(kind)) continue;
      const rule = kind.rule?.(this.camera, opts);
      if (!rule) continue;
      this.kindRules.set(kind, rule);
      out.push(...(rule.start?.(time) ?? []));
    }
    this.ordered = recordKinds.flatMap((k) => this.kindRules.get(k) ?? []);
    return out;
  }

  private observeRules(frame: Omit<RuleFrame, "emitted">): Emitted[] {
    const emitted: Emitted[] = [];
    // One view for all: `emitted` grows as each rule runs, so a rule sees what those before it made.
    const view: RuleFrame = { ...frame, emitted };
    for (const rule of this.ordered) emitted.push(...rule.observe(view));
    return emitted;
  }

  private emptyFrame(time: number): Omit<RuleFrame, "emitted"> {
    return { time, tracks: [], live: [], ended: [], detections: [], usable: false, fix: null, quality: area, snapshot: (r) => this.snapshots.pathFor(r) };
  }

  /**
   * Every rule's records go to the sink the same way, stamped with this camera and device. Alarms go to the
   * alarm book instead, which gives each its id (operators ack by it) and records it; a record with a picture
   * has its JPEG written.
   */
  private recordAll(emitted: readonly Emitted[]): void {
    for (const e of emitted) {
      if (e.kind === ALARMS) {
        this.sink.alarm(this.camera, e.record as RuleAlarm);
        continue;
      }
      if (e.kind === OCCUPANCY) this.sink.occupancy?.(this.camera, e.record as OccupancyRecord);
      this.sink.record(e.kind, { ...e.record, camera: this.camera, device: this.device } as never);
      if (e.picture) this.writeSnapshot("end", e.picture);
    }
  }

  private emit(changes: EventOutput[]): void {
    for (const { change, event } of changes) {
      if (change === "new") {
        event.snapshot = this.snapshots.pathFor(event);
        this.rules.setSnapshot(event.id, event.snapshot);
      } else if (event.snapshot && this.snapshots.lost(event.id)) {
        // Its JPEG could not be written and was given up: the record says it has none.
        event.snapshot = null;
        this.rules.setSnapshot(event.id, null);
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
