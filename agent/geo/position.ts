import type { Fix } from "../core/fix.js";
import { bearingDeg, destination, distanceM, interpolateHeading } from "./geodesy.js";

export type { Fix, FixQuality } from "../core/fix.js";

/** What a source needs to know of a frame to place it: its time and its place in the clip. */
export interface FrameMoment {
  /** ms since epoch, as the camera dated the frame */
  time: number;
  /** frame number since the camera's ffmpeg started (a file clip: its place in the clip) */
  seq: number;
}

/** Where a camera is: a fixed location, live GPS (gpsd) or a recorded track. */
export interface PositionSource {
  /** what it reads, for logs */
  readonly describe: string;
  start(): void;
  stop(): void;
  /** the camera's position at this frame, or null without a fix then */
  fixAt(frame: FrameMoment): Fix | null;
}

/** The fix between two fixes at `time` (a ≤ time ≤ b): position and speed linear, heading the short way round. */
export function interpolateFix(a: Fix, b: Fix, time: number): Fix {
  const span = b.time - a.time;
  const t = span > 0 ? Math.min(1, Math.max(0, (time - a.time) / span)) : 0;
  const heading = a.heading !== null && b.heading !== null ? interpolateHeading(a.heading, b.heading, t) : (a.heading ?? b.heading);
  const speed = a.speed !== null && b.speed !== null ? a.speed + (b.speed - a.speed) * t : (a.speed ?? b.speed);
  return {
    time,
    lat: a.lat + (b.lat - a.lat) * t,
    lon: a.lon + (b.lon - a.lon) * t,
    heading,
    speed,
    fix: t < 0.5 ? a.fix : b.fix,
  };
}

/** A fix carried forward by its speed and heading (a frame a little after the latest GPS report). */
export function extrapolateFix(f: Fix, time: number): Fix {
  const dt = (time - f.time) / 1000;
  if (dt <= 0 || f.speed === null || f.heading === null) return { ...f, time };
  return { ...destination(f, f.heading, f.speed * dt), time, heading: f.heading, speed: f.speed, fix: f.fix };
}

/**
 * The fix at `time` in fixes sorted by time: interpolated between the two around it, null outside them.
 * `from` is where to start looking (the previous answer's index: frames come in order).
 */
export function fixInTrack(fixes: readonly Fix[], time: number, from = 0): { fix: Fix | null; index: number } {
  const n = fixes.length;
  if (!n || time < fixes[0]!.time || time > fixes[n - 1]!.time) return { fix: null, index: 0 };
  let i = from < n && fixes[from]!.time <= time ? from : 0;
  if (fixes[i]!.time > time) i = 0;
  // frames come in order: a short walk forward from the last index, a binary search after a jump
  if (n - i > 8 && fixes[Math.min(n - 1, i + 8)]!.time < time) {
    let lo = i;
    let hi = n - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (fixes[mid]!.time <= time) lo = mid;
      else hi = mid - 1;
    }
    i = lo;
  } else while (i + 1 < n && fixes[i + 1]!.time <= time) i++;
  const a = fixes[i]!;
  const b = fixes[Math.min(n - 1, i + 1)]!;
  return { fix: interpolateFix(a, b, time), index: i };
}

/**
 * Heading and speed where a track leaves them out (GPX rarely carries either): from the neighbouring fixes.
 * Fixes closer than a metre keep the previous heading (a car standing still has none of its own).
 */
export function completeMotion(fixes: Fix[]): Fix[] {
  for (let i = 0; i < fixes.length; i++) {
    const f = fixes[i]!;
    const prev = fixes[i - 1];
    const next = fixes[i + 1];
    const a = prev ?? f;
    const b = next ?? f;
    if (a === b) continue;
    const d = distanceM(a, b);
    if (f.speed === null && b.time > a.time) f.speed = d / ((b.time - a.time) / 1000);
    if (f.heading === null && d >= 1) f.heading = bearingDeg(a, b);
    if (f.heading === null && prev?.heading != null) f.heading = prev.heading;
  }
  return fixes;
}
