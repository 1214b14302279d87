import { mkdir, rm, stat } from "node:fs/promises";
import path from "node:path";
import type { Logger } from "pino";
import { Backoff } from "../camera/backoff.js";
import { cutClip, sourceKind, startSegmentRecorder, summarizeStderr, type SegmentEntry, type SegmentRecorderProcess } from "../camera/ffmpeg.js";
import type { RecordConfig } from "../config/record-schema.js";
import type { EvaEvent, EventChange, EventClip } from "../core/event.js";
import { SegmentRing, type Span } from "./segment-ring.js";

export interface ClipRecorderOptions {
  camera: string;
  source: string;
  loop: boolean;
  realtime: boolean;
  rtspTransport: "tcp" | "udp";
  timeoutSeconds: number;
  record: RecordConfig;
  /** storage.clips: clips go to `<dir>/<camera>/<event id>.mp4`, the ring to `<dir>/<camera>/segments/` */
  dir: string;
  /** target segment length (a segment ends at the first key frame after it) */
  segmentSeconds?: number;
  /** an ended event's clip is on disk */
  onClip(ev: EvaEvent, clip: EventClip): void;
  log: Logger;
}

interface Pending {
  ev: EvaEvent;
  span: Span;
  /** wall clock: cut with the segments there are by then, even if the span's end is not recorded */
  waitUntil: number;
  /** wall clock: a clip that still cannot be written (disk full) is given up then */
  giveUpAt: number;
  nextTryAt: number;
  failures: number;
}

/**
 * A segment closes at the first key frame after this: about one per GOP on a camera (key frames every 1–4 s), so
 * a clip starts at most a key-frame interval before its pre-roll.
 */
const SEGMENT_SECONDS = 1;
/** Slack after a clip's end for its last segment to close: a camera's key frames may be several seconds apart. */
const CLOSE_SLACK_MS = 30_000;
/** How long a clip that cannot be written (disk full) waits, its segments kept, for space to come back. */
const HOLD_MS = 10 * 60_000;
const RETRY_MS = 5000;
/** A file read faster than real time dates frames by the clip, not the wall clock: its ring keeps the last hour. */
const BATCH_KEEP_MS = 3_600_000;

/**
 * One camera's event clips: a second ffmpeg copies the camera's stream into short segments (the ring buffer,
 * restarted with backoff like the camera's own), and each ended event's clip, from `pre_seconds` before its
 * start to `post_seconds` after its end, is cut from them once they are on disk. A clip that cannot be written
 * (disk full) is tried again, its segments kept, until space returns or HOLD_MS pass; its event is told of the
 * clip only once the MP4 is on disk.
 */
export class ClipRecorder {
  private readonly ring = new SegmentRing();
  private readonly backoff = new Backoff();
  private proc: SegmentRecorderProcess | null = null;
  /** open events: where their clip starts */
  private readonly open = new Map<string, number>();
  private readonly pending: Pending[] = [];
  private cutting: Promise<void> | null = null;
  private tickTimer: NodeJS.Timeout | null = null;
  private restartTimer: NodeJS.Timeout | null = null;
  private stderr: string[] = [];
  private spawnedAt = 0;
  private starts = 0;
  /** no more segments are coming: a file played to its end, or the recorder stopped */
  private done = false;
  private stopping = false;
  private readonly segmentMs: number;
  readonly segmentsDir: string;
  readonly clipsDir: string;

  constructor(private readonly o: ClipRecorderOptions) {
    this.segmentMs = (o.segmentSeconds ?? SEGMENT_SECONDS) * 1000;
    this.clipsDir = path.join(o.dir, o.camera);
    this.segmentsDir = path.join(this.clipsDir, "segments");
  }

  /** the recorder's ffmpeg, while it runs (its CPU is recording's cost) */
  get pid(): number | undefined {
    return this.proc?.pid;
  }

  /** a file read faster than real time: its frames are dated from the start, not by the wall clock */
  private get batch(): boolean {
    return sourceKind(this.o.source) === "file" && !this.o.realtime;
  }

  async start(): Promise<void> {
    // Segments left by an earlier run have no index: they can make no clip.
    await rm(this.segmentsDir, { recursive: true, force: true });
    await mkdir(this.segmentsDir, { recursive: true });
    if (this.stopping) return;
    this.tickTimer = setInterval(() => this.tick(), 500);
    this.tickTimer.unref();
    this.spawn();
  }

  /** An event changed: an open event keeps its pre-roll on disk; an ended one has its clip cut. */
  observe(change: EventChange, ev: EvaEvent): void {
    const r = this.o.record;
    const start = Date.parse(ev.start_time) - r.pre_seconds * 1000;
    if (change === "new") this.open.set(ev.id, start);
    if (change !== "end" || !ev.end_time) return;
    const fromMs = this.open.get(ev.id) ?? start;
    this.open.delete(ev.id);
    const toMs = Math.min(Date.parse(ev.end_time) + r.post_seconds * 1000, fromMs + r.max_seconds * 1000);
    const now = Date.now();
    const waitUntil = now + (this.batch ? 0 : Math.max(0, toMs - now)) + CLOSE_SLACK_MS;
    this.pending.push({ ev: { ...ev }, span: { fromMs, toMs }, waitUntil, giveUpAt: waitUntil + HOLD_MS, nextTryAt: 0, failures: 0 });
    this.tick();
  }

  /**
   * Stops recording: ffmpeg closes the segment it has open, the clips still to cut are cut from what there is
   * (tried once more if they fail), and the ring is removed.
   */
  async stop(): Promise<void> {
    this.stopping = true;
    if (this.restartTimer) clearTimeout(this.restartTimer);
    if (this.tickTimer) clearInterval(this.tickTimer);
    this.restartTimer = this.tickTimer = null;
    await this.proc?.finish(2000);
    this.done = true;
    await this.cutting;
    for (const p of this.pending) p.nextTryAt = 0;
    await this.cutReady(Date.now(), true);
    const left = this.pending.splice(0);
    for (const p of left) this.o.log.error({ camera: this.o.camera, event: p.ev.id }, "event clip not written before the recorder stopped");
    await rm(this.segmentsDir, { recursive: true, force: true });
  }

  private spawn(): void {
    this.stderr = [];
    this.spawnedAt = Date.now();
    this.done = false;
    const prefix = `${this.spawnedAt.toString(36)}-${this.starts++}`;
    let segments = 0;
    const proc = startSegmentRecorder(
      { ...this.o, dir: this.segmentsDir, prefix, segmentSeconds: this.segmentMs / 1000 },
      {
        onSegment: (s) => {
          segments++;
          this.added(s);
        },
        onStderr: (line) => {
          this.stderr.push(line);
          if (this.stderr.length > 20) this.stderr.shift();
        },
        onExit: (err) => {
          if (this.proc !== proc) return;
          this.proc = null;
          if (this.stopping) return;
          if (!err && sourceKind(this.o.source) === "file" && !this.o.loop) {
            this.done = true; // the whole file is in the ring
            this.tick();
            return;
          }
          const delay = this.backoff.next(segments);
          const reason = summarizeStderr(this.stderr) || err?.message || "ffmpeg ended";
          this.o.log.warn({ camera: this.o.camera, reason, delayMs: delay }, "recording stopped; restarting");
          this.restartTimer = setTimeout(() => {
            this.restartTimer = null;
            if (!this.stopping) this.spawn();
          }, delay);
        },
      },
    );
    this.proc = proc;
  }

  /** A segment closed: it is dated, the ring pruned behind it, and clips waiting for it cut. */
  private added(e: SegmentEntry): void {
    const ms = (e.end - e.start) * 1000;
    // A live stream is dated by the wall clock when its segment closes (the moment its last frame arrived), as
    // its frames are when they arrive; a file read ahead of real time by its place in the file, as its frames are.
    const endMs = this.batch ? this.spawnedAt + e.end * 1000 : Date.now();
    this.ring.add({ file: e.file, startMs: endMs - ms, endMs });
    void this.prune();
    this.tick();
  }

  /** Deletes segments no clip can need: older than the pre-roll, and in no open event's or waiting clip's span. */
  private async prune(): Promise<void> {
    const r = this.o.record;
    const keepMs = this.batch ? BATCH_KEEP_MS : r.pre_seconds * 1000 + 2 * this.segmentMs;
    const kept: Span[] = [...this.open.values()].map((fromMs) => ({ fromMs, toMs: fromMs + r.max_seconds * 1000 }));
    for (const p of this.pending) kept.push(p.span);
    const gone = this.ring.prune(this.ring.latestEndMs - keepMs, kept);
    await Promise.all(gone.map((s) => rm(s.file, { force: true })));
  }

  private tick(): void {
    if (this.cutting || !this.pending.length) return;
    this.cutting = this.cutReady(Date.now(), false).finally(() => (this.cutting = null));
  }

  /** Cuts every waiting clip whose span is recorded (or that waited long enough), one at a time. */
  private async cutReady(now: number, last: boolean): Promise<void> {
    for (const p of [...this.pending]) {
      const recorded = this.ring.latestEndMs >= p.span.toMs || this.done || now >= p.waitUntil;
      if (!recorded || now < p.nextTryAt) continue;
      const ok = await this.cut(p);
      if (ok || last || Date.now() >= p.giveUpAt) this.pending.splice(this.pending.indexOf(p), 1);
      if (!ok && !last && Date.now() >= p.giveUpAt)
        this.o.log.error({ camera: this.o.camera, event: p.ev.id, failures: p.failures }, "event clip given up: it could not be written");
    }
  }

  /** true when the clip is written, or there is no recording to make it from (nothing to wait for). */
  private async cut(p: Pending): Promise<boolean> {
    const plan = this.ring.plan(p.span);
    if (!plan) {
      this.o.log.warn({ camera: this.o.camera, event: p.ev.id }, "no recording for this event's clip");
      return true;
    }
    // A segment ffmpeg listed but could not finish (disk full) is not there, or empty: the clip does without it.
    const sizes = await Promise.all(
      plan.segments.map((s) =>
        stat(s.file).then(
          (st) => st.size,
          () => 0,
        ),
      ),
    );
    const segments = plan.segments.filter((_, i) => sizes[i]! > 0);
    if (!segments.length) {
      this.o.log.warn({ camera: this.o.camera, event: p.ev.id }, "no recording for this event's clip");
      return true;
    }
    const missingMs = plan.segments.reduce((t, s, i) => t + (sizes[i] ? 0 : s.endMs - s.startMs), 0);
    const out = path.join(this.clipsDir, `${p.ev.id}.mp4`);
    try {
      const r = await cutClip({ segments: segments.map((s) => s.file), durationSeconds: plan.durationSeconds - missingMs / 1000, out });
      this.o.onClip(p.ev, { path: out, duration_seconds: Math.round(r.durationSeconds * 1000) / 1000, bytes: r.bytes });
      if (p.failures) this.o.log.info({ camera: this.o.camera, event: p.ev.id, failures: p.failures }, "held event clip written");
      return true;
    } catch (err) {
      p.failures++;
      p.nextTryAt = Date.now() + RETRY_MS;
      if (p.failures === 1)
        this.o.log.error(
          { camera: this.o.camera, event: p.ev.id, err: (err as Error).message },
          "event clip could not be written; trying again until space returns",
        );
      return false;
    }
  }
}
