import { describe, expect, it } from "vitest";
import { LiveFrames, type LiveFrame } from "../../agent/console/live-frames.js";
import { inDirection } from "../../agent/core/geometry.js";
import { clampToFrame, inArrow, inNormal, nearestEdge, nearestPoint, type XY } from "../../agent/console/web/scene-geometry.js";
import { LineCrossings } from "../../agent/analytics/line-crossings.js";

describe("the page's geometry", () => {
  it("points the in arrow to the side a crossing counts as in", () => {
    // A track walking across the line from the side opposite the arrow to the side it points to is counted `in`.
    for (const [a, b] of [
      [
        [320, 0],
        [320, 360],
      ],
      [
        [600, 40],
        [300, 340],
      ],
      [
        [10, 200],
        [630, 180],
      ],
    ] as Array<[XY, XY]>) {
      const n = inNormal(a, b);
      expect(n[0]).toBeCloseTo(inDirection([a, b])[0]);
      expect(n[1]).toBeCloseTo(inDirection([a, b])[1]);
      const mid: XY = [(a[0] + b[0]) / 2, (a[1] + b[1]) / 2];
      const lines = new LineCrossings([{ name: "l", a, b, hysteresisPx: 8 }]);
      const at = (k: number) => [mid[0] + n[0] * k, mid[1] + n[1] * k] as const;
      const track = (t: number, [x, y]: readonly [number, number]) =>
        ({
          id: 1,
          label: "person",
          confirmed: true,
          detected: true,
          score: 0.9,
          medianScore: 0.9,
          scoreCount: 1,
          firstSeen: 0,
          box: [x - 10, y - 40, x + 10, y] as [number, number, number, number],
          lastSeen: t,
        }) as never;
      lines.observe(0, [track(0, at(-40))]);
      const crossings = [...lines.observe(1, [track(1, at(0))]), ...lines.observe(2, [track(2, at(40))])];
      expect(crossings.map((c) => c.direction)).toEqual(["in"]);
    }
    const arrow = inArrow([0, 100], [100, 100], 30);
    expect(arrow.from).toEqual([50, 100]);
    expect(arrow.tip).toEqual([50, 130]);
  });

  it("finds the handle or edge under the pointer and keeps points in the frame", () => {
    const square: XY[] = [
      [0, 0],
      [100, 0],
      [100, 100],
      [0, 100],
    ];
    expect(nearestPoint(square, [97, 4], 8)).toBe(1);
    expect(nearestPoint(square, [50, 50], 8)).toBe(-1);
    expect(nearestEdge(square, [50, 3], 5)).toBe(0);
    expect(nearestEdge(square, [2, 60], 5)).toBe(3);
    expect(clampToFrame([-5, 400.6], 640, 360)).toEqual([0, 360]);
  });
});

describe("LiveFrames", () => {
  it("encodes at most one frame per camera per second however many ask, and shows the last one when none comes", async () => {
    let grabs = 0;
    let next: ((f: LiveFrame) => void) | null = null;
    let fail = false;
    const frames = new LiveFrames((camera) => {
      if (camera === "off") return null;
      grabs++;
      return new Promise<LiveFrame>((resolve, reject) => {
        if (fail) reject(new Error("no frame"));
        else next = resolve;
      });
    }, 50);
    const a = frames.get("cam");
    const b = frames.get("cam");
    next!({ jpeg: Buffer.from("one"), time: 1 });
    expect((await a)?.jpeg.toString()).toBe("one");
    expect(await b).toBe(await a);
    expect(grabs).toBe(1);
    expect((await frames.get("cam"))?.time).toBe(1); // fresh enough: no new grab
    expect(grabs).toBe(1);
    await new Promise((r) => setTimeout(r, 60));
    fail = true;
    expect((await frames.get("cam"))?.jpeg.toString()).toBe("one"); // stalled: the last picture
    expect(grabs).toBe(2);
    expect(await frames.get("off")).toBeNull();
  });
});
