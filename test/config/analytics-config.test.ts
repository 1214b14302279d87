import { describe, expect, it } from "vitest";
import { analyticsOptions } from "../../agent/analytics/camera-analytics.js";
import { ConfigError, parseConfig } from "../../agent/config/load.js";

const base = `device: {id: box1}
models:
  m: {path: x.onnx}
cameras:
  front:
    source: a.mp4
    detect: {model: m}
`;

function problems(extra: string) {
  try {
    parseConfig(base + extra, "c.yaml", {});
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as ConfigError).problems.map((p) => ({ path: p.path, line: p.line, message: p.message }));
  }
  throw new Error("expected a ConfigError");
}

describe("analytics config", () => {
  it("defaults: tracker, no zones/lines/masks, events kept while stationary", () => {
    const cam = parseConfig(base, "c.yaml", {}).cameras.front!;
    expect(cam.tracker).toEqual({ min_hits: 3, high_score: 0.5, low_score: 0.1, iou: 0.2 });
    expect([cam.zones, cam.lines, cam.masks]).toEqual([{}, {}, []]);
    expect(cam.events).toMatchObject({ threshold: 0.7, stationary_seconds: 30, stationary: "keep" });
    // the tracker's max age falls back to events.end_after_seconds
    expect(analyticsOptions("front", cam, 640, 360, () => "id").tracker.maxAgeMs).toBe(5000);
  });

  it("zones and lines in pixels or fractions become detect-frame pixels", () => {
    const cam = parseConfig(
      base +
        `    zones:
      lobby: {points: [[0, 0.5], [1, 0.5], [1, 1], [0, 1]], labels: [person], loiter_seconds: 10, max_objects: 3}
    lines:
      door: {points: [[320, 0], [320, 360]]}
    masks: [[[0, 0], [100, 0], [100, 50]]]
`,
      "c.yaml",
      {},
    ).cameras.front!;
    const o = analyticsOptions("front", cam, 640, 360, () => "id");
    expect(o.zones[0]).toEqual({
      name: "lobby",
      polygon: [
        [0, 180],
        [640, 180],
        [640, 360],
        [0, 360],
      ],
      labels: ["person"],
      minScore: 0,
      loiterMs: 10000,
      maxObjects: 3,
    });
    expect(o.lines[0]).toEqual({ name: "door", a: [320, 0], b: [320, 360], hysteresisPx: 8 });
    expect(o.masks).toEqual([
      [
        [0, 0],
        [100, 0],
        [100, 50],
      ],
    ]);
  });

  it("degenerate polygons and zero-length lines are errors at their key path and line", () => {
    const found = problems(`    zones:
      flat: {points: [[0, 0], [10, 10], [20, 20]]}
      bowtie: {points: [[0, 0], [100, 100], [100, 0], [0, 100]]}
      two: {points: [[0, 0], [10, 0], [0, 0]]}
    lines:
      dot: {points: [[5, 5], [5, 5]]}
    masks:
      - [[0, 0], [1, 1]]
`);
    expect(found).toEqual([
      { path: "cameras.front.zones.flat.points", line: 9, message: expect.stringMatching(/zero area/) },
      { path: "cameras.front.zones.bowtie.points", line: 10, message: expect.stringMatching(/intersects itself/) },
      { path: "cameras.front.zones.two.points", line: 11, message: expect.stringMatching(/3 distinct points/) },
      { path: "cameras.front.lines.dot.points", line: 13, message: "a line needs two different points" },
      { path: "cameras.front.masks.0", line: 15, message: expect.stringMatching(/at least 3 points/) },
    ]);
  });
});

describe("sign watch config", () => {
  it("a watched sign must name a defined zone", () => {
    expect(
      problems(`    zones:
      corner: {points: [[0, 0], [0.2, 0], [0.2, 0.3]]}
    signs:
      watch:
        - {label: stop, zone: corner, missing_after_seconds: 60}
        - {label: stop, zone: kerb, missing_after_seconds: 60}
`),
    ).toEqual([{ path: "cameras.front.signs.watch.1.zone", line: 13, message: "unknown zone 'kerb'; defined: corner" }]);
  });
});
