import type { TilesConfig } from "../config/tiles-schema.js";
import type { Box } from "../core/geometry.js";
import type { Detection } from "../core/detection.js";

/** Integer frame-pixel rectangles x1, y1, x2, y2 (exclusive) the model runs on, tiles first. */
export function tileRects(frameWidth: number, frameHeight: number, cfg: TilesConfig): Box[] {
  const [rx1, ry1, rx2, ry2] = cfg.region ?? [0, 0, frameWidth, frameHeight];
  const x1 = Math.max(0, Math.floor(rx1));
  const y1 = Math.max(0, Math.floor(ry1));
  const x2 = Math.min(frameWidth, Math.ceil(rx2));
  const y2 = Math.min(frameHeight, Math.ceil(ry2));
  if (x2 - x1 < 2 || y2 - y1 < 2) return [[0, 0, frameWidth, frameHeight]];
  const [cols, rows] = cfg.grid;
  const rects: Box[] = [];
  const span = (lo: number, hi: number, n: number, i: number): [number, number] => {
    // n tiles of size t overlapping by overlap·t cover hi − lo: t·(n − (n − 1)·overlap) = hi − lo
    const t = (hi - lo) / (n - (n - 1) * cfg.overlap);
    const start = lo + i * t * (1 - cfg.overlap);
    return [Math.floor(start), i === n - 1 ? hi : Math.min(hi, Math.ceil(start + t))];
  };
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) {
      const [tx1, tx2] = span(x1, x2, cols, c);
      const [ty1, ty2] = span(y1, y2, rows, r);
      rects.push([tx1, ty1, tx2, ty2]);
    }
  }
  const whole: Box = [0, 0, frameWidth, frameHeight];
  if (cfg.full_frame && !rects.some((t) => t.every((v, i) => v === whole[i]))) rects.push(whole);
  return rects;
}

function overlap(a: Box, b: Box): { iou: number; ios: number } {
  const iw = Math.min(a[2], b[2]) - Math.max(a[0], b[0]);
  const ih = Math.min(a[3], b[3]) - Math.max(a[1], b[1]);
  if (iw <= 0 || ih <= 0) return { iou: 0, ios: 0 };
  const inter = iw * ih;
  const areaA = (a[2] - a[0]) * (a[3] - a[1]);
  const areaB = (b[2] - b[0]) * (b[3] - b[1]);
  return { iou: inter / (areaA + areaB - inter), ios: inter / Math.min(areaA, areaB) };
}

/**
 * Merges the boxes of all tiles, best first (SAHI's greedy merge, simplified): a box is dropped when a kept one
 * of its class (any class with `classAgnostic`) overlaps it by more than `iou`, or holds most of it
 * (intersection over the smaller box above `ios`): the same object seen twice, or cut by a tile border.
 */
export function mergeTileDetections(detections: readonly Detection[], iou: number, ios: number, classAgnostic: boolean): Detection[] {
  const order = detections.map((_, i) => i).sort((a, b) => detections[b].score - detections[a].score || a - b);
  const kept: Detection[] = [];
  for (const i of order) {
    const d = detections[i];
    const same = kept.some((k) => {
      if (!classAgnostic && k.label !== d.label) return false;
      const o = overlap(k.box, d.box);
      return o.iou > iou || o.ios > ios;
    });
    if (!same) kept.push(d);
  }
  return kept;
}
