/** Why a frame went to the detector, or why not. */
export type GateDecision = "motion" | "tracking" | "keepalive" | "relearned" | "gated";

export interface GateInput {
  /** the frame's time, ms */
  time: number;
  motion: boolean;
  /** the motion detector relearned its background on this frame (a whole-picture change) */
  relearned: boolean;
  /** live tracks that are not stationary, tentative ones included: they need every frame to be followed */
  activeTracks: number;
}

/**
 * Decides per frame whether a fixed camera's frame is worth inference: on motion, while anything moving is
 * being tracked, when the picture could not be judged, and otherwise at a slow keep-alive rate, so a parked
 * car, a person standing still and an expected sign are still seen (stationary state, zone occupancy and sign
 * watch keep working at that rate). Pure: the camera's pipeline counts and acts on the answer.
 */
export class MotionGate {
  private lastInferred = -Infinity;

  constructor(private keepaliveMs: number) {}

  decide(i: GateInput): GateDecision {
    const d: GateDecision = i.motion
      ? "motion"
      : i.activeTracks > 0
        ? "tracking"
        : i.relearned
          ? "relearned"
          : i.time - this.lastInferred >= this.keepaliveMs
            ? "keepalive"
            : "gated";
    if (d !== "gated") this.lastInferred = i.time;
    return d;
  }

  setKeepalive(ms: number): void {
    this.keepaliveMs = ms;
  }
}
