import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { parse, stringify } from "yaml";
import { distanceM } from "../../agent/geo/geodesy.js";
import type { SightingRecord } from "../../agent/records/sightings.js";
import type { SignAssetRecord } from "../../agent/records/sign-assets.js";
import { eva } from "../support/agent.js";
import { fileBroker } from "../support/broker.js";
import { MessageCollector } from "../support/mqtt.js";
import { repoRoot } from "../support/paths.js";

// The README's demo as a user gets it: config/traffic-signs.yaml's camera, models and thresholds on the shipped
// drive, through the real agent. Only what a test must change is changed: temp storage, the test broker, no
// console port, and frames read as fast as the agent takes them (realtime: false) instead of at the clip's speed.
const CONFIG = path.join(repoRoot, "config/traffic-signs.yaml");
const CLIP = path.join(repoRoot, "scripts/demo/gtsdb-drive.mp4");
const truth = JSON.parse(readFileSync(path.join(repoRoot, "scripts/demo/gtsdb-drive.truth.json"), "utf8")) as Array<{
  label: string;
  lat: number;
  lon: number;
}>;

const broker = await fileBroker();
const dir = mkdtempSync(path.join(tmpdir(), "eva-demo-drive-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** label → how many, for comparing sightings with the truth whatever their order within a pass */
const tally = (labels: readonly string[]) => Object.fromEntries([...new Set(labels)].sort().map((l) => [l, labels.filter((x) => x === l).length]));

describe("the demo drive through the demo config", () => {
  it("names exactly the truth file's signs on each pass of the loop, one sighting per sign per pass", async () => {
    const demo = parse(readFileSync(CONFIG, "utf8"));
    expect(demo.cameras.dashcam.source).toBe("../scripts/demo/gtsdb-drive.mp4");
    expect(demo.cameras.dashcam.loop).toBe(true);
    expect(demo.cameras.dashcam.gps).toEqual({ track: "../scripts/demo/gtsdb-drive.gpx" });
    const fromConfig = (p: string) => path.resolve(path.dirname(CONFIG), p);
    const config = {
      ...demo,
      device: { id: "demo-test" },
      mqtt: { url: broker.url, topic_prefix: "eva" },
      storage: { db: path.join(dir, "eva.db"), snapshots: path.join(dir, "snapshots") },
      models: Object.fromEntries(Object.entries(demo.models as Record<string, { path: string }>).map(([k, m]) => [k, { ...m, path: fromConfig(m.path) }])),
      detector: { ...demo.detector, providers: ["cpu"] },
      health: undefined,
      cameras: { dashcam: { ...demo.cameras.dashcam, source: CLIP, gps: { track: fromConfig(demo.cameras.dashcam.gps.track) }, realtime: false } },
    };
    const file = path.join(dir, "eva.yaml");
    writeFileSync(file, stringify(config));

    // Two whole passes have ended once a sighting of the third pass is published (scenes are a black second apart,
    // longer than the tracker keeps a lost sign); then the agent is stopped.
    const sub = await MessageCollector.subscribe(broker.url, "eva/demo-test/signs");
    let stop: ((sig: NodeJS.Signals) => void) | undefined;
    const running = eva(["run", "--config", file], { timeoutMs: 240_000, onSpawn: (kill) => (stop = kill) });
    await sub.until((m) => m.length > 2 * truth.length, 200_000, `${2 * truth.length + 1} sightings`);
    stop!("SIGINT");
    const run = await running;
    await sub.close();
    expect(run.code, run.stderr.slice(-2000)).toBe(0);

    const listed = await eva(["signs", "--db", path.join(dir, "eva.db"), "--json"]);
    expect(listed.code, listed.stderr).toBe(0);
    const sightings = (JSON.parse(listed.stdout) as SightingRecord[]).sort((a, b) => Date.parse(a.first_seen) - Date.parse(b.first_seen));
    const labels = sightings.map((s) => s.label);
    const n = truth.length;
    const report = `truth: ${truth.map((t) => t.label).join(", ")}\nsightings: ${labels.join(", ")}`;
    expect(tally(labels.slice(0, n)), report).toEqual(tally(truth.map((t) => t.label)));
    expect(tally(labels.slice(n, 2 * n)), report).toEqual(tally(truth.map((t) => t.label)));
    // the third pass begins with the drive's first sign: nothing else came between
    expect(labels[2 * n], report).toBe(truth[0]!.label);

    // Each sighting of both passes placed where the truth says its sign stands (labels are unique in the drive).
    const off = sightings.slice(0, 2 * n).map((s) => {
      const t = truth.find((x) => x.label === s.label)!;
      expect(s.fix, `${s.label}: located`).not.toBe("none");
      return { label: s.label, m: Math.round(distanceM(t, { lat: s.sign_lat!, lon: s.sign_lon! }) * 10) / 10 };
    });
    const errors = off.map((o) => `${o.label} ${o.m} m`).join(", ");
    console.log(`demo drive: sign position error ${errors}`);
    expect(Math.max(...off.map((o) => o.m)), errors).toBeLessThanOrEqual(30);

    // The second pass joined the first pass's assets: one asset per sign, each seen on both passes.
    const inventory = await eva(["signs", "--db", path.join(dir, "eva.db"), "--assets", "--json"]);
    expect(inventory.code, inventory.stderr).toBe(0);
    const assets = JSON.parse(inventory.stdout) as SignAssetRecord[];
    const seen = assets.map((a) => `${a.label} ×${a.passes_seen}`).join(", ");
    expect(tally(assets.map((a) => a.label)), seen).toEqual(tally(truth.map((t) => t.label)));
    expect(Math.min(...assets.map((a) => a.passes_seen)), seen).toBeGreaterThanOrEqual(2);
  }, 300_000);

  it("has a truth entry per sign and a GPS track that covers the clip", () => {
    expect(truth.length).toBeGreaterThanOrEqual(5);
    for (const t of truth) {
      expect(t.label).toMatch(/\w/);
      // the made-up road is in Bochum
      expect(Math.abs(t.lat - 51.45)).toBeLessThan(0.05);
      expect(Math.abs(t.lon - 7.27)).toBeLessThan(0.1);
    }
    const probe = JSON.parse(
      execFileSync("ffprobe", ["-v", "error", "-show_entries", "format=duration:format_tags=creation_time", "-of", "json", CLIP]).toString(),
    ) as { format: { duration: string; tags: { creation_time: string } } };
    const start = Date.parse(probe.format.tags.creation_time);
    const times = [...readFileSync(path.join(repoRoot, "scripts/demo/gtsdb-drive.gpx"), "utf8").matchAll(/<trkpt[^>]*>\s*<time>([^<]+)<\/time>/g)].map((m) =>
      Date.parse(m[1]!),
    );
    expect(times[0]).toBe(start);
    expect(times.at(-1)! - start).toBeGreaterThanOrEqual(Number(probe.format.duration) * 1000 - 500);
    expect(times.every((t, i) => i === 0 || t > times[i - 1]!)).toBe(true);
  });
});
