import { describe, expect, it } from "vitest";
import { MotionDetector, type MotionOptions } from "../../agent/motion/motion-detector.js";

const W = 640;
const H = 360;
const OPTS: MotionOptions = { threshold: 20, minArea: 0.002, lightingArea: 0.6, backgroundSeconds: 3, masks: [] };

/** Deterministic noise, so a failure repeats. */
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => (s = (s * 1664525 + 1013904223) >>> 0) / 2 ** 32;
}

/** A textured grey scene (a gradient with sensor noise of ±noise), brightened by `light`, with dark boxes drawn on it. */
function scene(seed: number, o: { light?: number; gain?: number; noise?: number; boxes?: [number, number, number, number][] } = {}): Uint8Array {
  const rand = rng(seed);
  const rgb = new Uint8Array(W * H * 3);
  const noise = o.noise ?? 8;
  for (let y = 0; y < H; y++) {
    for (let x = 0; x < W; x++) {
      let v = (60 + (x / W) * 100 + (y / H) * 40) * (o.gain ?? 1) + (o.light ?? 0) + (rand() * 2 - 1) * noise;
      for (const [x1, y1, x2, y2] of o.boxes ?? []) if (x >= x1 && x < x2 && y >= y1 && y < y2) v = 25;
      const c = Math.max(0, Math.min(255, Math.round(v)));
      rgb.set([c, c, c], (y * W + x) * 3);
    }
  }
  return rgb;
}

/** Feeds frames 200 ms apart (5 fps); returns each result. */
function run(d: MotionDetector, frames: Uint8Array[], t0 = 0) {
  return frames.map((f, i) => d.observe(f, t0 + i * 200));
}

describe("MotionDetector", () => {
  it("sees no motion in a still scene with sensor noise", () => {
    const d = new MotionDetector(W, H, OPTS);
    const results = run(
      d,
      Array.from({ length: 12 }, (_, i) => scene(i + 1)),
    );
    expect(results[0]!.relearned).toBe(true); // the first frame is learnt
    expect(results.slice(1).filter((r) => r.motion)).toEqual([]);
  });

  it("takes an even lighting change for lighting, not motion, and still sees an object moving through it", () => {
    const d = new MotionDetector(W, H, OPTS);
    run(d, [scene(1), scene(2), scene(3)]);
    const brighter = d.observe(scene(4, { light: 35 }), 600);
    expect(brighter.motion).toBe(false);
    expect(brighter.relearned).toBe(false);
    const walking = d.observe(scene(5, { light: 35, boxes: [[300, 150, 344, 290]] }), 800);
    expect(walking.motion).toBe(true);
    const [x1, y1, x2, y2] = walking.box!;
    expect(x1).toBeLessThanOrEqual(304);
    expect(x2).toBeGreaterThanOrEqual(340);
    expect(y1).toBeLessThanOrEqual(158);
    expect(y2).toBeGreaterThanOrEqual(282);
  });

  it("finds a person-sized object moving and loses it once it has stood still for a few background periods", () => {
    const d = new MotionDetector(W, H, OPTS);
    run(d, [scene(1), scene(2)]);
    const moving = run(
      d,
      Array.from({ length: 5 }, (_, i) => scene(10 + i, { boxes: [[100 + i * 30, 150, 144 + i * 30, 290]] })),
      400,
    );
    expect(moving.every((r) => r.motion)).toBe(true);
    // Parked: after ~4 background periods it is part of the scene.
    const parked = run(
      d,
      Array.from({ length: 75 }, (_, i) => scene(20 + i, { boxes: [[220, 150, 264, 290]] })),
      1400,
    );
    expect(parked.slice(-10).some((r) => r.motion)).toBe(false);
  });

  it("ignores motion inside a mask and sees it outside", () => {
    const mask: [number, number][] = [
      [0, 0],
      [320, 0],
      [320, 360],
      [0, 360],
    ];
    const d = new MotionDetector(W, H, { ...OPTS, masks: [mask] });
    run(d, [scene(1), scene(2)]);
    expect(d.observe(scene(3, { boxes: [[100, 150, 144, 290]] }), 400).motion).toBe(false);
    expect(d.observe(scene(4, { boxes: [[400, 150, 444, 290]] }), 600).motion).toBe(true);
  });

  it("relearns the background when the whole picture changes (camera moved, IR switched on)", () => {
    const d = new MotionDetector(W, H, OPTS);
    run(d, [scene(1), scene(2)]);
    const flipped = new Uint8Array(scene(3).map((v) => 255 - v));
    const r = d.observe(flipped, 400);
    expect(r.relearned).toBe(true);
    expect(r.motion).toBe(false);
    expect(d.observe(new Uint8Array(scene(4).map((v) => 255 - v)), 600).motion).toBe(false);
  });

  it("does not take a small far-off object for noise", () => {
    const d = new MotionDetector(W, H, OPTS);
    run(d, [scene(1), scene(2)]);
    // 16 × 40 px: a person far from the camera at 640×360.
    expect(d.observe(scene(3, { boxes: [[500, 60, 516, 100]] }), 400).motion).toBe(true);
  });
});
