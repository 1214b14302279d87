import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { EventStore } from "../../agent/events/store.js";
import { eva, logLines, writeTestConfig } from "../support/agent.js";
import { fileBroker } from "../support/broker.js";
import { personPanClip } from "../support/clips.js";
import { agentConfigText, loadText, startAgent } from "../support/in-process-agent.js";
import { repoRoot, shared } from "../support/paths.js";
import { ReloadError } from "../../agent/controller.js";

const broker = await fileBroker();
let models: string;
beforeAll(async () => {
  models = mkdtempSync(path.join(tmpdir(), "eva-classify-models-"));
  execFileSync("/usr/bin/python3", [path.join(repoRoot, "test/classify/make-test-classifiers.py"), models], { stdio: "pipe" });
});
afterAll(() => rmSync(models, { recursive: true, force: true }));

describe("eva run with a classify rule (YOLOX-Nano + a crop classifier)", () => {
  it("names each person by the classifier's label in its events; a classifier that does not load is reported and the detector's label stays", async () => {
    const clip = await personPanClip(5, 3);
    const { file, dir } = writeTestConfig({
      brokerUrl: broker.url,
      deviceId: "dev-classify",
      models: { colour: `{path: ${path.join(models, "colour-nhwc.onnx")}}` },
      cameras: { street: { source: clip, extra: "    classify: [{model: colour, labels: [person], min_size: 16, score: detector}]\n" } },
    });
    const run = await eva(["run", "--config", file, "--exit-on-eof"], { timeoutMs: 60_000 });
    expect(run.code, run.stderr).toBe(0);
    const tail = run.stderr.slice(-3000);
    expect(
      logLines(run.stderr).some((l) => l.msg === "classifier ready"),
      tail,
    ).toBe(true);
    const store = new EventStore(path.join(dir, "eva.db"));
    const events = store.queryEvents({ camera: "street" });
    store.close();
    expect(events.length, tail).toBeGreaterThan(0);
    // the person in the pan: every event carries a colour (score kept from the detector), none the detector's "person"
    expect(
      events.every((e) => ["red", "green", "blue"].includes(e.label)),
      `${JSON.stringify(events.map((e) => e.label))}\n${tail}`,
    ).toBe(true);

    const broken = writeTestConfig({
      brokerUrl: broker.url,
      deviceId: "dev-classify-2",
      models: { colour: `{path: ${path.join(models, "missing.onnx")}}` },
      cameras: { street: { source: clip, extra: "    classify: [{model: colour}]\n" } },
    });
    const run2 = await eva(["run", "--config", broken.file, "--exit-on-eof"], { timeoutMs: 60_000 });
    expect(run2.code, run2.stderr).toBe(0);
    const lines = logLines(run2.stderr);
    expect(
      lines.some((l) => l.msg.includes("classifier failed to load") && String(l.err).includes("missing.onnx: no such file")),
      run2.stderr,
    ).toBe(true);
    // one line for the failing rule, not one per frame
    expect(lines.filter((l) => l.msg.startsWith("classification failed")).length, run2.stderr.slice(-3000)).toBe(1);
    const store2 = new EventStore(path.join(broken.dir, "eva.db"));
    const labels = store2.queryEvents({ camera: "street" }).map((e) => e.label);
    store2.close();
    expect(labels, run2.stderr.slice(-3000)).toContain("person");
  });

  it("eva bench reports what tiles and the classify rule cost", async () => {
    const clip = await personPanClip(5, 1);
    const { file } = writeTestConfig({
      brokerUrl: "mqtt://127.0.0.1:1",
      models: { colour: `{path: ${path.join(models, "colour-nhwc.onnx")}}` },
      cameras: {
        street: {
          source: clip,
          extra: "    classify: [{model: colour, labels: [person], score: detector}]\n",
        },
      },
    });
    // the tiles go into the camera's flow-style detect mapping
    const text = readFileSync(file, "utf8").replace("min_score: 0.4}", "min_score: 0.4, tiles: {grid: [2, 1], full_frame: true}}");
    writeFileSync(file, text);
    // one round: the figures are checked for being there and plausible, not compared across rounds
    const r = await eva(["bench", "--config", file, "--seconds", "2", "--rounds", "1", "--json"], { timeoutMs: 90_000 });
    expect(r.code, r.stderr).toBe(0);
    const b = JSON.parse(r.stdout) as Record<string, number>;
    expect(b.tiles).toBe(3);
    // measured over the looped clip by the whole pipeline (as eva bench measures it), its empty seconds included
    expect(b.crops_per_frame).toBeGreaterThan(0);
    expect(b.infer_cpu_ms_per_frame).toBeGreaterThan(0);
    expect(b.pipeline_fps).toBeGreaterThan(0);
    // the running agent's own counters: three detector runs and the person's crop per frame
    expect(b.pipeline_model_runs_per_frame).toBe(3);
    expect(b.pipeline_crops_per_frame).toBeGreaterThan(0);
  });

  it("a reload opens a changed classifier before swapping it, refuses one that does not load, and closes one no rule names", async () => {
    const text = (classifier: string, rules = "[{model: colour}]") =>
      agentConfigText({ brokerUrl: "mqtt://127.0.0.1:9", extraTop: "" })
        .replace("detector: {providers: [cpu], threads: 1}", `  colour: {path: ${classifier}}\ndetector: {providers: [cpu], threads: 1}`)
        .replace("labels: [person]}", `labels: [person]}\n    classify: ${rules}`);
    const run = await startAgent(text(path.join(models, "colour-nhwc.onnx")));
    try {
      expect(run.agent.providers()).toMatchObject({ coco: "cpu", colour: "cpu" });
      // a detector named as a classifier: valid ONNX, so only opening it tells
      const wrong = text(path.join(shared, "models/yolox_nano.onnx"));
      const err = await run.agent.reload(await loadText(wrong, run.file)).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ReloadError);
      expect((err as ReloadError).problems[0]).toMatchObject({
        path: "models.colour.path",
        line: wrong.split("\n").findIndex((l) => l.includes("colour: {path")) + 1,
      });
      expect((err as ReloadError).problems[0]!.message).toMatch(/classifier does not load: .*yolox_nano.onnx: output .* \[N, classes\] expected/);
      expect(run.agent.healthReport().reasons.filter((r) => r.includes("colour"))).toEqual([]);
      expect(await run.agent.reload(await loadText(text(path.join(models, "colour-nchw.onnx")), run.file))).toEqual(["models.colour.path"]);
      expect(run.agent.providers()).toMatchObject({ colour: "cpu" });
      await run.agent.reload(await loadText(text(path.join(models, "colour-nchw.onnx"), "[]"), run.file));
      expect(Object.keys(run.agent.providers())).toEqual(["coco"]);
    } finally {
      await run.stop();
    }
  });
});
