import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { SignSighting } from "../../agent/analytics/sign-sightings.js";
import { boxIou } from "../../agent/evaluate/detection-metrics.js";
import { frameNumber, parseGroundTruthCsv } from "../../agent/evaluate/sign-report.js";
import { eva } from "../support/agent.js";
import { repoRoot, shared } from "../support/paths.js";

// Held-out real dashcam frames (GTSDB 00500-00599, never read by training) as a slideshow, through the agent as
// a camera would deliver them: detector on the whole frame, then the sign classifier on crops of the 816×480 frame.
const DETECTOR = process.env.EVA_SIGN_MODEL ?? path.join(repoRoot, "models/traffic-signs.onnx");
const CLASSIFIER = process.env.EVA_SIGN_CLASSIFIER ?? path.join(repoRoot, "models/sign-classifier.onnx");
const GTSDB = path.join(shared, "data/gtsdb-train");

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(path.join(tmpdir(), "eva-signs-real-"));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("eva run on a slideshow of held-out real frames", () => {
  it("gives sightings with the right classes, and eva signs lists them", async () => {
    // Each frame 0.67 s (2 frames at 3 fps: the tracker's min_hits), then 0.33 s black, so one slide's signs are
    // never tracked into the next.
    const clip = path.join(dir, "held-out.mp4");
    execFileSync("ffmpeg", [
      "-y",
      "-loglevel",
      "error",
      "-framerate",
      "1",
      "-pattern_type",
      "glob",
      "-i",
      path.join(GTSDB, "frames/005*.jpg"),
      "-vf",
      "fps=3,drawbox=x=0:y=0:w=iw:h=ih:color=black:t=fill:enable='gte(mod(t\\,1)\\,0.59)'",
      "-c:v",
      "libx264",
      "-preset",
      "veryfast",
      "-crf",
      "18",
      "-pix_fmt",
      "yuv420p",
      clip,
    ]);
    const file = path.join(dir, "eva.yaml");
    writeFileSync(
      file,
      `device: {id: held-out}
mqtt: {url: "mqtt://127.0.0.1:1"}
storage: {db: eva.db, snapshots: snapshots}
models:
  signs: {path: ${DETECTOR}}
  sign-classifier: {path: ${CLASSIFIER}}
detector: {providers: [cpu], threads: 1}
cameras:
  dashcam:
    source: ${clip}
    fps: 3
    realtime: false
    detect: {model: signs, width: 816, height: 480, min_score: 0.3, nms_class_agnostic: true}
    classify: [{model: sign-classifier}]
    tracker: {high_score: 0.3, min_hits: 2}
    signs: {}
    events: {min_frames: 2, end_after_seconds: 0.3}
`,
    );
    const run = await eva(["run", "--config", file, "--exit-on-eof"], { timeoutMs: 180_000 });
    expect(run.code, run.stderr.slice(-2000)).toBe(0);
    const listed = await eva(["signs", "--db", path.join(dir, "eva.db"), "--json"]);
    expect(listed.code, listed.stderr).toBe(0);
    const sightings = JSON.parse(listed.stdout) as SignSighting[];

    const truths = parseGroundTruthCsv(readFileSync(path.join(GTSDB, "gt.csv"), "utf8")).filter(
      (r) => frameNumber(r.file)! >= 500 && frameNumber(r.file)! <= 599,
    );
    const labels = JSON.parse(
      execFileSync("/usr/bin/python3", [
        "-c",
        `import onnx,sys; print(dict((p.key,p.value) for p in onnx.load(sys.argv[1]).metadata_props)['labels'])`,
        CLASSIFIER,
      ]).toString(),
    ) as string[];
    // A sighting is right when a held-out sign of its class lies under its box (IoU ≥ 0.5; in some frame: the
    // frames' dates are the agent's, so the slide is found by place and class).
    const right = sightings.filter((s) => truths.some((t) => labels[t.classId] === s.label && boxIou(s.box, t.box) >= 0.5));
    const found = truths.filter((t) => sightings.some((s) => labels[t.classId] === s.label && boxIou(s.box, t.box) >= 0.5));
    const report = `${right.length}/${sightings.length} sightings right, ${found.length}/${truths.length} signs found: ${sightings.map((s) => s.label).join(", ")}`;
    console.info(`held-out slideshow: ${report}`);
    expect(sightings.length, report).toBeGreaterThanOrEqual(10);
    expect(right.length / sightings.length, report).toBeGreaterThanOrEqual(0.7);
    expect(found.length / truths.length, report).toBeGreaterThanOrEqual(0.3);
    // every sighting has a snapshot of its best view
    expect(sightings.every((s) => s.snapshot && existsSync(s.snapshot))).toBe(true);
  });
});
