import { spawn, type ChildProcess } from "node:child_process";
import path from "node:path";
import Database from "better-sqlite3";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { TestBroker, sleep } from "../support/broker.js";
import { eva, writeTestConfig } from "../support/agent.js";
import { FleetReplay } from "../support/fleet-replay.js";
import { evaBin } from "../support/paths.js";
import { TestPostgres } from "../support/postgres.js";
import { twoWalkersClip } from "../support/sprite-clips.js";

/** One `eva ingest` process; its JSON log lines are kept to wait on. */
class IngestProcess {
  stderr = "";
  healthPort = 0;
  readonly proc: ChildProcess;
  private waiters: Array<() => void> = [];

  constructor(args: string[]) {
    this.proc = spawn(process.execPath, [evaBin, "ingest", ...args], { env: { ...process.env, EVA_LOG_FORMAT: "json" }, stdio: ["ignore", "ignore", "pipe"] });
    this.proc.stderr!.on("data", (d: Buffer) => {
      this.stderr += d.toString();
      const m = /"port":(\d+)[^\n]*ingest health server listening/.exec(this.stderr);
      if (m) this.healthPort = Number(m[1]);
      for (const w of this.waiters) w();
    });
  }

  /** Resolves once the log holds `text` `times` times. */
  waitLog(text: string, timeoutMs = 30_000, times = 1): Promise<void> {
    return new Promise((resolve, reject) => {
      const check = () => {
        if (this.stderr.split(text).length - 1 < times) return;
        clearTimeout(timer);
        this.waiters = this.waiters.filter((w) => w !== check);
        resolve();
      };
      const timer = setTimeout(() => reject(new Error(`no '${text}' in ingest log:\n${this.stderr.slice(-3000)}`)), timeoutMs);
      this.waiters.push(check);
      check();
    });
  }

  async health(): Promise<number> {
    return (await fetch(`http://127.0.0.1:${this.healthPort}/healthz`)).status;
  }

  kill9(): Promise<void> {
    return new Promise((resolve) => {
      if (this.proc.exitCode !== null || this.proc.signalCode !== null) return resolve();
      this.proc.once("exit", () => resolve());
      this.proc.kill("SIGKILL");
    });
  }

  stop(): Promise<number | null> {
    return new Promise((resolve) => {
      if (this.proc.exitCode !== null || this.proc.signalCode !== null) return resolve(this.proc.exitCode);
      this.proc.once("exit", (code) => resolve(code));
      this.proc.kill("SIGTERM");
    });
  }
}

let broker: TestBroker;
let server: TestPostgres;
let db: pg.Pool;
const ingests: IngestProcess[] = [];

beforeAll(async () => {
  [broker, server] = await Promise.all([TestBroker.start(), TestPostgres.start()]);
  db = new pg.Pool({ connectionString: server.url, max: 2 });
  db.on("error", () => {}); // the test restarts the server under it
}, 120_000);
afterAll(async () => {
  await Promise.all(ingests.map((i) => i.kill9()));
  await db?.end();
  await Promise.all([broker?.dispose(), server?.dispose()]);
});

const startIngest = (name: string): IngestProcess => {
  const p = new IngestProcess([
    "--mqtt",
    broker.url,
    "--postgres",
    server.url,
    "--group",
    "control",
    "--client-id",
    name,
    "--lanes",
    "3",
    "--health-port",
    "0",
  ]);
  ingests.push(p);
  return p;
};

/** The simulated devices' rows; the real agents' are checked against their SQLite files. */
const SIM = "device LIKE 'sim-%'";

/** Rows per table now; 0 while the server is down. */
async function counts(): Promise<Record<string, number>> {
  try {
    const { rows } = await db.query(
      `SELECT (SELECT count(*) FROM events WHERE end_time IS NOT NULL AND ${SIM})::int AS events, (SELECT count(*) FROM crossings WHERE ${SIM})::int AS crossings,
              (SELECT count(*) FROM signs WHERE ${SIM})::int AS signs, (SELECT count(*) FROM alarms WHERE ${SIM})::int AS alarms, (SELECT count(*) FROM dead_letters)::int AS dead_letters,
              (SELECT count(*) FROM devices WHERE status = 'online' AND ${SIM})::int AS online`,
    );
    return rows[0] as Record<string, number>;
  } catch {
    return {};
  }
}

async function waitCounts(pred: (c: Record<string, number>) => boolean, what: string, timeoutMs = 60_000, pollMs = 200): Promise<Record<string, number>> {
  const deadline = Date.now() + timeoutMs;
  let last: Record<string, number> = {};
  while (Date.now() < deadline) {
    last = await counts();
    if (pred(last)) return last;
    await sleep(pollMs);
  }
  throw new Error(`timed out waiting for ${what}; last counts ${JSON.stringify(last)}\n${ingests.map((i) => i.stderr.slice(-1500)).join("\n---\n")}`);
}

/** Two real agents on a short clip with a counting line and a zone: events, crossings and count reports. */
async function startAgents(): Promise<Array<{ device: string; dir: string; run: Promise<{ code: number | null; stderr: string }> }>> {
  const clip = await twoWalkersClip(10);
  const extra = [
    "    zones:",
    "      floor: {points: [[320, 200], [640, 200], [640, 360], [320, 360]]}",
    "    lines:",
    "      door: {points: [[320, 0], [320, 360]], hysteresis_px: 15}",
    "    counts: {interval_seconds: 300}",
    "",
  ].join("\n");
  return ["agent-a", "agent-b"].map((device) => {
    const { file, dir } = writeTestConfig({ brokerUrl: broker.url, deviceId: device, cameras: { cam: { source: clip, fps: 10, extra, realtime: false } } });
    return { device, dir, run: eva(["run", "--config", file, "--exit-on-eof"], { timeoutMs: 150_000 }) };
  });
}

/** What an agent stored in its SQLite file, as the keys the ingest gives them: table → `device|id|revision`. */
function agentRecords(device: string, dir: string): Record<string, string[]> {
  const db = new Database(path.join(dir, "eva.db"), { readonly: true });
  try {
    const q = (sql: string) => (db.prepare(sql).all() as Array<{ k: string }>).map((r) => `${device}|${r.k}`);
    return {
      events: q("SELECT id || '|' || revision AS k FROM events"),
      crossings: q("SELECT record_id || '|0' AS k FROM crossings"),
      // the agent keeps an alarm's latest state; the control room a row per state
      alarms: q("SELECT id || '/' || state || '|' || revision AS k FROM alarms"),
      count_reports: (
        db.prepare("SELECT camera, subject, name, interval_start_ms, revision FROM count_reports").all() as Array<Record<string, string | number>>
      ).map((r) => `${device}|${r.camera}/${r.subject}/${r.name}/${new Date(r.interval_start_ms as number).toISOString()}|${r.revision}`),
    };
  } finally {
    db.close();
  }
}

describe("eva ingest: three processes in one group, two real agents and 50 simulated devices, faults (real mosquitto and PostgreSQL)", () => {
  it("stores every record exactly once through a kill -9, a PostgreSQL restart and a broker restart", { timeout: 300_000 }, async () => {
    const DEVICES = 50;
    const group = [startIngest("ing-a"), startIngest("ing-b"), startIngest("ing-c")];
    await Promise.all(group.map((i) => i.waitLog("ingest subscribed")));
    const fleet = await FleetReplay.connect(broker.url, DEVICES);
    const agents = await startAgents();
    try {
      const expected: Record<string, string[]> = { events: [], crossings: [], signs: [], alarms: [] };
      const add = (e: Record<string, string[]>) => {
        for (const [t, keys] of Object.entries(e)) expected[t]!.push(...keys);
      };

      // Round 0 flows through all three; the garbage goes to dead_letters without stopping anything.
      add((await fleet.round(0)).expected);
      const garbage = await fleet.garbage(300_000);
      await waitCounts((c) => c.events === DEVICES && c.dead_letters! >= garbage && c.online === DEVICES, "round 0 and the dead letters");
      // every member of the group took a share
      for (const i of group) expect(i.stderr).toMatch(/"msg":"MQTT connected"/);

      // kill -9 one ingest while round 1 and the agents are in flight: what it held unacknowledged, and its share
      // queued since, wait in its sessions at the broker.
      const round1 = fleet.round(1);
      await waitCounts((c) => c.crossings! > 2 * DEVICES, "round 1 under way", 40_000, 20);
      await group[1]!.kill9();
      add((await round1).expected);

      // PostgreSQL down while round 2 is published: nothing is acknowledged, the ingests report unhealthy.
      await server.stopServer();
      const round2 = fleet.round(2);
      const live = [group[0]!, group[2]!];
      const deadline = Date.now() + 60_000;
      while (!(await Promise.all(live.map((i) => i.health()))).every((s) => s === 503)) {
        if (Date.now() > deadline) throw new Error("ingests did not report PostgreSQL down");
        await sleep(100);
      }
      await server.startServer();
      add((await round2).expected);

      // The agents run to the clip's end (their outbox holds what the broker has not taken). The broker restart
      // comes after them: mosquitto 2.0 drops what is published before the ingests subscribe again (docs/fleet.md).
      for (const a of agents) {
        const r = await a.run;
        expect(r.code, r.stderr.slice(-2000)).toBe(0);
      }

      // The broker restarts (its persistence keeps the sessions): ingests and devices reconnect, round 3 flows.
      // mosquitto 2.0 does not restore shared subscriptions from its persistence file, so what is published
      // before the ingests subscribe again has no subscriber (docs/fleet.md): round 3 waits for them.
      await broker.restart();
      await Promise.all(live.map((i) => i.waitLog('"msg":"MQTT subscribed"', 30_000, 6)));
      add((await fleet.round(3)).expected);

      // The killed ingest comes back under its client id and resumes its sessions.
      const back = startIngest("ing-b");
      await back.waitLog("ingest subscribed");
      const final = await waitCounts(
        (c) => c.events === 4 * DEVICES && c.crossings === 8 * DEVICES && c.signs === 4 * DEVICES && c.alarms === 4 * DEVICES,
        "all four rounds",
      );
      // every record of each real agent's SQLite file, at its last revision, once
      const stored: Record<string, string[]> = { events: [], crossings: [], alarms: [], count_reports: [] };
      for (const a of agents) for (const [t, keys] of Object.entries(agentRecords(a.device, a.dir))) stored[t]!.push(...keys);
      expect(stored.events!.length).toBeGreaterThan(0);
      expect(stored.crossings!.length).toBeGreaterThan(0);
      expect(stored.count_reports!.length).toBeGreaterThan(0);
      const agentKeys = async (table: string, revision: boolean) => {
        const { rows } = await db.query(
          `SELECT device || '|' || id || '|' || ${revision ? "revision" : "0"} AS k FROM ${table} WHERE device LIKE 'agent-%' ORDER BY 1`,
        );
        return rows.map((r) => r.k as string);
      };
      // the last revisions may still be on their way from the restarted ingest's sessions
      const want = [...stored.events!].sort().join("\n") + [...stored.count_reports!].sort().join("\n");
      for (const until = Date.now() + 30_000; Date.now() < until; await sleep(200)) {
        if ((await agentKeys("events", true)).join("\n") + (await agentKeys("count_reports", true)).join("\n") === want) break;
      }
      expect(await agentKeys("events", true)).toEqual([...stored.events!].sort());
      expect(await agentKeys("crossings", false)).toEqual([...stored.crossings!].sort());
      expect(await agentKeys("count_reports", true)).toEqual([...stored.count_reports!].sort());
      const latestAlarms = await db.query(
        "SELECT DISTINCT ON (device, alarm_id) device || '|' || id || '|' || revision AS k FROM alarms WHERE device LIKE 'agent-%' ORDER BY device, alarm_id, revision DESC",
      );
      expect(latestAlarms.rows.map((r) => r.k as string).sort()).toEqual([...stored.alarms!].sort());

      // the broker's restart sent every simulated device's will: they do not say online again; the agents stopped
      const st = await db.query("SELECT status, count(*)::int AS n FROM devices WHERE device LIKE 'sim-%' GROUP BY 1");
      expect(st.rows).toEqual([{ status: "offline", n: DEVICES }]);
      const ag = await db.query("SELECT device, status FROM devices WHERE device LIKE 'agent-%' ORDER BY 1");
      expect(ag.rows).toEqual([
        { device: "agent-a", status: "stopped" },
        { device: "agent-b", status: "stopped" },
      ]);
      expect(final.online).toBe(0);
      for (const i of live) expect(await i.health()).toBe(200);

      // exactly the published keys, each once (the primary key forbids twice; this checks none is missing or extra)
      for (const table of ["events", "crossings", "signs", "alarms"]) {
        const { rows } = await db.query(`SELECT device || '|' || id AS k FROM ${table} WHERE device LIKE 'sim-%' ORDER BY 1`);
        expect(
          rows.map((r) => r.k as string),
          table,
        ).toEqual([...expected[table]!].sort());
      }
      // events reached their last revision (the end), fields a device added later are kept, points are points
      const ev = await db.query("SELECT count(*)::int AS n FROM events WHERE revision = 2 AND top_score = 0.8 AND device LIKE 'sim-%'");
      expect(ev.rows[0].n).toBe(4 * DEVICES);
      const sg = await db.query("SELECT count(*)::int AS n FROM signs WHERE payload->>'new_field' = 'kept'");
      expect(sg.rows[0].n).toBe(4 * DEVICES);
      const geo = await db.query("SELECT count(*)::int AS n FROM crossings WHERE geom IS NOT NULL AND device LIKE 'sim-%'");
      expect(geo.rows[0].n).toBe(4 * DEVICES);
      const dl = await db.query("SELECT DISTINCT reason FROM dead_letters ORDER BY 1");
      expect(dl.rows.map((r) => r.reason)).toEqual(["bad_json", "invalid_record", "oversized", "rejected"]);

      const metrics = await (await fetch(`http://127.0.0.1:${group[0]!.healthPort}/metrics`)).text();
      expect(metrics).toMatch(/eva_ingest_rows_written_total\{table="events"\} [1-9]/);
      expect(metrics).toMatch(/eva_ingest_batch_messages_count [1-9]/);

      for (const i of [...live, back]) expect(await i.stop()).toBe(0);
    } finally {
      await fleet.close();
    }
  });
});
