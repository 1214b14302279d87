import { boxIou, type Box } from "../core/geometry.js";

/** The tracker's overlap measure: plain IoU of two boxes. */
export const iou = boxIou;

/**
 * The box grown by `ratio` of its width and height on every side. Matching on grown boxes (the buffered IoU of
 * C-BIoU, Yang et al. 2023) keeps a track whose object jumped further than its own width between frames —
 * low frame rates, a dropped frame, someone starting to walk — where plain IoU would be zero.
 */
export function expand(b: Box, ratio: number): Box {
  const dx = (b[2] - b[0]) * ratio;
  const dy = (b[3] - b[1]) * ratio;
  return [b[0] - dx, b[1] - dy, b[2] + dx, b[3] + dy];
}

export interface Matching {
  /** [track index, detection index] */
  pairs: Array<[number, number]>;
  unmatchedTracks: number[];
  unmatchedDetections: number[];
}

/**
 * Pairs tracks with detections by IoU, best pairs first, each side used once, pairs below `minIou` refused.
 * Greedy rather than Hungarian: with the handful of objects a camera sees it gives the same pairs in all but
 * contrived overlaps, and it is a dozen lines anyone can check.
 */
export function matchByIou(tracks: readonly Box[], detections: readonly Box[], minIou: number): Matching {
  const candidates: Array<[number, number, number]> = [];
  for (let t = 0; t < tracks.length; t++) {
    for (let d = 0; d < detections.length; d++) {
      const v = iou(tracks[t]!, detections[d]!);
      if (v >= minIou && v > 0) candidates.push([v, t, d]);
    }
  }
  candidates.sort((a, b) => b[0] - a[0] || a[1] - b[1] || a[2] - b[2]);
  return pairGreedily(candidates, tracks.length, detections.length);
}

/** Pairs from [score, track, detection] candidates in the order given, each side used once. */
export function pairGreedily(candidates: ReadonlyArray<readonly [number, number, number]>, tracks: number, detections: number): Matching {
  const usedT = new Set<number>();
  const usedD = new Set<number>();
  const pairs: Array<[number, number]> = [];
  for (const [, t, d] of candidates) {
    if (usedT.has(t) || usedD.has(d)) continue;
    usedT.add(t);
    usedD.add(d);
    pairs.push([t, d]);
  }
  return {
    pairs,
    unmatchedTracks: Array.from({ length: tracks }, (_, i) => i).filter((i) => !usedT.has(i)),
    unmatchedDetections: Array.from({ length: detections }, (_, i) => i).filter((i) => !usedD.has(i)),
  };
}
