import type { Box } from "../core/geometry.js";
import type { Fix } from "./position.js";
import { destination, normalizeDeg } from "./geodesy.js";

/** What places a sign from its box: the camera's picture and the sign's real size. */
export interface SignOptics {
  /** detect-frame width, px (the boxes' coordinate space) */
  frameWidth: number;
  /** horizontal field of view, degrees */
  fieldOfViewDeg: number;
  /** a sign's face height, metres */
  signSizeM: number;
}

/** The focal length in pixels of a pinhole camera `width` px wide with this horizontal field of view. */
export function focalPx(width: number, fieldOfViewDeg: number): number {
  return width / 2 / Math.tan((fieldOfViewDeg * Math.PI) / 360);
}

/**
 * Where a sign stands, seen in `box` by a camera at `fix` (pinhole model, level camera looking along the
 * heading): its distance ahead from the box height against the sign's real size, its offset left or right
 * from the box centre's distance to the picture's middle. Null without a heading or with a degenerate box.
 */
export function signPosition(fix: Fix, box: Box, o: SignOptics): { lat: number; lon: number; ahead_m: number; right_m: number } | null {
  const h = box[3] - box[1];
  if (fix.heading === null || !(h > 0)) return null;
  const f = focalPx(o.frameWidth, o.fieldOfViewDeg);
  const ahead = (f * o.signSizeM) / h;
  const right = (((box[0] + box[2]) / 2 - o.frameWidth / 2) / f) * ahead;
  const bearing = normalizeDeg(fix.heading + (Math.atan2(right, ahead) * 180) / Math.PI);
  return { ...destination(fix, bearing, Math.hypot(ahead, right)), ahead_m: ahead, right_m: right };
}
