import { describe, expect, it } from "vitest";
import { MotionGate } from "../../agent/motion/motion-gate.js";
import { detectorSizing } from "../../agent/detect/detector-sizing.js";

describe("MotionGate", () => {
  it("lets motion, moving tracks and relearnt frames through, and a still scene only at the keep-alive rate", () => {
    const gate = new MotionGate(1000);
    const still = { motion: false, relearned: false, activeTracks: 0 };
    const at = (time: number, over: Partial<typeof still> = {}) => gate.decide({ time, ...still, ...over });
    expect(at(0)).toBe("keepalive"); // nothing inferred yet
    expect(at(200)).toBe("gated");
    expect(at(400, { motion: true })).toBe("motion");
    expect(at(600)).toBe("gated");
    expect(at(800, { activeTracks: 1 })).toBe("tracking");
    expect(at(1000)).toBe("gated");
    expect(at(1200, { relearned: true })).toBe("relearned");
    expect(at(2000)).toBe("gated");
    expect(at(2200)).toBe("keepalive"); // 1 s after the last inference
    expect(at(2400)).toBe("gated");
  });
});

describe("detectorSizing", () => {
  it("splits the cores into single-threaded sessions per model, at least one, at most four", () => {
    const auto = { threads: "auto", workers: "auto" } as const;
    expect(detectorSizing(auto, 1, 2)).toEqual({ workers: 2, threads: 1 });
    expect(detectorSizing(auto, 2, 2)).toEqual({ workers: 1, threads: 1 });
    expect(detectorSizing(auto, 3, 2)).toEqual({ workers: 1, threads: 1 });
    expect(detectorSizing(auto, 1, 16)).toEqual({ workers: 4, threads: 1 });
    expect(detectorSizing({ threads: 2, workers: "auto" }, 1, 8)).toEqual({ workers: 4, threads: 2 });
    expect(detectorSizing({ threads: 4, workers: 1 }, 1, 8)).toEqual({ workers: 1, threads: 4 });
  });
});
