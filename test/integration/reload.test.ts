import { mkdtempSync, renameSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { EventStore } from "../../agent/events/store.js";
import { eva, logLines } from "../support/agent.js";
import { fileBroker } from "../support/broker.js";
import { emptyClip, personPanClip } from "../support/clips.js";
import { MessageCollector } from "../support/mqtt.js";
import { shared } from "../support/paths.js";

interface Report {
  result: "applied" | "rejected";
  hash: string | null;
  changed?: string[];
  errors?: { file: string; line: number; col: number; path: string; message: string }[];
}

const broker = await fileBroker();

interface Edit {
  minScoreA?: number;
  fpsA?: number;
  keepalive?: number;
  model?: string;
  extraB?: string;
  cameraC?: string;
  providers?: string;
  db?: string;
  prefix?: string;
}

function configText(clip: string, e: Edit = {}): string {
  const cam = (name: string, source: string, fps: number, minScore: number, extra = "") => `  ${name}:
    source: ${source}
    loop: true
    fps: ${fps}
    detect: {model: coco, width: 640, height: 360, labels: [person], min_score: ${minScore}}
    events: {min_frames: 2, end_after_seconds: 1, update_interval_seconds: 1}
${extra}`;
  return `device: {id: dev-r}
mqtt: {url: "${broker.url}", topic_prefix: ${e.prefix ?? "eva"}, keepalive: ${e.keepalive ?? 5}, reconnect_seconds: 0.5, stats_interval_seconds: 1}
storage: {db: ${e.db ?? "eva.db"}, snapshots: snapshots}
models:
  coco: {path: ${e.model ?? path.join(shared, "models/yolox_nano.onnx")}, labels: ${path.join(shared, "models/coco.names")}}
detector: {providers: [${e.providers ?? "cpu"}], threads: 1}
cameras:
${cam("a", clip, e.fpsA ?? 2, e.minScoreA ?? 0.4)}${cam("b", clip, 2, 0.4, e.extraB)}${e.cameraC ? cam("c", e.cameraC, 2, 0.4) : ""}`;
}

describe("live config reload of a running agent", () => {
  it("valid → invalid → valid edits: applies exactly what changed, rejects bad edits untouched, camera b never stops", async () => {
    const clip = await personPanClip(5, 3);
    const empty = await emptyClip(3);
    const dir = mkdtempSync(path.join(tmpdir(), "eva-reload-"));
    const file = path.join(dir, "eva.yaml");
    writeFileSync(file, configText(clip));

    const sub = await MessageCollector.subscribe(broker.url, "eva/dev-r/#");
    let kill: (s: NodeJS.Signals) => void = () => {};
    const running = eva(["run", "--config", file], { timeoutMs: 280_000, onSpawn: (k) => (kill = k) });
    await sub.until((m) => m.some((x) => x.topic === "eva/dev-r/status" && x.payload === "online"), 60_000, "agent online");
    await new Promise((r) => setTimeout(r, 2000));

    const reports = () => sub.on("eva/dev-r/config").map((m) => JSON.parse(m.payload) as Report);
    const nextReport = async (): Promise<Report> => {
      const n = reports().length;
      await sub.until(() => reports().length > n, 40_000, `config report #${n + 1}`);
      return reports()[n]!;
    };
    /**
     * Camera b has processed frames since the last report: two stats messages after it, the second counting
     * frames through its detector (a stats interval can start before the report). Waiting for this instead of
     * a fixed second keeps the "b never stopped" check true on a busy machine, where b can go a second
     * without a processed frame (it failed with 0 > 0 at load 9–13).
     */
    const freshFramesOnB = async (): Promise<void> => {
      const from = sub.messages.length;
      const stats = () => sub.messages.slice(from).filter((m) => m.topic === "eva/dev-r/stats" || m.topic.endsWith("/dev-r/stats"));
      const processedB = (m: { payload: string }) =>
        ((JSON.parse(m.payload) as { cameras: Record<string, { fps_processed: number }> }).cameras.b?.fps_processed ?? 0) > 0;
      await sub.until(() => stats().slice(1).some(processedB), 60_000, "camera b processing frames");
    };
    /** Saves as editors do: half of them write in place, half write a temp file and rename it over. */
    let saves = 0;
    const save = async (text: string): Promise<Report> => {
      await freshFramesOnB();
      const next = nextReport();
      if (saves++ % 2) writeFileSync(file, text);
      else {
        writeFileSync(`${file}.tmp`, text);
        renameSync(`${file}.tmp`, file);
      }
      return next;
    };

    // 1. valid: a threshold of camera a → applied live, nothing restarted
    let r = await save(configText(clip, { minScoreA: 0.6 }));
    expect(r).toMatchObject({ result: "applied", changed: ["cameras.a.detect.min_score"] });
    expect(r.hash).toMatch(/^[0-9a-f]{64}$/);

    // 2. invalid: an unknown key under camera b → rejected with its place
    const typo = configText(clip, { minScoreA: 0.6, extraB: "    fsp: 3\n" });
    r = await save(typo);
    expect(r.result).toBe("rejected");
    const typoLine = typo.split("\n").findIndex((l) => l.includes("fsp:")) + 1;
    expect(r.errors).toEqual([{ file, line: typoLine, col: 5, path: "cameras.b.fsp", message: "unknown key 'fsp'" }]);

    // 3. invalid: a model file that is not ONNX → rejected at models.coco.path
    const bogus = path.join(dir, "bogus.onnx");
    writeFileSync(bogus, "this is not a model\n");
    r = await save(configText(clip, { minScoreA: 0.6, model: bogus }));
    expect(r.result).toBe("rejected");
    expect(r.errors![0]).toMatchObject({ path: "models.coco.path", line: 5 });
    expect(r.errors![0]!.message).toContain("not an ONNX model");

    // 3b. a model that does not load (no TensorRT here): rejected after the background load failed
    r = await save(configText(clip, { minScoreA: 0.6, providers: "tensorrt" }));
    expect(r.result).toBe("rejected");
    expect(r.errors![0]).toMatchObject({ path: "models.coco.path", line: 5 });
    expect(r.errors![0]!.message).toMatch(/model does not load: .*tensorrt/);

    // 4. valid: camera a's fps (restart a only), camera c added, MQTT keepalive (publisher reconnects).
    // `changed` is relative to edit 1: the rejected edits left nothing behind.
    r = await save(configText(clip, { minScoreA: 0.6, fpsA: 3, cameraC: empty, keepalive: 10 }));
    expect(r).toMatchObject({ result: "applied", changed: ["cameras.a.fps", "cameras.c", "mqtt.keepalive"] });

    // 5. the model swaps in the background (FastestDet), cameras keep their size: no camera restarts
    r = await save(configText(clip, { minScoreA: 0.6, fpsA: 3, cameraC: empty, keepalive: 10, model: path.join(shared, "models/fastestdet.onnx") }));
    expect(r).toMatchObject({ result: "applied", changed: ["models.coco.path"] });

    // 6. SIGHUP with the file unchanged: applied, nothing changed; 7. camera c removed
    await freshFramesOnB();
    const hup = nextReport();
    kill("SIGHUP");
    r = await hup;
    expect(r).toMatchObject({ result: "applied", changed: [] });
    r = await save(configText(clip, { minScoreA: 0.6, fpsA: 3, keepalive: 10, model: path.join(shared, "models/fastestdet.onnx") }));
    expect(r).toMatchObject({ result: "applied", changed: ["cameras.c"] });
    await new Promise((res) => setTimeout(res, 1500));

    kill("SIGTERM");
    const result = await running;
    expect(result.code, result.stderr.slice(-3000)).toBe(0);
    await sub.close();

    const lines = logLines(result.stderr);
    const reloadLines = lines.filter((l) => l.msg === "config applied" || l.msg.startsWith("config rejected"));
    expect(reloadLines.map((l) => l.msg.split(";")[0])).toEqual([
      "config applied",
      "config rejected",
      "config rejected",
      "config rejected",
      "config applied",
      "config applied",
      "config applied",
      "config applied",
    ]);
    // Camera b ran through every edit on one ffmpeg: its frame counters only ever grew (a restart resets them).
    const bIn = reloadLines.map((l) => (l.figures as Record<string, { framesIn: number; processed: number }>).b!);
    for (let i = 1; i < bIn.length; i++) {
      expect(bIn[i]!.framesIn).toBeGreaterThan(bIn[i - 1]!.framesIn);
      expect(bIn[i]!.processed).toBeGreaterThan(bIn[i - 1]!.processed);
    }
    const cameraLines = (cam: string, msg: string) => lines.filter((l) => l.camera === cam && l.msg === msg).length;
    expect(cameraLines("b", "camera online")).toBe(1);
    expect(cameraLines("b", "camera stopped")).toBe(1); // at shutdown only
    expect(cameraLines("a", "camera online")).toBe(2); // restarted once, for its fps
    expect(cameraLines("c", "camera online")).toBe(1);
    expect(cameraLines("c", "camera stopped")).toBe(1);
    // The rejected edits' errors are in the log too.
    expect(lines.find((l) => l.msg.startsWith("config rejected"))?.errors).toEqual([expect.objectContaining({ path: "cameras.b.fsp" })]);
    // the model was loaded twice: YOLOX at start, FastestDet swapped in by edit 5
    expect(lines.filter((l) => l.msg === "detector ready").map((l) => l.format)).toEqual(["yolox", "fastestdet"]);
    // the publisher reconnected once for the keepalive change
    expect(lines.filter((l) => l.msg === "connecting to MQTT broker").length).toBe(2);
  }, 300_000);
});

describe("live reload of storage and MQTT topics", () => {
  it("a new database and topic prefix: the store reopens, the publisher reconnects, events go to the new place", async () => {
    const clip = await personPanClip(5, 3);
    const dir = mkdtempSync(path.join(tmpdir(), "eva-reload-"));
    const file = path.join(dir, "eva.yaml");
    const one = (e: Edit) =>
      configText(clip, e)
        .replace(/ {2}b:[\s\S]*$/, "")
        .replace("dev-r", "dev-s");
    writeFileSync(file, one({}));
    const sub = await MessageCollector.subscribe(broker.url, "+/dev-s/#");
    let kill: (s: NodeJS.Signals) => void = () => {};
    const running = eva(["run", "--config", file], { timeoutMs: 170_000, onSpawn: (k) => (kill = k) });
    await sub.until((m) => m.some((x) => x.topic === "eva/dev-s/status" && x.payload === "online"), 60_000, "agent online");

    // saved while the agent may still be loading its model: the edit must not be lost
    writeFileSync(file, one({ db: "moved.db", prefix: "site9" }));
    const [applied] = (await sub.until((m) => m.some((x) => x.topic === "site9/dev-s/config"), 30_000, "report on the new prefix")).filter(
      (x) => x.topic === "site9/dev-s/config",
    );
    expect(JSON.parse(applied!.payload)).toMatchObject({ result: "applied", changed: ["mqtt.topic_prefix", "storage.db"] });
    // the old topic's device went offline cleanly; events now come on the new prefix
    expect(sub.on("eva/dev-s/status").at(-1)?.payload).toBe("stopped"); // the old publisher stopped cleanly
    await sub.until((m) => m.some((x) => x.topic === "site9/dev-s/events"), 30_000, "an event on the new prefix");
    // That message may be an old event's end, moved with the outbox: wait for an event begun in the new file.
    const moved = async () => {
      const store = new EventStore(path.join(dir, "moved.db"), { readonly: true });
      try {
        return store.queryEvents({ camera: "a" }).length;
      } finally {
        store.close();
      }
    };
    for (const end = Date.now() + 60_000; (await moved()) === 0 && Date.now() < end; ) await new Promise((r) => setTimeout(r, 200));
    expect(await moved()).toBeGreaterThan(0);
    kill("SIGTERM");
    const result = await running;
    expect(result.code, result.stderr.slice(-3000)).toBe(0);
    await sub.close();
  }, 180_000);
});
