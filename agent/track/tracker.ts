import type { Box } from "../core/geometry.js";
import type { Detection } from "../core/detection.js";
import type { Track } from "../core/track.js";
import { expand, matchByIou, pairGreedily, type Matching } from "./association.js";
import { BoxKalman } from "./kalman.js";
import { median } from "./median.js";

export interface TrackerOptions {
  /** consecutive matched frames before a track is confirmed */
  minHits: number;
  /** a confirmed track not matched for longer than this dies, ms */
  maxAgeMs: number;
  /** detections at or above this score are matched first and may start tracks */
  highScore: number;
  /** detections between this and highScore only keep existing tracks alive (ByteTrack's second pass) */
  lowScore: number;
  /** least IoU between a track's predicted box and a detection for them to match */
  iou: number;
}

export type { Track };

export interface TrackerStep {
  /** every live track, tentative ones included, in id order */
  tracks: Track[];
  /** confirmed tracks that died in this step */
  ended: Track[];
}

const SCORE_HISTORY = 30;
/** how far boxes are grown for matching, per side, as a share of their size */
const MATCH_BUFFER = 0.3;
const grown = (boxes: readonly Box[]) => boxes.map((b) => expand(b, MATCH_BUFFER));

class LiveTrack {
  readonly kalman: BoxKalman;
  readonly votes = new Map<string, number>();
  readonly scores: number[] = [];
  medianScore = 0;
  predicted: Box;
  box: Box;
  score = 0;
  hits = 0;
  detected = true;
  confirmed = false;
  lastSeen: number;

  constructor(
    readonly id: number,
    det: Detection,
    readonly firstSeen: number,
  ) {
    this.kalman = new BoxKalman(det.box);
    this.predicted = det.box;
    this.box = det.box;
    this.lastSeen = firstSeen;
    this.observe(det, firstSeen);
  }

  observe(det: Detection, time: number): void {
    this.kalman.update(det.box);
    this.box = det.box;
    this.score = det.score;
    this.hits++;
    this.detected = true;
    this.lastSeen = time;
    this.votes.set(det.label, (this.votes.get(det.label) ?? 0) + det.score);
    this.scores.push(det.score);
    if (this.scores.length > SCORE_HISTORY) this.scores.shift();
    this.medianScore = median(this.scores);
  }

  label(): string {
    let best = "";
    let bestVote = -1;
    for (const [label, v] of this.votes) if (v > bestVote) [best, bestVote] = [label, v];
    return best;
  }

  view(): Track {
    return {
      id: this.id,
      label: this.label(),
      box: [...this.box],
      score: this.score,
      detected: this.detected,
      confirmed: this.confirmed,
      firstSeen: this.firstSeen,
      lastSeen: this.lastSeen,
      medianScore: this.medianScore,
      scoreCount: this.scores.length,
    };
  }
}

/** How far an object may walk while unseen, in its own heights per second (a brisk walk is about one)... */
const REACH_HEIGHTS_PER_S = 2;
/** ...up to this far: one lost for long may be anywhere, and a detection there is as likely someone else. */
const MAX_REACH_HEIGHTS = 2;

/**
 * Unmatched tracks to unmatched detections by the distance from the track's last detected box, nearest (in the
 * track's heights) first: within half its height plus how far it can have gone since, and of about its size
 * (a near and a far person differ in height).
 */
function matchNearLastSeen(tracks: readonly LiveTrack[], detections: readonly Detection[], time: number): Matching {
  const candidates: Array<[number, number, number]> = [];
  tracks.forEach((t, ti) => {
    const h = t.box[3] - t.box[1];
    const reach = h * Math.min(MAX_REACH_HEIGHTS, 0.5 + (REACH_HEIGHTS_PER_S * Math.max(0, time - t.lastSeen)) / 1000);
    detections.forEach((d, di) => {
      const dh = d.box[3] - d.box[1];
      if (dh < h * 0.7 || dh > h / 0.7) return;
      const dist = Math.hypot((d.box[0] + d.box[2] - t.box[0] - t.box[2]) / 2, (d.box[1] + d.box[3] - t.box[1] - t.box[3]) / 2);
      if (dist <= reach) candidates.push([dist / h, ti, di]);
    });
  });
  candidates.sort((a, b) => a[0] - b[0] || a[1] - b[1] || a[2] - b[2]);
  return pairGreedily(candidates, tracks.length, detections.length);
}

/**
 * ByteTrack-style multi-object tracker for one camera: Kalman-predicted boxes matched by (buffered) IoU to high-score
 * detections first, then to the low-score ones (a person half-hidden behind a post scores low but is still the
 * same person), tentative until `minHits` matches in a row, dead `maxAgeMs` after the last match. Matching
 * ignores labels — a detector flipping car/truck on one vehicle must not split it — and the track's label is
 * the score-weighted vote. Pure: time comes in with the detections.
 */
export class Tracker {
  private live: LiveTrack[] = [];
  private nextId = 1;
  private lastTime: number | null = null;

  constructor(private readonly opts: TrackerOptions) {}

  update(time: number, detections: readonly Detection[]): TrackerStep {
    const dt = this.lastTime === null ? 0 : Math.max(0, (time - this.lastTime) / 1000);
    this.lastTime = time;
    for (const t of this.live) {
      t.predicted = t.kalman.predict(dt);
      t.detected = false;
    }
    const high = detections.filter((d) => d.score >= this.opts.highScore);
    const low = detections.filter((d) => d.score < this.opts.highScore && d.score >= this.opts.lowScore);

    // First pass: established tracks (confirmed, including those lost for a while) take the confident detections.
    const established = this.live.filter((t) => t.confirmed);
    const first = matchByIou(grown(established.map((t) => t.predicted)), grown(high.map((d) => d.box)), this.opts.iou);
    for (const [ti, di] of first.pairs) established[ti]!.observe(high[di]!, time);
    let leftHigh = first.unmatchedDetections.map((i) => high[i]!);
    // Second pass: tracks still unmatched may take a low-score detection.
    const leftTracks = first.unmatchedTracks.map((i) => established[i]!);
    const second = matchByIou(grown(leftTracks.map((t) => t.predicted)), grown(low.map((d) => d.box)), this.opts.iou);
    for (const [ti, di] of second.pairs) leftTracks[ti]!.observe(low[di]!, time);
    // Last chance for an established track: a confident detection near where it was last seen. The prediction
    // carries the old velocity, so someone who turned, stopped or set off (more so across skipped frames) is far
    // from it; they would otherwise start a second track, a second event, while the first lingered for maxAgeMs.
    const unmatched = second.unmatchedTracks.map((i) => leftTracks[i]!);
    if (unmatched.length && leftHigh.length) {
      const byLastBox = matchNearLastSeen(unmatched, leftHigh, time);
      for (const [ti, di] of byLastBox.pairs) unmatched[ti]!.observe(leftHigh[di]!, time);
      leftHigh = byLastBox.unmatchedDetections.map((i) => leftHigh[i]!);
    }
    // Tentative tracks only grow on confident detections; the rest start new tracks.
    const tentative = this.live.filter((t) => !t.confirmed);
    const third = matchByIou(grown(tentative.map((t) => t.predicted)), grown(leftHigh.map((d) => d.box)), this.opts.iou);
    for (const [ti, di] of third.pairs) tentative[ti]!.observe(leftHigh[di]!, time);
    for (const di of third.unmatchedDetections) this.live.push(new LiveTrack(this.nextId++, leftHigh[di]!, time));

    const ended: Track[] = [];
    this.live = this.live.filter((t) => {
      if (!t.confirmed) {
        // A tentative track missing a frame was noise: ByteTrack drops it at once.
        if (!t.detected) return false;
        if (t.hits >= this.opts.minHits) t.confirmed = true;
        return true;
      }
      if (!t.detected && time - t.lastSeen > this.opts.maxAgeMs) {
        ended.push(t.view());
        return false;
      }
      return true;
    });
    return { tracks: this.live.map((t) => t.view()), ended };
  }

  /** Ends every confirmed track (camera ended or agent stopping). */
  endAll(): Track[] {
    const ended = this.live.filter((t) => t.confirmed).map((t) => t.view());
    this.live = [];
    return ended;
  }
}
