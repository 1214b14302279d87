import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import pino from "pino";
import { beforeAll, describe, expect, it } from "vitest";
import { ConfigReloader, type ReloadReport } from "../../agent/config-reloader.js";
import { checkConfigText } from "../../agent/check/config-check.js";
import { Agent } from "../../agent/controller.js";
import { planReload } from "../../agent/config/diff.js";
import type { ConfigProblem, LoadedConfig } from "../../agent/config/load.js";
import { shared } from "../support/paths.js";

// Random edits of a valid config, as a tired installer with vi might make them: 1 000 through the code path of
// `eva check-config`, 1 000 through the live reloader, and 1 000 applied to a real running agent (detectors,
// store, cameras). Nothing may crash, every rejection must say where, and the agent must run exactly the last
// accepted config.

const base = `device: {id: fuzz-1, name: "Fuzz box"}
mqtt:
  url: mqtt://127.0.0.1:1883
  topic_prefix: eva
  keepalive: 30
storage:
  db: var/eva.db
  snapshots: var/snapshots
models:
  coco:
    path: ${path.join(shared, "models/yolox_nano.onnx")}
    labels: ${path.join(shared, "models/coco.names")}
    format: yolox
  fast:
    path: ${path.join(shared, "models/fastestdet.onnx")}
detector:
  providers: [cpu]
  threads: 1
cameras:
  gate:
    source: rtsp://127.0.0.1:9/stream2
    fps: 5
    detect:
      model: coco
      width: 640
      height: 360
      labels: [person, car]
      min_score: {default: 0.5, person: 0.4}
    events:
      min_frames: 3
      end_after_seconds: 5
  yard:
    source: /dev/video0
    enabled: true
    detect: {model: fast, min_score: 0.3}
log:
  level: info
`;

/** mulberry32: a seeded generator, so a failure is reproducible from its seed. */
function rng(seed: number) {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const tokens = [
  "0",
  "-1",
  "1e9",
  "0.5",
  "abc",
  '""',
  "[",
  "]",
  "{",
  "}",
  "{a: 1}",
  "[1, 2]",
  "true",
  "null",
  "~",
  ":",
  "- x",
  "${NOPE}",
  "'",
  '"',
  "&a",
  "*a",
  "!!int x",
  "#",
  "\t",
];
const keys = ["fsp", "source", "detect", "model", "min_score", "zones", "cameras", "path", "labels", "fps", "width"];

function mutate(text: string, rand: () => number): string {
  const pick = <T>(a: readonly T[]) => a[Math.floor(rand() * a.length)]!;
  let lines = text.split("\n");
  const n = 1 + Math.floor(rand() * 3);
  for (let k = 0; k < n; k++) {
    const i = Math.floor(rand() * lines.length);
    const line = lines[i] ?? "";
    switch (Math.floor(rand() * 10)) {
      case 0:
        lines.splice(i, 1);
        break; // delete a line
      case 1:
        lines.splice(i, 0, line);
        break; // duplicate it
      case 2:
        lines[i] = rand() < 0.5 ? `  ${line}` : line.replace(/^ {1,2}/, "");
        break; // indentation slip
      case 3:
        lines[i] = line.replace(/:\s*(.*)$/, `: ${pick(tokens)}`);
        break; // value replaced
      case 4:
        lines.splice(i, 0, `${line.match(/^\s*/)![0]}${pick(keys)}: ${pick(tokens)}`);
        break; // key inserted
      case 5: {
        const j = Math.floor(rand() * lines.length);
        [lines[i], lines[j]] = [lines[j]!, line];
        break;
      } // lines swapped
      case 6:
        lines = lines.slice(0, i);
        break; // truncated
      case 7: {
        const at = Math.floor(rand() * (line.length + 1));
        lines[i] = line.slice(0, at) + pick(tokens) + line.slice(at);
        break;
      } // typing noise
      case 8:
        lines[i] = line.replace(/([a-z_]+):/, (_m, key: string) => `${key.slice(0, -1)}${key.slice(-1) === "s" ? "" : "s"}:`);
        break; // key typo
      default:
        lines[i] = line.replace(/(\d+(\.\d+)?)/, () => pick(["-5", "0", "99999", "0.0001", "1.5"])); // number out of range
    }
  }
  return lines.join("\n");
}

function expectPlaced(problems: ConfigProblem[], text: string, file: string, seed: number) {
  expect(problems.length, `seed ${seed}`).toBeGreaterThan(0);
  const lineCount = text.split("\n").length;
  for (const p of problems) {
    const where = `seed ${seed}: ${JSON.stringify(p)}`;
    expect(p.file, where).toBe(file);
    expect(Number.isInteger(p.line) && p.line >= 1 && p.line <= lineCount + 1, where).toBe(true);
    expect(Number.isInteger(p.col) && p.col >= 1, where).toBe(true);
    expect(typeof p.path, where).toBe("string");
    expect(p.message.length, where).toBeGreaterThan(0);
  }
}

describe("config fuzz: 1 000 random edits of a valid config", () => {
  let baseline: Awaited<ReturnType<typeof checkConfigText>>;
  beforeAll(async () => {
    baseline = await checkConfigText(base, "/etc/eva/eva.yaml", {});
  });

  it("the unmutated config is valid", () => {
    expect(baseline.problems).toEqual([]);
  });

  it("check-config's path: never crashes; every problem has a line, a column and a key path", async () => {
    let rejected = 0;
    let withoutPath = 0;
    for (let seed = 1; seed <= 1000; seed++) {
      const text = mutate(base, rng(seed));
      let result: Awaited<ReturnType<typeof checkConfigText>>;
      try {
        result = await checkConfigText(text, "/etc/eva/eva.yaml", {});
      } catch (err) {
        throw new Error(`seed ${seed} crashed: ${(err as Error).stack}\n---\n${text}`);
      }
      if (result.loaded) {
        expect(() => planReload(baseline.loaded!.config, result.loaded!.config), `seed ${seed}`).not.toThrow();
        continue;
      }
      rejected++;
      expectPlaced(result.problems, text, "/etc/eva/eva.yaml", seed);
      withoutPath += result.problems.filter((p) => p.path === "").length;
    }
    // most random edits break something; the few without a key path are stray tokens outside every key
    expect(rejected).toBeGreaterThan(500);
    expect(withoutPath).toBeLessThanOrEqual(rejected / 100);
  });

  it("the live path: the reloader reports each edit, rejects with places, and applies only valid ones", async () => {
    const dir = mkdtempSync(path.join(tmpdir(), "eva-fuzz-"));
    const file = path.join(dir, "eva.yaml");
    writeFileSync(file, base);
    let running: LoadedConfig = { ...baseline.loaded!, file };
    const published: ReloadReport[] = [];
    const target = {
      async reload(next: LoadedConfig) {
        const changed = planReload(running.config, next.config).changed;
        running = next;
        return changed;
      },
      publish: (_topic: string, payload: unknown) => published.push(payload as ReloadReport),
      figures: () => ({}),
    };
    const reloader = new ConfigReloader(file, target, pino({ level: "silent" }), { runningText: base, env: {} });
    let applied = 0;
    for (let seed = 1001; seed <= 2000; seed++) {
      const text = mutate(base, rng(seed));
      writeFileSync(file, text);
      const report = await reloader.trigger();
      expect(report, `seed ${seed}`).not.toBeNull();
      if (report!.result === "rejected") {
        expectPlaced(report!.errors, text, file, seed);
        // the running config is still the last good one
        expect((await checkConfigText(running.text, file, {})).problems).toEqual([]);
      } else applied++;
    }
    await reloader.close();
    expect(published).toHaveLength(1000);
    expect(applied).toBeGreaterThan(0);
  });
});

describe("config fuzz against a real agent", () => {
  it("1 000 random edits applied to a running agent: it never crashes, runs exactly the last accepted config", async () => {
    const dir = mkdtempSync(path.join(tmpdir(), "eva-fuzz-agent-"));
    const file = path.join(dir, "eva.yaml");
    // no broker, and camera sources that refuse at once: this is about the reload path, not the pictures
    const start = base.replace("mqtt://127.0.0.1:1883", "mqtt://127.0.0.1:9");
    writeFileSync(file, start);
    const first = await checkConfigText(start, file, {});
    expect(first.problems).toEqual([]);
    const log = pino({ level: "silent" });
    const agent = new Agent(first.loaded!, log);
    await agent.start();
    const reloader = new ConfigReloader(file, agent, log, { runningText: start, env: {} });
    let applied = 0;
    try {
      for (let seed = 2001; seed <= 3000; seed++) {
        const text = mutate(start, rng(seed));
        writeFileSync(file, text);
        const before = agent.config;
        const report = await reloader.trigger();
        if (report!.result === "rejected") {
          expectPlaced(report!.errors, text, file, seed);
          expect(agent.config, `seed ${seed}`).toBe(before);
        } else {
          applied++;
          expect(agent.config, `seed ${seed}`).toEqual((await checkConfigText(text, file, {})).loaded!.config);
        }
      }
    } finally {
      await reloader.close();
      await agent.stop(0);
    }
    expect(applied).toBeGreaterThan(20);
  }, 120_000);
});
