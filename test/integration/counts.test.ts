import path from "node:path";
import { describe, expect, it } from "vitest";
import type { EventMessage } from "../../agent/publish/payload-schemas.js";
import type { CrossingMessage } from "../../agent/records/crossings.js";
import { eva, writeTestConfig } from "../support/agent.js";
import { checkPublished } from "../support/api-schemas.js";
import { fileBroker } from "../support/broker.js";
import { MessageCollector } from "../support/mqtt.js";
import { twoWalkersClip } from "../support/sprite-clips.js";

// Count reports through the real agent: a real clip, detector and broker. Whatever interval the run falls in,
// the reports must add up to the crossings and zone entries the agent published beside them.

const FPS = 10;
const broker = await fileBroker();

interface Report {
  id: string;
  revision: number;
  subject: "line" | "zone";
  line?: string;
  zone?: string;
  interval: { start: string; seconds: number };
  complete: boolean;
  classes: Record<string, Record<string, number>>;
  totals: Record<string, number>;
  today: { since: string; totals: Record<string, number> };
}

const sum = (reports: Report[], field: string, label?: string) =>
  reports.reduce((s, r) => s + (label ? (r.classes[label]?.[field] ?? 0) : (r.totals[field] ?? 0)), 0);

describe("count reports", { timeout: 240_000 }, () => {
  it("per line and zone, stored and published, add up to the crossings and the zone entries", async () => {
    // A walks into the right half (the zone) across the line at x = 320 and back out; B comes into the zone from
    // the right edge and leaves the way it came, never crossing the line.
    const clip = await twoWalkersClip(FPS);
    const extra = [
      "    zones:",
      "      floor: {points: [[320, 200], [640, 200], [640, 360], [320, 360]]}",
      "    lines:",
      "      door: {points: [[320, 0], [320, 360]], hysteresis_px: 15}",
      "    counts: {interval_seconds: 300}",
      "",
    ].join("\n");
    const { file, dir } = writeTestConfig({
      brokerUrl: broker.url,
      deviceId: "dev-counts",
      cameras: { cam: { source: clip, fps: FPS, extra, realtime: false } },
    });
    const sub = await MessageCollector.subscribe(broker.url, "eva/dev-counts/#");
    const run = await eva(["run", "--config", file, "--exit-on-eof"], { timeoutMs: 120_000 });
    expect(run.code, run.stderr).toBe(0);
    const msgs = await sub.until((m) => m.some((x) => x.topic === "eva/dev-counts/status" && x.payload === "stopped"), 30_000, "the agent's last message");
    const problems = msgs.flatMap((m) => checkPublished("eva/dev-counts", m.topic, m.payload));
    await sub.close();
    expect(problems.slice(0, 10)).toEqual([]);

    const of = <T>(topic: string) => msgs.filter((m) => m.topic === `eva/dev-counts/${topic}`).map((m) => JSON.parse(m.payload) as T);
    const crossings = of<CrossingMessage>("crossings");
    const ends = of<EventMessage>("events").filter((e) => e.type === "end");
    const reports = of<Report>("counts");
    const lineReports = reports.filter((r) => r.subject === "line" && r.line === "door");
    const zoneReports = reports.filter((r) => r.subject === "zone" && r.zone === "floor");

    // the clip: A crosses out and back in; A and B each enter the zone once; at most both are in it at once
    expect(crossings.map((c) => c.direction).sort()).toEqual(["in", "out"]);
    expect(ends.filter((e) => e.event.entered_zones?.includes("floor"))).toHaveLength(2);
    // one report per line and zone per interval the run touched, the last one partial (the clip ended)
    expect(lineReports.length).toBeGreaterThan(0);
    expect(zoneReports.length).toBe(lineReports.length);
    expect(lineReports.at(-1)!.complete).toBe(false);
    expect(lineReports.every((r) => r.interval.seconds === 300 && Date.parse(r.interval.start) % 300_000 === 0)).toBe(true);

    // the reports add up to what was published beside them, per class
    for (const direction of ["in", "out"]) {
      expect(sum(lineReports, direction), direction).toBe(crossings.filter((c) => c.direction === direction).length);
      expect(sum(lineReports, direction, "person")).toBe(crossings.filter((c) => c.direction === direction && c.label === "person").length);
    }
    expect(sum(zoneReports, "entries")).toBe(ends.filter((e) => e.event.entered_zones?.includes("floor")).length);
    expect(Math.max(...zoneReports.map((r) => r.totals.peak!))).toBe(2);
    // since midnight: the last report's day totals are its day's reports
    const last = lineReports.at(-1)!;
    const sameDay = lineReports.filter((r) => r.today.since === last.today.since);
    expect(last.today.totals).toEqual({ in: sum(sameDay, "in"), out: sum(sameDay, "out") });
    expect(new Set(reports.map((r) => r.id)).size).toBe(reports.length);

    // the retained copy per line and zone is the latest report
    expect(of<Report>("counts/cam/lines/door").at(-1)).toEqual(last);
    expect(of<Report>("counts/cam/zones/floor").at(-1)).toEqual(zoneReports.at(-1));

    // what `eva counts` reads from SQLite is what went out
    const stored = await eva(["counts", "--db", path.join(dir, "eva.db"), "--camera", "cam", "--json"]);
    expect(stored.code, stored.stderr).toBe(0);
    const rows = JSON.parse(stored.stdout) as Report[];
    // one row per interval: its latest revision
    const latest = (rs: Report[]) => rs.filter((r) => !rs.some((x) => x.interval.start === r.interval.start && x.revision > r.revision));
    expect(rows.filter((r) => r.subject === "line")).toEqual(latest(lineReports));
    expect(rows.filter((r) => r.subject === "zone")).toEqual(latest(zoneReports));
    const text = await eva(["counts", "--db", path.join(dir, "eva.db")]);
    expect(text.stdout).toMatch(/ 5 min +cam +line door +person in=\d out=\d/);
  });
});
