import { copyFileSync, existsSync, mkdirSync, mkdtempSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { SignStore } from "../../agent/events/sign-store.js";
import { EventStore, newEventId } from "../../agent/events/store.js";
import { eva, writeTestConfig } from "../support/agent.js";
import { emptyClip, personPanClip } from "../support/clips.js";
import { repoRoot, shared } from "../support/paths.js";

const noStack = (s: string) => expect(s).not.toMatch(/\n\s+at .*:\d+:\d+/);

describe("eva CLI", () => {
  it("--help lists the commands", async () => {
    const r = await eva(["--help"]);
    expect(r.code).toBe(0);
    for (const cmd of ["run", "check-config", "events", "bench"]) expect(r.stdout).toContain(`eva ${cmd}`);
  });

  it("an unknown command or option is a usage error, exit 1", async () => {
    const r = await eva(["frobnicate"]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("unknown command 'frobnicate'");
    const o = await eva(["run", "--confg", "x.yaml"]);
    expect(o.code).toBe(1);
    expect(o.stderr).toMatch(/confg/);
    noStack(o.stderr);
  });

  it("check-config accepts the shipped example once its models are downloaded", async () => {
    // The example names models/yolox_nano.onnx, which scripts/download-models.sh fetches: lay out the same tree.
    const dir = mkdtempSync(path.join(tmpdir(), "eva-example-"));
    mkdirSync(path.join(dir, "config"));
    mkdirSync(path.join(dir, "models"));
    copyFileSync(path.join(repoRoot, "config/example.yaml"), path.join(dir, "config/example.yaml"));
    for (const f of ["yolox_nano.onnx", "coco.names"]) symlinkSync(path.join(shared, "models", f), path.join(dir, "models", f));
    const r = await eva(["check-config", path.join(dir, "config/example.yaml")], {
      env: { EVA_MQTT_USER: "u", EVA_MQTT_PASSWORD: "p", EVA_CAM_PASSWORD: "c" },
    });
    // its loading-bay camera is a USB camera at /dev/video0: check-config looks for the device
    if (existsSync("/dev/video0")) {
      expect(r.stdout + r.stderr).toContain("ok");
      expect(r.code).toBe(0);
    } else {
      expect(r.stdout.trim().split("\n")).toEqual([
        expect.stringMatching(
          /example\.yaml:\d+:13 cameras\.loading-bay\.source: video device not found: \/dev\/video0 \(is the camera plugged in\? ls \/dev\/video\*\)$/,
        ),
      ]);
      expect(r.code).toBe(1);
    }
  });

  it("check-config prints file:line:col path: message per problem and exits 1", async () => {
    const { file } = writeTestConfig({ brokerUrl: "mqtt://127.0.0.1:1", cameras: { street: { source: "x.mp4", extra: "    colour: red\n" } } });
    const r = await eva(["check-config", file]);
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(new RegExp(`^${file}:\\d+:5 cameras\\.street\\.colour: unknown key 'colour'$`, "m"));

    writeFileSync(file, "device: {id: x\nmodels: [\n");
    const y = await eva(["check-config", file]);
    expect(y.code).toBe(1);
    expect(y.stdout).toMatch(new RegExp(`^${file}:\\d+:\\d+ \\S+: YAML syntax: `, "m"));
    noStack(y.stdout + y.stderr);

    const missing = await eva(["check-config", path.join(path.dirname(file), "nope.yaml")]);
    expect(missing.code).toBe(1);
    expect(missing.stdout).toContain("nope.yaml:1:1 (file): file not found");
  });

  it("check-config rejects a self-intersecting zone, and a zone outside the frame, each at its place", async () => {
    const bowtie = "    zones:\n      bowtie: {points: [[0, 0], [100, 100], [100, 0], [0, 100]]}\n";
    const a = writeTestConfig({ brokerUrl: "mqtt://127.0.0.1:1", cameras: { street: { source: "x.mp4", extra: bowtie } } });
    const r1 = await eva(["check-config", a.file]);
    expect(r1.code).toBe(1);
    expect(r1.stdout).toMatch(new RegExp(`^${a.file}:\\d+:\\d+ cameras\\.street\\.zones\\.bowtie\\.points: the polygon intersects itself`, "m"));
    // Geometry against the frame is checked once the schema passes: the points that stick out are named.
    const far = "    zones:\n      far: {points: [[600, 300], [700, 300], [700, 400]]}\n";
    const b = writeTestConfig({ brokerUrl: "mqtt://127.0.0.1:1", cameras: { street: { source: "x.mp4", extra: far } } });
    writeFileSync(path.join(b.dir, "x.mp4"), ""); // check-config looks for the camera's file
    const r2 = await eva(["check-config", b.file]);
    expect(r2.code).toBe(1);
    expect(r2.stdout.trim().split("\n")).toEqual([
      expect.stringMatching(/:\d+:\d+ cameras\.street\.zones\.far\.points\.1: zone 'far' point \[700, 300\] is outside the 640×360 detect frame$/),
      expect.stringMatching(/:\d+:\d+ cameras\.street\.zones\.far\.points\.2: zone 'far' point \[700, 400\] is outside the 640×360 detect frame$/),
    ]);
  });

  /** A config whose only model is a text file named model.onnx. */
  async function notOnnxConfig(): Promise<string> {
    const clip = await emptyClip(2);
    const { file, dir } = writeTestConfig({ brokerUrl: "mqtt://127.0.0.1:1", cameras: { street: { source: clip } } });
    const fake = path.join(dir, "model.onnx");
    writeFileSync(fake, "this is not a model\n");
    writeFileSync(file, (await import("node:fs")).readFileSync(file, "utf8").replace(/coco: \{path: [^,]+,/, `coco: {path: ${fake},`));
    return file;
  }

  it("run with a model that is not ONNX: a clear error naming the file and key, exit 1, no stack", async () => {
    const file = await notOnnxConfig();
    const r = await eva(["run", "--config", file, "--exit-on-eof"], { timeoutMs: 30_000 });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/models\.coco\.path: model\.onnx: not an ONNX model/);
    noStack(r.stderr);
  });

  it("bench whose model cannot load exits 1 with the reason instead of hanging on its MQTT client", async () => {
    const file = await notOnnxConfig();
    const r = await eva(["bench", "--config", file, "--seconds", "1", "--json"], { timeoutMs: 45_000 });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/no camera can run.*not an ONNX model/);
  });

  it("run with a broken config exits 1 with the place", async () => {
    const { file } = writeTestConfig({ brokerUrl: "mqtt://127.0.0.1:1", cameras: { street: { source: "x.mp4", extra: "    realtime: maybe\n" } } });
    const r = await eva(["run", "--config", file]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/:\d+:\d+ cameras\.street\.realtime: /);
    noStack(r.stderr);
  });

  it("events filters by camera, label and time and prints JSON", async () => {
    const { dir } = writeTestConfig({ brokerUrl: "mqtt://127.0.0.1:1", cameras: {} });
    const db = path.join(dir, "events.db");
    const store = new EventStore(db);
    const base = Date.parse("2026-11-27T08:00:00Z");
    const mk = (camera: string, label: string, minutes: number) => ({
      id: newEventId(base + minutes * 60_000),
      device: "d",
      camera,
      label,
      start_time: new Date(base + minutes * 60_000).toISOString(),
      end_time: null,
      top_score: 0.8,
      box: [1, 2, 3, 4] as [number, number, number, number],
      snapshot: null,
    });
    store.recordEvent("new", mk("gate", "person", 0));
    store.recordEvent("new", mk("gate", "car", 10));
    store.recordEvent("new", mk("yard", "person", 20));
    store.close();
    const all = JSON.parse((await eva(["events", "--db", db, "--json"])).stdout) as { camera: string; label: string }[];
    expect(all).toHaveLength(3);
    const gatePeople = JSON.parse((await eva(["events", "--db", db, "--camera", "gate", "--label", "person", "--json"])).stdout) as unknown[];
    expect(gatePeople).toHaveLength(1);
    const late = JSON.parse((await eva(["events", "--db", db, "--since", "2026-11-27T08:05:00Z", "--json"])).stdout) as { label: string }[];
    expect(late.map((e) => e.label)).toEqual(["car", "person"]);
    const text = await eva(["events", "--db", db, "--camera", "yard"]);
    expect(text.stdout).toMatch(/yard\s+person/);
    const bad = await eva(["events", "--db", db, "--since", "yesterday"]);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain("not an ISO 8601 time");
  });

  it("signs lists sightings and a camera's inventory", async () => {
    const { dir } = writeTestConfig({ brokerUrl: "mqtt://127.0.0.1:1", cameras: {} });
    const db = path.join(dir, "signs.db");
    const store = new EventStore(db);
    const signs = new SignStore(store);
    const base = Date.parse("2026-11-27T08:00:00Z");
    const pass = (label: string, minutes: number, track: number) => ({
      id: newEventId(base + minutes * 60_000),
      device: "dev1",
      camera: "dash",
      label,
      score: 0.9,
      track_id: track,
      snapshot: null,
      first_seen: new Date(base + minutes * 60_000).toISOString(),
      last_seen: new Date(base + minutes * 60_000 + 2000).toISOString(),
      box: [1, 2, 30, 31] as [number, number, number, number],
    });
    signs.record(pass("stop", 0, 1));
    signs.record(pass("yield", 1, 2));
    signs.record(pass("stop", 2, 3));
    store.close();
    const all = JSON.parse((await eva(["signs", "--db", db, "--json"])).stdout) as { label: string }[];
    expect(all.map((s) => s.label)).toEqual(["stop", "yield", "stop"]);
    const inv = JSON.parse((await eva(["signs", "--db", db, "--camera", "dash", "--inventory", "--json"])).stdout) as { label: string; count: number }[];
    expect(inv.map((r) => [r.label, r.count])).toEqual([
      ["stop", 2],
      ["yield", 1],
    ]);
    const bad = await eva(["signs", "--db", db, "--inventory"]);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain("--inventory needs --camera");
  });

  it("bench prints CPU ms per frame by stage beside the minimal loop's, and many-camera figures, as JSON", async () => {
    const clip = await personPanClip(5, 3);
    const { file } = writeTestConfig({ brokerUrl: "mqtt://127.0.0.1:1", cameras: { street: { source: clip } } });
    const r = await eva(["bench", "--config", file, "--seconds", "2", "--rounds", "1", "--baseline", "--json"], { timeoutMs: 120_000 });
    expect(r.code, r.stderr).toBe(0);
    type Stages = { ffmpeg: number; main: number; detector: number; total: number };
    const b = JSON.parse(r.stdout) as {
      eva_fps: number;
      baseline_fps: number;
      eva_cpu_ms_per_frame: Stages;
      baseline_cpu_ms_per_frame: Stages;
      cpu_ratio_eva_to_baseline: number;
    };
    expect(b.eva_fps).toBeGreaterThan(0);
    expect(b.baseline_fps).toBeGreaterThan(0);
    for (const s of [b.eva_cpu_ms_per_frame, b.baseline_cpu_ms_per_frame]) {
      expect(s.total).toBeGreaterThan(0);
      expect(s.total).toBeCloseTo(s.ffmpeg + s.main + s.detector, 1);
    }
    expect(b.cpu_ratio_eva_to_baseline).toBeCloseTo(b.eva_cpu_ms_per_frame.total / b.baseline_cpu_ms_per_frame.total, 1);

    const m = await eva(["bench", "--config", file, "--cameras", "2", "--clip", clip, "--seconds", "2", "--json"], { timeoutMs: 120_000 });
    expect(m.code, m.stderr).toBe(0);
    const many = JSON.parse(m.stdout) as {
      per_camera: Record<string, { in: number; processed: number; gated: number }>;
      event_loop_lag_ms: { p99: number };
      cpu_cores: Stages;
    };
    expect(Object.keys(many.per_camera)).toEqual(["cam1", "cam2"]);
    for (const c of Object.values(many.per_camera)) expect(c.in).toBeGreaterThan(0);
    expect(many.event_loop_lag_ms.p99).toBeGreaterThanOrEqual(0);
    expect(many.cpu_cores.total).toBeGreaterThan(0);
  });
});
