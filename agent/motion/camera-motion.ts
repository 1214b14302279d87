import { toPixels } from "../core/geometry.js";
import type { MotionConfig } from "../config/motion-schema.js";
import { MotionGate, type GateDecision } from "./motion-gate.js";
import type { Luma } from "../core/pixels.js";
import { MotionDetector, type MotionOptions } from "./motion-detector.js";

/** Frames a camera's gate let through, by reason, and those it held back. */
export interface GateCounts {
  gated: number;
  motion: number;
  tracking: number;
  keepalive: number;
  relearned: number;
}

function motionOptions(cfg: MotionConfig, cameraMasks: readonly (readonly [number, number])[][], width: number, height: number): MotionOptions {
  return {
    threshold: cfg.threshold,
    minArea: cfg.min_area,
    lightingArea: cfg.lighting_area,
    backgroundSeconds: cfg.background_seconds,
    masks: (cfg.mask ?? cameraMasks).map((m) => toPixels(m, width, height)),
  };
}

function keepaliveMs(cfg: MotionConfig, trackMaxAgeMs: number): number {
  return Math.min(cfg.keepalive_seconds * 1000, trackMaxAgeMs / 2);
}

/**
 * One camera's motion gating: the motion mask and the decision, with counts for stats. `decide` runs on every
 * frame the camera hands on (so the background follows the scene), `tracks` is told after each inference how
 * many live tracks still move.
 */
export class CameraMotion {
  readonly counts: GateCounts = { gated: 0, motion: 0, tracking: 0, keepalive: 0, relearned: 0 };
  private detector: MotionDetector | null;
  private readonly gate: MotionGate;
  private activeTracks = 0;
  private cfg: MotionConfig;

  constructor(
    cfg: MotionConfig,
    private masks: readonly (readonly [number, number])[][],
    readonly width: number,
    readonly height: number,
    /** a lost track dies after this long: keep-alive looks come at least twice as often, so a parked car's survives */
    trackMaxAgeMs: number,
  ) {
    this.cfg = cfg;
    this.gate = new MotionGate(keepaliveMs(cfg, trackMaxAgeMs));
    this.detector = cfg.enabled ? new MotionDetector(width, height, motionOptions(cfg, masks, width, height)) : null;
  }

  /** Whether this frame (packed RGB24 at width × height) goes to the detector, and why. */
  decide(picture: Luma, time: number): GateDecision {
    if (!this.detector) return "motion";
    const m = this.detector.observe(picture, time);
    const d = this.gate.decide({ time, motion: m.motion, relearned: m.relearned, activeTracks: this.activeTracks });
    this.counts[d]++;
    return d;
  }

  /** After an inference: live tracks that are not stationary (tentative included). */
  tracks(active: number): void {
    this.activeTracks = active;
  }

  /** A reload's motion settings or masks; the background is kept unless the grid's meaning changed. */
  reconfigure(cfg: MotionConfig, masks: readonly (readonly [number, number])[][], trackMaxAgeMs: number): void {
    this.gate.setKeepalive(keepaliveMs(cfg, trackMaxAgeMs));
    const same = JSON.stringify(cfg) === JSON.stringify(this.cfg) && JSON.stringify(masks) === JSON.stringify(this.masks);
    if (same) return;
    this.cfg = cfg;
    this.masks = masks;
    this.detector = cfg.enabled ? new MotionDetector(this.width, this.height, motionOptions(cfg, masks, this.width, this.height)) : null;
  }

  /** Detection paused or resumed: the next frame is learnt afresh. */
  reset(): void {
    this.detector?.reset();
    this.activeTracks = 0;
  }
}
