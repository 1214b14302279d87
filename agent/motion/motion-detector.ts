import { pointInPolygon, type Point } from "../core/geometry.js";
import { rgbLuma, type Luma } from "../core/pixels.js";

export interface MotionOptions {
  /** grey-level change (0–255) of a cell, after the lighting shift is taken out, that counts as changed */
  threshold: number;
  /** least share of the unmasked picture that must change for motion (0–1) */
  minArea: number;
  /** share of the picture changing at once above which it is a lighting change or a camera glitch, not motion */
  lightingArea: number;
  /** seconds for the background to take in a change (a parked car, a lamp switched on) */
  backgroundSeconds: number;
  /** polygons in frame pixels where motion is ignored (a tree, a clock, a road outside the scene) */
  masks: readonly (readonly Point[])[];
}

export interface MotionResult {
  /** enough of the picture changed to be worth running the detector */
  motion: boolean;
  /** share of the unmasked picture that changed (isolated cells not counted) */
  area: number;
  /** the whole picture changed (lighting, auto-exposure, camera moved): the background was reset */
  relearned: boolean;
  /** bounding box of the changed cells in frame pixels [x1, y1, x2, y2]; null without motion */
  box: [number, number, number, number] | null;
}

/** The grid the motion mask works on: about this many cells across, whatever the frame size. */
const GRID_COLUMNS = 80;

/**
 * A cheap motion mask on a small grey copy of the frame, kept per camera. Each cell of an ~80-column grid is the
 * mean grey of four samples inside it (averaging stands in for a blur: sensor noise and compression speckle
 * cancel out), compared with a running-average background.
 *
 * Anchored on Frigate's ImprovedMotionDetector (frigate/motion/improved_motion.py): a small grey frame, a mask,
 * a running average, a threshold on the difference, a least area, and "the whole frame changed → recalibrate".
 * What differs, and why:
 * - a global lighting shift (cloud, auto-exposure) is taken out before thresholding: the median difference
 *   over the unmasked cells is subtracted, so a scene that brightens evenly is not motion and does not have to
 *   wait for the background to catch up, while an object moving through it still stands out;
 * - isolated changed cells (noise, a single flickering pixel block) count only with a changed neighbour, in
 *   one pass over the grid, where Frigate dilates and finds contours in OpenCV;
 * - the background adapts by time, not by frame, so a camera at 2 fps and one at 15 fps forget a parked car
 *   equally fast;
 * - a relearn after a whole-frame change reports itself, and the gate runs the detector on that frame rather
 *   than trusting a picture it cannot judge.
 * It works on the frame the camera stage already holds (its Y plane, or grey from RGB): no second ffmpeg output,
 * no allocation per frame.
 */
export class MotionDetector {
  readonly columns: number;
  readonly rows: number;
  private readonly step: number;
  private readonly background: Float32Array;
  private readonly current: Float32Array;
  private readonly changed: Uint8Array;
  /** 1 where motion is ignored */
  private readonly masked: Uint8Array;
  private readonly unmasked: number;
  /** histogram of (current − background) rounded, offset by 255: the median lighting shift in O(cells) */
  private readonly shifts = new Int32Array(511);
  private lastTime = -1;

  constructor(
    readonly width: number,
    readonly height: number,
    private readonly opts: MotionOptions,
  ) {
    this.step = Math.max(2, Math.floor(width / GRID_COLUMNS));
    this.columns = Math.floor(width / this.step);
    this.rows = Math.max(1, Math.floor(height / this.step));
    const cells = this.columns * this.rows;
    this.background = new Float32Array(cells);
    this.current = new Float32Array(cells);
    this.changed = new Uint8Array(cells);
    this.masked = new Uint8Array(cells);
    let unmasked = 0;
    for (let r = 0; r < this.rows; r++) {
      for (let c = 0; c < this.columns; c++) {
        const centre: Point = [(c + 0.5) * this.step, (r + 0.5) * this.step];
        const inMask = opts.masks.some((m) => pointInPolygon(centre, m as Point[]));
        this.masked[r * this.columns + c] = inMask ? 1 : 0;
        if (!inMask) unmasked++;
      }
    }
    this.unmasked = unmasked;
  }

  /**
   * Compares a frame (width × height: its brightness view, or packed RGB24) with the background, then folds it
   * into the background.
   */
  observe(picture: Luma | Uint8Array, time: number): MotionResult {
    this.sample(picture instanceof Uint8Array ? rgbLuma(picture, this.width, this.height) : picture);
    const { current, background, masked, changed, columns, rows } = this;
    const cells = columns * rows;
    if (this.lastTime < 0 || this.unmasked === 0) {
      const first = this.lastTime < 0;
      background.set(current);
      this.lastTime = time;
      return { motion: false, area: 0, relearned: first, box: null };
    }

    // The median shift over the unmasked cells is the lighting; what moves stands out from it.
    const shifts = this.shifts;
    shifts.fill(0);
    for (let i = 0; i < cells; i++) if (!masked[i]) shifts[Math.round(current[i]! - background[i]!) + 255]!++;
    let seen = 0;
    let shift = 0;
    for (let b = 0; b < 511; b++) {
      seen += shifts[b]!;
      if (seen * 2 >= this.unmasked) {
        shift = b - 255;
        break;
      }
    }

    const threshold = this.opts.threshold;
    let raw = 0;
    for (let i = 0; i < cells; i++) {
      const d = current[i]! - background[i]! - shift;
      const on = !masked[i] && (d > threshold || d < -threshold) ? 1 : 0;
      changed[i] = on;
      raw += on;
    }

    const dt = Math.max(0, (time - this.lastTime) / 1000);
    this.lastTime = time;
    if (raw > this.opts.lightingArea * this.unmasked) {
      background.set(current);
      return { motion: false, area: raw / this.unmasked, relearned: true, box: null };
    }

    // A changed cell counts when one of its eight neighbours changed too: lone cells are noise.
    let counted = 0;
    let x1 = columns;
    let y1 = rows;
    let x2 = -1;
    let y2 = -1;
    for (let r = 0; r < rows; r++) {
      for (let c = 0; c < columns; c++) {
        const i = r * columns + c;
        if (!changed[i] || !this.hasChangedNeighbour(r, c)) continue;
        counted++;
        if (c < x1) x1 = c;
        if (c > x2) x2 = c;
        if (r < y1) y1 = r;
        if (r > y2) y2 = r;
      }
    }

    // Fold the frame into the background: a change that stays is part of the scene after backgroundSeconds.
    const alpha = 1 - Math.exp(-dt / this.opts.backgroundSeconds);
    for (let i = 0; i < cells; i++) background[i]! += (current[i]! - background[i]!) * alpha;

    const area = counted / this.unmasked;
    const motion = counted >= 2 && area >= this.opts.minArea;
    const s = this.step;
    return { motion, area, relearned: false, box: motion ? [x1 * s, y1 * s, (x2 + 1) * s, (y2 + 1) * s] : null };
  }

  /** Forgets the background: the next frame is learnt, not compared (a camera restarted, detection resumed). */
  reset(): void {
    this.lastTime = -1;
  }

  private hasChangedNeighbour(r: number, c: number): boolean {
    const { changed, columns, rows } = this;
    for (let dr = -1; dr <= 1; dr++) {
      const rr = r + dr;
      if (rr < 0 || rr >= rows) continue;
      for (let dc = -1; dc <= 1; dc++) {
        const cc = c + dc;
        if ((dr === 0 && dc === 0) || cc < 0 || cc >= columns) continue;
        if (changed[rr * columns + cc]) return true;
      }
    }
    return false;
  }

  /** Mean grey of four samples per cell, at the quarter points (from RGB: grey ≈ (R + 2G + B) / 4). */
  private sample(p: Luma): void {
    const { step, columns, rows, current } = this;
    const q = step >> 2 || 1;
    const { data, stride, step: px } = p;
    // RGB's green is at offset 1: its red and blue neighbours go into the grey as well
    const rgb = px === 3;
    const base = rgb ? 0 : p.offset;
    for (let r = 0; r < rows; r++) {
      const ya = base + (r * step + q) * stride;
      const yb = base + (r * step + step - 1 - q) * stride;
      for (let c = 0; c < columns; c++) {
        const xa = (c * step + q) * px;
        const xb = (c * step + step - 1 - q) * px;
        const sum = rgb
          ? grey(data, ya + xa) + grey(data, ya + xb) + grey(data, yb + xa) + grey(data, yb + xb)
          : data[ya + xa]! + data[ya + xb]! + data[yb + xa]! + data[yb + xb]!;
        current[r * columns + c] = sum / 4;
      }
    }
  }
}

function grey(rgb: Uint8Array, i: number): number {
  return (rgb[i]! + 2 * rgb[i + 1]! + rgb[i + 2]!) / 4;
}
