import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { afterAll, describe, expect, it } from "vitest";
import { repoRoot, shared } from "../support/paths.js";

const run = promisify(execFile);
const script = path.join(repoRoot, "scripts/evaluate-signs.mjs");
const gt = path.join(shared, "data/gtsdb-train");
const dir = mkdtempSync(path.join(tmpdir(), "eva-evaluate-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function evaluate(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const r = await run(process.execPath, [script, ...args], { timeout: 120_000 });
    return { code: 0, ...r };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

describe("scripts/evaluate-signs.mjs", () => {
  it("scores the shipped detector on a few real frames through the built agent and writes the scorecard", async () => {
    const out = path.join(dir, "report.json");
    // the shipped detector finds 4 sign categories; its classifier names the 43 classes
    const models = ["--detector", path.join(repoRoot, "models/traffic-signs.onnx"), "--classifier", path.join(repoRoot, "models/sign-classifier.onnx")];
    const r = await evaluate(["--gt", gt, "--frames", "500-509", ...models, "--tiles", "2x1", "--json", out]);
    expect(r.code, r.stderr).toBe(0);
    const report = JSON.parse(readFileSync(out, "utf8"));
    // frames 00500-00509 as gt.csv lists them
    const rows = readFileSync(path.join(gt, "gt.csv"), "utf8")
      .split("\n")
      .filter((l) => /frames\/0050\d\.jpg/.test(l));
    expect(report.signs).toBe(rows.length);
    expect(report.images).toBe(new Set(rows.map((l) => l.split(",")[0])).size);
    for (const k of ["ap50_class_agnostic", "map50_43class", "map50_4category"]) {
      expect(report[k], k).toBeGreaterThanOrEqual(0);
      expect(report[k], k).toBeLessThanOrEqual(1);
    }
    expect(report.recall_at_fp.fp_per_image).toBe(0.1);
    expect(report.recall_by_size.map((b: { range: unknown }) => b.range)).toEqual([
      [0, 24],
      [24, 32],
      [32, 48],
      [48, 64],
      [64, null],
    ]);
    expect(report.settings.tiles.rects).toHaveLength(2);
    expect(report.timing.cpu_ms_per_frame).toBeGreaterThan(0);
    expect(r.stdout).toContain("class-agnostic AP@0.5");
  });

  it("says what is wrong with its arguments", async () => {
    const missing = await evaluate(["--gt", dir, "--detector", "x.onnx"]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain(`${path.join(dir, "gt.csv")}: no such file`);
    const range = await evaluate(["--gt", gt, "--frames", "five", "--detector", "x.onnx"]);
    expect(range.stderr).toContain("--frames five: A-B");
    const model = await evaluate(["--gt", gt, "--frames", "500-501", "--detector", path.join(dir, "none.onnx")]);
    expect(model.code).toBe(2);
    expect(model.stderr).toMatch(/EVA_MODEL_NOT_FOUND: .*none\.onnx: no such file/);
  });
});
