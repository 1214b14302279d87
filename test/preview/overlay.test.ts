import { existsSync, readFileSync } from "node:fs";
import path from "node:path";
import sharp from "sharp";
import { describe, expect, it } from "vitest";
import { parsedCameraShapes } from "../../agent/config/analytics-schema.js";
import { drawOverlay } from "../../agent/preview/overlay.js";
import { eva, writeTestConfig } from "../support/agent.js";
import { personPanClip } from "../support/clips.js";

const W = 640;
const H = 360;

async function draw(camera: unknown) {
  const png = await drawOverlay(new Uint8Array(W * H * 3), W, H, parsedCameraShapes(camera)!);
  const { data, info } = await sharp(png).raw().toBuffer({ resolveWithObject: true });
  expect([info.width, info.height]).toEqual([W, H]);
  return (x: number, y: number) => {
    const i = (y * W + x) * info.channels;
    return [data[i]!, data[i + 1]!, data[i + 2]!];
  };
}

const isYellow = ([r, g, b]: number[]) => r! > 200 && g! > 160 && b! < 80;
const isBlack = ([r, g, b]: number[]) => r! + g! + b! < 30;

describe("eva preview's drawing: pixels land where the config says", () => {
  it("zones (fractions), masks (pixels) and a line with its in arrow", async () => {
    const px = await draw({
      zones: {
        door: {
          points: [
            [0.05, 0.1],
            [0.35, 0.1],
            [0.35, 0.5],
            [0.05, 0.5],
          ],
        },
      }, // x 32–224, y 36–180
      masks: [
        [
          [400, 220],
          [620, 220],
          [620, 350],
          [400, 350],
        ],
      ],
      lines: {
        gate: {
          points: [
            [450, 180],
            [450, 40],
          ],
        },
      }, // walking north: in is east
    });
    // zone outline in green on its top edge, a faint green fill inside, nothing outside
    expect(px(128, 36)).toEqual([0, 255, 0]);
    const inside = px(128, 108);
    expect(inside[1]).toBeGreaterThan(20);
    expect(inside[1]).toBeLessThan(80);
    expect(inside[0]).toBe(0);
    expect(isBlack(px(128, 250))).toBe(true);
    // mask filled red
    const mask = px(510, 290);
    expect(mask[0]).toBeGreaterThan(60);
    expect(mask[1]).toBe(0);
    // the line itself, and its arrow on the east (in) side only
    expect(isYellow(px(450, 150))).toBe(true);
    expect(isYellow(px(470, 110))).toBe(true);
    expect(isBlack(px(430, 110))).toBe(true);
    expect(isBlack(px(300, 300))).toBe(true);
  });

  it("a line walked east points its in arrow down (the walker's right)", async () => {
    const px = await draw({
      lines: {
        gate: {
          points: [
            [100, 300],
            [300, 300],
          ],
        },
      },
    });
    expect(isYellow(px(200, 300))).toBe(true);
    expect(isYellow(px(200, 320))).toBe(true);
    expect(isBlack(px(200, 276))).toBe(true);
  });
});

describe("eva preview", () => {
  it("grabs a frame from the camera's source and writes a PNG at the detect size", async () => {
    const clip = await personPanClip(5, 3);
    const { file, dir } = writeTestConfig({ brokerUrl: "mqtt://127.0.0.1:1", cameras: { street: { source: clip } } });
    const out = path.join(dir, "street.png");
    const r = await eva(["preview", "--config", file, "--camera", "street", "--out", out]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain("640×360, 0 zones, 0 lines, 0 masks");
    expect(existsSync(out)).toBe(true);
    const img = sharp(readFileSync(out));
    expect(await img.metadata()).toMatchObject({ format: "png", width: 640, height: 360 });
    // a real picture, not a blank frame
    const stats = await img.stats();
    expect(stats.channels[0]!.stdev).toBeGreaterThan(10);

    const bad = await eva(["preview", "--config", file, "--camera", "nope", "--out", out]);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain("no camera 'nope'");
    expect(bad.stderr).not.toContain("    at ");
  });
});
