#!/usr/bin/env node
// Throughput and latency of `eva ingest`, with 1 and 2 processes, on a scratch mosquitto and PostgreSQL it starts
// itself (or on ones you name with --mqtt and --postgres: a scratch database, it truncates `crossings`). Needs a
// built dist/, mosquitto and PostgreSQL's binaries (PG_BIN, default /usr/lib/postgresql/15/bin).
//
//   node scripts/bench/ingest-bench.mjs [--devices 50] [--messages 40000] [--processes 1,2] [--lanes 4] [--rate 1000]
//
// drain: the ingests subscribe once and stop; the devices publish `messages` crossings, which wait in the ingests'
//   sessions; the ingests start again and drain them. records/s = messages / (last row's commit − first row's),
//   and the CPU seconds mosquitto, PostgreSQL and the ingests spent on it, per 1 000 records.
// rate: the devices publish at `rate` records/s for `seconds`; p50/p99 of publish → row (received_at, the
//   statement's start, minus the sent_at the publisher put in the payload; both clocks are this machine's).
import { execFileSync, spawn, spawnSync } from "node:child_process";
import { chownSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { cpus, loadavg, tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import mqtt from "mqtt";
import pg from "pg";

const { values } = parseArgs({
  options: {
    mqtt: { type: "string" },
    postgres: { type: "string" },
    devices: { type: "string", default: "50" },
    messages: { type: "string", default: "40000" },
    processes: { type: "string", default: "1,2" },
    lanes: { type: "string", default: "4" },
    rate: { type: "string", default: "1000" },
    seconds: { type: "string", default: "10" },
  },
});
const evaBin = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../dist/agent/cli/main.js");
const devices = Number(values.devices);
const messages = Number(values.messages);
const TICK = 100; // Linux clock ticks per second in /proc/<pid>/stat

const freePort = () =>
  new Promise((resolve) => {
    const s = createServer().listen(0, "127.0.0.1", () => {
      const { port } = /** @type {import("node:net").AddressInfo} */ (s.address());
      s.close(() => resolve(port));
    });
  });

/** utime + stime (+ reaped children's) of a process, in seconds; 0 once it is gone. */
function cpuSeconds(pid, children = false) {
  try {
    const f = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1].split(" ");
    const own = Number(f[11]) + Number(f[12]);
    return (children ? own + Number(f[13]) + Number(f[14]) : own) / TICK;
  } catch {
    return 0;
  }
}

/** A process and every live child's CPU, with what its exited children left in cutime/cstime. */
function treeCpuSeconds(pid) {
  let total = cpuSeconds(pid, true);
  for (const d of readdirSync("/proc")) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const f = readFileSync(`/proc/${d}/stat`, "utf8").split(") ")[1].split(" ");
      if (Number(f[1]) === pid) total += cpuSeconds(Number(d));
    } catch {}
  }
  return total;
}

async function scratchServices() {
  const dir = mkdtempSync(path.join(tmpdir(), "eva-ingest-bench-"));
  const bin = process.env.PG_BIN ?? "/usr/lib/postgresql/15/bin";
  const asPg = (cmd, args) => {
    const r =
      process.getuid?.() === 0
        ? spawnSync("runuser", ["-u", "postgres", "--", path.join(bin, cmd), ...args], { encoding: "utf8" })
        : spawnSync(path.join(bin, cmd), args, { encoding: "utf8" });
    if (r.status !== 0) throw new Error(`${cmd}: ${r.stdout}${r.stderr}`);
  };
  if (process.getuid?.() === 0) chownSync(dir, Number(execFileSync("id", ["-u", "postgres"])), Number(execFileSync("id", ["-g", "postgres"])));
  const pgPort = await freePort();
  asPg("initdb", ["-D", `${dir}/pg`, "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync"]);
  // fsync stays on: the commit's flush is part of what a record costs.
  asPg("pg_ctl", [
    "-D",
    `${dir}/pg`,
    "-l",
    `${dir}/pg.log`,
    "-o",
    `-p ${pgPort} -c listen_addresses=127.0.0.1 -c unix_socket_directories=${dir}`,
    "-w",
    "start",
  ]);
  const postmaster = Number(readFileSync(`${dir}/pg/postmaster.pid`, "utf8").split("\n")[0]);
  const mqttPort = await freePort();
  const conf = [`listener ${mqttPort} 127.0.0.1`, "allow_anonymous true", "max_queued_messages 10000000", "max_inflight_messages 1000"];
  if (process.getuid?.() === 0) conf.push("user root");
  writeFileSync(`${dir}/mosquitto.conf`, `${conf.join("\n")}\n`);
  const mosquitto = spawn(process.env.MOSQUITTO_BIN ?? "/usr/sbin/mosquitto", ["-c", `${dir}/mosquitto.conf`], { stdio: "ignore" });
  for (let i = 0; ; i++) {
    try {
      await (await mqtt.connectAsync(`mqtt://127.0.0.1:${mqttPort}`, { reconnectPeriod: 0 })).endAsync();
      break;
    } catch (err) {
      if (i > 50) throw err;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  return {
    mqtt: `mqtt://127.0.0.1:${mqttPort}`,
    postgres: `postgres://postgres@127.0.0.1:${pgPort}/postgres`,
    pids: { mosquitto: mosquitto.pid, postgres: postmaster },
    dispose() {
      mosquitto.kill("SIGTERM");
      asPg("pg_ctl", ["-D", `${dir}/pg`, "-m", "immediate", "-w", "stop"]);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

const services = values.mqtt && values.postgres ? { mqtt: values.mqtt, postgres: values.postgres, pids: {}, dispose() {} } : await scratchServices();
const db = new pg.Pool({ connectionString: services.postgres, max: 2 });

function startIngest(group, id) {
  const args = [
    "ingest",
    "--mqtt",
    services.mqtt,
    "--postgres",
    services.postgres,
    "--group",
    group,
    "--client-id",
    id,
    "--lanes",
    values.lanes,
    "--health-port",
    "0",
  ];
  // INGEST_NODE_ARGS="--cpu-prof --cpu-prof-dir=/tmp/prof" profiles the ingests
  const nodeArgs = process.env.INGEST_NODE_ARGS?.split(" ").filter(Boolean) ?? [];
  const proc = spawn(process.execPath, [...nodeArgs, evaBin, ...args], {
    stdio: ["ignore", "ignore", "pipe"],
    env: { ...process.env, EVA_LOG_FORMAT: "json" },
  });
  let log = "";
  const ready = new Promise((resolve, reject) => {
    proc.stderr.on("data", (d) => {
      log += d;
      if (log.includes("ingest subscribed")) resolve();
    });
    proc.once("exit", (code) => reject(new Error(`ingest exited ${code}: ${log}`)));
  });
  const stop = () =>
    new Promise((resolve) => {
      if (proc.exitCode !== null) return resolve();
      proc.once("exit", resolve);
      proc.kill("SIGTERM");
    });
  return { proc, ready: ready.then(() => undefined), stop };
}

const connectDevices = (tag) =>
  Promise.all(Array.from({ length: devices }, (_, d) => mqtt.connectAsync(services.mqtt, { protocolVersion: 5, clientId: `${tag}-dev-${d}` })));

const crossing = (tag, d, i) => {
  const now = new Date().toISOString();
  return JSON.stringify({
    id: `${tag}-${d}-${i}`,
    device: `dev-${d}`,
    line: "door",
    direction: i % 2 ? "out" : "in",
    label: "person",
    track_id: i,
    camera: "cam",
    time: now,
    counts: { in: i, out: 0 },
    sent_at: now,
  });
};

async function waitRows(n) {
  for (;;) {
    const { rows } = await db.query("SELECT count(*)::int AS n FROM crossings");
    if (rows[0].n >= n) return;
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function drain(processes) {
  const tag = `d${processes}-${Date.now()}`;
  let ingests = Array.from({ length: processes }, (_, i) => startIngest(`bench-${tag}`, `${tag}-${i}`));
  await Promise.all(ingests.map((i) => i.ready));
  // what starting costs (loading modules, connecting), left out of the per-record figure
  const startCpu = ingests.reduce((sum, i) => sum + cpuSeconds(i.proc.pid), 0);
  await Promise.all(ingests.map((i) => i.stop()));
  await db.query("TRUNCATE crossings");
  const clients = await connectDevices(tag);
  const perDevice = Math.ceil(messages / devices);
  // up to 100 in flight per device: the queue fills quickly, and it is not what is measured
  await Promise.all(
    clients.map(async (c, d) => {
      for (let i = 0; i < perDevice; i += 100) {
        const n = Math.min(100, perDevice - i);
        await Promise.all(Array.from({ length: n }, (_, k) => c.publishAsync(`eva/dev-${d}/crossings`, crossing(tag, d, i + k), { qos: 1 })));
      }
    }),
  );
  await Promise.all(clients.map((c) => c.endAsync()));
  const total = perDevice * devices;
  const before = { mosquitto: cpuSeconds(services.pids.mosquitto), postgres: services.pids.postgres ? treeCpuSeconds(services.pids.postgres) : 0 };
  const load = loadavg()[0];
  ingests = Array.from({ length: processes }, (_, i) => startIngest(`bench-${tag}`, `${tag}-${i}`));
  await waitRows(total);
  const ingestCpu = ingests.reduce((s, i) => s + cpuSeconds(i.proc.pid), 0);
  const after = { mosquitto: cpuSeconds(services.pids.mosquitto), postgres: services.pids.postgres ? treeCpuSeconds(services.pids.postgres) : 0 };
  const { rows } = await db.query("SELECT extract(epoch FROM max(received_at) - min(received_at)) AS s FROM crossings");
  await Promise.all(ingests.map((i) => i.stop()));
  const seconds = Number(rows[0].s);
  const per1k = (s) => +((s * 1000) / total).toFixed(3);
  return {
    mode: "drain",
    processes,
    records: total,
    load_1m: +load.toFixed(2),
    seconds: +seconds.toFixed(2),
    records_per_s: Math.round(total / seconds),
    cpu_s_per_1k_records: services.pids.mosquitto
      ? { ingest: per1k(ingestCpu - startCpu), mosquitto: per1k(after.mosquitto - before.mosquitto), postgres: per1k(after.postgres - before.postgres) }
      : { ingest: per1k(ingestCpu - startCpu) },
  };
}

async function rate(processes) {
  const tag = `r${processes}-${Date.now()}`;
  const ingests = Array.from({ length: processes }, (_, i) => startIngest(`bench-${tag}`, `${tag}-${i}`));
  await Promise.all(ingests.map((i) => i.ready));
  await db.query("TRUNCATE crossings");
  const clients = await connectDevices(tag);
  const perSecond = Number(values.rate);
  const seconds = Number(values.seconds);
  const load = loadavg()[0];
  const t0 = Date.now();
  let sent = 0;
  const inflight = [];
  // every 10 ms the records due by now, round-robin over the devices
  while (Date.now() - t0 < seconds * 1000) {
    const due = Math.floor(((Date.now() - t0) / 1000) * perSecond);
    for (; sent < due; sent++) {
      const d = sent % devices;
      inflight.push(clients[d].publishAsync(`eva/dev-${d}/crossings`, crossing(tag, d, sent), { qos: 1 }));
    }
    await new Promise((r) => setTimeout(r, 10));
  }
  await Promise.all(inflight);
  await waitRows(sent);
  const { rows } = await db.query(
    `SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM received_at - (payload->>'sent_at')::timestamptz)) * 1000 AS p50,
            percentile_cont(0.99) WITHIN GROUP (ORDER BY extract(epoch FROM received_at - (payload->>'sent_at')::timestamptz)) * 1000 AS p99
     FROM crossings`,
  );
  await Promise.all(clients.map((c) => c.endAsync()));
  await Promise.all(ingests.map((i) => i.stop()));
  return {
    mode: "rate",
    processes,
    records: sent,
    load_1m: +load.toFixed(2),
    records_per_s: Math.round(sent / seconds),
    p50_ms: +Number(rows[0].p50).toFixed(1),
    p99_ms: +Number(rows[0].p99).toFixed(1),
  };
}

const results = [];
try {
  for (const p of values.processes.split(",").map(Number)) {
    results.push(await drain(p));
    results.push(await rate(p));
  }
  console.log(JSON.stringify({ cpus: cpus().length, cpu: cpus()[0]?.model, devices, lanes: Number(values.lanes), results }, null, 2));
} finally {
  await db.end();
  services.dispose();
}
