import { HIDDEN, spriteClip, stopSign } from "./sprite-clips.js";

/** Where the test drive starts, and when its track's first fix was taken. */
export const DRIVE_START = { lat: 48.137, lon: 11.575 };
export const DRIVE_T0 = Date.parse("2026-12-01T09:00:00Z");

/** A GPX track: 12 s north at 10 m/s, a fix a second, no course or speed (heading and speed come from the neighbours). */
export function northGpx(): string {
  const pts = Array.from({ length: 13 }, (_, i) => {
    const lat = DRIVE_START.lat + (i * 10) / 111_195;
    return `<trkpt lat="${lat.toFixed(8)}" lon="${DRIVE_START.lon}"><time>${new Date(DRIVE_T0 + i * 1000).toISOString()}</time></trkpt>`;
  });
  return `<?xml version="1.0"?><gpx version="1.1"><trk><trkseg>${pts.join("")}</trkseg></trk></gpx>`;
}

/** 8.5 s in which a stop sign passes the camera twice: shown 2 s, hidden 3 s, shown (moving, then still) 2 s. */
export async function stopSignDrive(fps: number): Promise<string> {
  return spriteClip(
    "stop-sign-v1",
    8.5,
    [
      [
        [0, 340, 180],
        [1.99, 340, 180],
        [2, HIDDEN, 0],
        [4.99, HIDDEN, 0],
        [5, 490, 180],
        [6, 340, 180],
        [7, 340, 180],
        [7.01, HIDDEN, 0],
      ],
    ],
    fps,
    await stopSign(80),
  );
}
