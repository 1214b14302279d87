import { expect, it } from "vitest";
import { Backoff } from "../../agent/camera/backoff.js";

it("restart delays double from 0.5 s to a 3 s cap however long a source stays away, and start over once frames flow", () => {
  const b = new Backoff();
  expect(Array.from({ length: 8 }, () => b.next(0))).toEqual([500, 1000, 2000, 3000, 3000, 3000, 3000, 3000]);
  expect(b.next(1200)).toBe(500);
  expect(b.next(0)).toBe(1000);
});

it("refused credentials wait 15 s, doubling to 5 min, and a healthy run resets both", () => {
  const b = new Backoff();
  expect(Array.from({ length: 7 }, () => b.next(0, true))).toEqual([15_000, 30_000, 60_000, 120_000, 240_000, 300_000, 300_000]);
  expect(b.next(500, true)).toBe(15_000);
  expect(b.next(0)).toBe(500);
});
