import type { Detection } from "../core/detection.js";
import { bottomCentre, pointInPolygon, type Polygon } from "../core/geometry.js";

export interface ExpectedSign {
  label: string;
  zone: string;
  polygon: Polygon;
  /** unseen for this long while frames are usable → `sign_missing` */
  missingAfterMs: number;
}

export interface SignAlarm {
  type: "sign_missing";
  state: "raised" | "cleared";
  zone: string;
  label: string;
  /** ms since epoch */
  time: number;
  missing_after_seconds: number;
}

/** Longest gap between frames that still counts as watching: an offline camera does not make a sign missing. */
const MAX_GAP_MS = 2000;

interface Watch {
  unseenMs: number;
  missing: boolean;
}

/**
 * Sign watch for a fixed camera: each expected sign (class + zone) must be detected in its zone at least once
 * per `missingAfterMs` of *usable* viewing — time while frames arrive and are neither dark nor frozen. Raised
 * once when it goes missing, cleared once when it is seen again.
 */
export class SignWatch {
  private readonly state: Watch[];
  private lastTime: number | null = null;

  constructor(private readonly expected: readonly ExpectedSign[]) {
    this.state = expected.map(() => ({ unseenMs: 0, missing: false }));
  }

  observe(time: number, detections: readonly Detection[], usable: boolean): SignAlarm[] {
    const gap = this.lastTime === null ? 0 : Math.min(MAX_GAP_MS, Math.max(0, time - this.lastTime));
    this.lastTime = time;
    const alarms: SignAlarm[] = [];
    this.expected.forEach((e, i) => {
      const w = this.state[i]!;
      const seen = detections.some((d) => d.label === e.label && pointInPolygon(bottomCentre(d.box), e.polygon));
      const alarm = (state: SignAlarm["state"]): SignAlarm => ({
        type: "sign_missing",
        state,
        zone: e.zone,
        label: e.label,
        time,
        missing_after_seconds: e.missingAfterMs / 1000,
      });
      if (seen) {
        w.unseenMs = 0;
        if (w.missing) alarms.push(alarm("cleared"));
        w.missing = false;
        return;
      }
      if (!usable) return;
      w.unseenMs += gap;
      if (!w.missing && w.unseenMs >= e.missingAfterMs) {
        w.missing = true;
        alarms.push(alarm("raised"));
      }
    });
    return alarms;
  }
}
