import type { Box } from "../core/geometry.js";

/**
 * Constant-velocity Kalman filter over a box, as four independent position/velocity pairs (centre x, centre y,
 * width, height). Independent axes keep every matrix 2×2, which is all a box moving in a picture needs; time
 * steps are real seconds because frames of a live camera do not arrive evenly.
 */
export class BoxKalman {
  /** per axis: position, velocity */
  private readonly x = new Float64Array(8);
  /** per axis: covariance [p00, p01, p11] */
  private readonly p = new Float64Array(12);

  constructor(box: Box) {
    const z = measure(box);
    const h = Math.max(1, z[3]);
    for (let i = 0; i < 4; i++) {
      this.x[2 * i] = z[i]!;
      this.x[2 * i + 1] = 0;
      // Unknown velocity at birth: up to about one box height per second either way.
      this.p[3 * i] = (0.1 * h) ** 2;
      this.p[3 * i + 1] = 0;
      this.p[3 * i + 2] = h ** 2;
    }
  }

  /** Moves the state dt seconds ahead; returns the predicted box. */
  predict(dt: number): Box {
    const h = Math.max(1, this.x[6]!);
    // Process noise scales with the object's size: a near object's pixels move faster than a far one's.
    const q = (ACCEL_PER_HEIGHT * h) ** 2;
    for (let i = 0; i < 4; i++) {
      const k = 3 * i;
      this.x[2 * i] = this.x[2 * i]! + dt * this.x[2 * i + 1]!;
      const p00 = this.p[k]!,
        p01 = this.p[k + 1]!,
        p11 = this.p[k + 2]!;
      // P = F P Fᵀ + Q, F = [[1, dt], [0, 1]], Q from white-noise acceleration.
      this.p[k] = p00 + 2 * dt * p01 + dt * dt * p11 + (q * dt ** 4) / 4;
      this.p[k + 1] = p01 + dt * p11 + (q * dt ** 3) / 2;
      this.p[k + 2] = p11 + q * dt * dt;
    }
    return this.box();
  }

  /** Corrects the state with a measured box. */
  update(box: Box): void {
    const z = measure(box);
    const r = (MEASUREMENT_PER_HEIGHT * Math.max(1, z[3])) ** 2;
    for (let i = 0; i < 4; i++) {
      const k = 3 * i;
      const p00 = this.p[k]!,
        p01 = this.p[k + 1]!,
        p11 = this.p[k + 2]!;
      const s = p00 + r;
      const k0 = p00 / s;
      const k1 = p01 / s;
      const innovation = z[i]! - this.x[2 * i]!;
      this.x[2 * i] = this.x[2 * i]! + k0 * innovation;
      this.x[2 * i + 1] = this.x[2 * i + 1]! + k1 * innovation;
      this.p[k] = (1 - k0) * p00;
      this.p[k + 1] = (1 - k0) * p01;
      this.p[k + 2] = p11 - k1 * p01;
    }
  }

  box(): Box {
    const cx = this.x[0]!,
      cy = this.x[2]!;
    const w = Math.max(1, this.x[4]!),
      h = Math.max(1, this.x[6]!);
    return [cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2];
  }

  /** Centre velocity, pixels per second. */
  velocity(): [number, number] {
    return [this.x[1]!, this.x[3]!];
  }
}

// Tuned for people and vehicles at 2–15 fps: acceleration of about one box height per s², detector jitter of
// a few percent of the box.
const ACCEL_PER_HEIGHT = 1;
const MEASUREMENT_PER_HEIGHT = 0.05;

function measure(b: Box): [number, number, number, number] {
  return [(b[0] + b[2]) / 2, (b[1] + b[3]) / 2, b[2] - b[0], b[3] - b[1]];
}
