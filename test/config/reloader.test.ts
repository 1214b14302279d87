import { mkdtempSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import pino from "pino";
import { afterEach, describe, expect, it } from "vitest";
import { ConfigReloader, type ReloadReport } from "../../agent/config-reloader.js";
import type { LoadedConfig } from "../../agent/config/load.js";
import { ReloadError } from "../../agent/controller.js";
import { shared } from "../support/paths.js";

const text = (fps: number) => `device: {id: box1}
models:
  m: {path: ${path.join(shared, "models/yolox_nano.onnx")}}
cameras:
  front:
    source: rtsp://cam/1
    fps: ${fps}
    detect: {model: m, width: 640, height: 360}
`;

const wait = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** Polls until cond holds (fs events and timers are slow on a busy machine), then lets stragglers arrive. */
async function until(cond: () => boolean, ms = 5000) {
  const end = Date.now() + ms;
  while (!cond() && Date.now() < end) await wait(25);
  await wait(300);
}
const reloaders: ConfigReloader[] = [];
afterEach(async () => {
  await Promise.all(reloaders.splice(0).map((r) => r.close()));
});

function setup(fail?: (next: LoadedConfig) => ReloadError | undefined) {
  const dir = mkdtempSync(path.join(tmpdir(), "eva-reloader-"));
  const file = path.join(dir, "eva.yaml");
  writeFileSync(file, text(5));
  const applied: number[] = [];
  const reports: ReloadReport[] = [];
  const target = {
    async reload(next: LoadedConfig) {
      const err = fail?.(next);
      if (err) throw err;
      applied.push(next.config.cameras.front!.fps);
      return ["cameras.front.fps"];
    },
    publish: (topic: string, payload: unknown) => {
      expect(topic).toBe("config");
      reports.push(payload as ReloadReport);
    },
    figures: () => ({}),
  };
  const reloader = new ConfigReloader(file, target, pino({ level: "silent" }), { runningText: text(5), debounceMs: 150 }).watch();
  reloaders.push(reloader);
  return { file, dir, applied, reports };
}

describe("config reloader (file watch, debounce, rename-saves)", () => {
  it("a burst of saves is one reload of the last text", async () => {
    const { file, applied, reports } = setup();
    await wait(100); // past the check made when the watch starts
    for (const fps of [6, 7, 8, 9]) {
      writeFileSync(file, text(fps));
      // a turn of the event loop, so the watcher sees each save, but no timer that a loaded machine can stretch past the debounce
      await new Promise((r) => setImmediate(r));
    }
    await until(() => applied.includes(9));
    expect(applied).toEqual([9]);
    expect(reports).toEqual([{ result: "applied", hash: expect.stringMatching(/^[0-9a-f]{64}$/), changed: ["cameras.front.fps"] }]);
  });

  it("an editor's rename-save (file briefly missing, then renamed over) is a normal edit, seen again on the next save", async () => {
    const { file, applied, reports } = setup();
    rmSync(file);
    await wait(50);
    writeFileSync(`${file}.swp`, text(7));
    renameSync(`${file}.swp`, file);
    await until(() => applied.length > 0);
    expect(applied).toEqual([7]);
    writeFileSync(`${file}.new`, text(8));
    renameSync(`${file}.new`, file);
    await until(() => applied.length > 1);
    expect(applied).toEqual([7, 8]);
    expect(reports.every((r) => r.result === "applied")).toBe(true);
  });

  it("a file that stays missing is rejected; a save with no change is not reported twice", async () => {
    const { file, reports } = setup();
    rmSync(file);
    await until(() => reports.length > 0);
    expect(reports).toEqual([{ result: "rejected", hash: null, errors: [{ file, line: 1, col: 1, path: "", message: "file not found" }] }]);
    writeFileSync(file, text(5)); // back to the running text
    await wait(500);
    writeFileSync(file, text(5));
    await until(() => reports.length > 1);
    // the running text again: "applied, nothing changed", once
    expect(reports.slice(1)).toEqual([{ result: "applied", hash: expect.any(String), changed: [] }]);
  });

  it("a failure inside the agent's reload (a model that does not load) is a rejection with its place", async () => {
    const problem = { file: "f", line: 3, col: 13, path: "models.m.path", message: "model does not load: boom" };
    const { file, applied, reports } = setup(() => new ReloadError([problem]));
    writeFileSync(file, text(9));
    await until(() => reports.length > 0);
    expect(applied).toEqual([]);
    expect(reports).toEqual([{ result: "rejected", hash: expect.any(String), errors: [problem] }]);
  });
});
