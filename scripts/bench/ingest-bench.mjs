#!/usr/bin/env node
// Records/s and publish → committed-row latency of `eva ingest` with 1 and 2 processes.
// Needs a running broker and PostgreSQL (a scratch database: it truncates `crossings`) and a built dist/:
//   node scripts/bench/ingest-bench.mjs --mqtt mqtt://127.0.0.1:1883 --postgres postgres://postgres@127.0.0.1/bench \
//        [--devices 50] [--messages 20000] [--processes 1,2] [--lanes 8]
// Latency is the row's received_at (the transaction's start, so it leaves out the commit itself) minus the
// sent_at the publisher put in the payload; both clocks are this machine's.
import { spawn } from "node:child_process";
import { parseArgs } from "node:util";
import path from "node:path";
import { fileURLToPath } from "node:url";
import mqtt from "mqtt";
import pg from "pg";

const { values } = parseArgs({
  options: {
    mqtt: { type: "string" },
    postgres: { type: "string" },
    devices: { type: "string", default: "50" },
    messages: { type: "string", default: "20000" },
    processes: { type: "string", default: "1,2" },
    lanes: { type: "string", default: "8" },
  },
});
if (!values.mqtt || !values.postgres) {
  console.error("usage: ingest-bench.mjs --mqtt URL --postgres URL [--devices N] [--messages N] [--processes 1,2] [--lanes N]");
  process.exit(2);
}
const evaBin = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../dist/agent/cli/main.js");
const devices = Number(values.devices);
const messages = Number(values.messages);
const db = new pg.Pool({ connectionString: values.postgres, max: 2 });

function startIngest(group, id) {
  const proc = spawn(
    process.execPath,
    [
      evaBin,
      "ingest",
      "--mqtt",
      values.mqtt,
      "--postgres",
      values.postgres,
      "--group",
      group,
      "--client-id",
      id,
      "--lanes",
      values.lanes,
      "--health-port",
      "0",
    ],
    { stdio: ["ignore", "ignore", "pipe"], env: { ...process.env, EVA_LOG_FORMAT: "json" } },
  );
  let log = "";
  const ready = new Promise((resolve, reject) => {
    proc.stderr.on("data", (d) => {
      log += d;
      if (log.includes("ingest subscribed")) resolve();
    });
    proc.once("exit", (code) => reject(new Error(`ingest exited ${code}: ${log}`)));
  });
  return { proc, ready };
}

async function run(processes) {
  const tag = `b${processes}-${Date.now()}`;
  const ingests = Array.from({ length: processes }, (_, i) => startIngest(`bench-${tag}`, `${tag}-${i}`));
  await Promise.all(ingests.map((i) => i.ready));
  await db.query("TRUNCATE crossings");
  const clients = await Promise.all(
    Array.from({ length: devices }, (_, d) => mqtt.connectAsync(values.mqtt, { protocolVersion: 5, clientId: `${tag}-dev-${d}` })),
  );
  const perDevice = Math.ceil(messages / devices);
  const t0 = Date.now();
  await Promise.all(
    clients.map(async (c, d) => {
      for (let i = 0; i < perDevice; i++) {
        const now = new Date().toISOString();
        const body = {
          id: `${tag}-${d}-${i}`,
          line: "door",
          direction: "in",
          label: "person",
          track_id: i,
          camera: "cam",
          time: now,
          counts: { in: i, out: 0 },
          sent_at: now,
        };
        await c.publishAsync(`eva/dev-${d}/crossings`, JSON.stringify(body), { qos: 1 });
      }
    }),
  );
  const total = perDevice * devices;
  for (;;) {
    const { rows } = await db.query("SELECT count(*)::int AS n FROM crossings");
    if (rows[0].n >= total) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  const { rows } = await db.query(
    `SELECT extract(epoch FROM max(received_at))*1000 AS last_ms,
            percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM received_at - (payload->>'sent_at')::timestamptz)) * 1000 AS p50,
            percentile_cont(0.99) WITHIN GROUP (ORDER BY extract(epoch FROM received_at - (payload->>'sent_at')::timestamptz)) * 1000 AS p99
     FROM crossings`,
  );
  const seconds = (Number(rows[0].last_ms) - t0) / 1000;
  await Promise.all(clients.map((c) => c.endAsync()));
  await Promise.all(
    ingests.map(
      (i) =>
        new Promise((r) => {
          i.proc.once("exit", r);
          i.proc.kill("SIGTERM");
        }),
    ),
  );
  return {
    processes,
    records: total,
    seconds: +seconds.toFixed(2),
    records_per_s: Math.round(total / seconds),
    p50_ms: +Number(rows[0].p50).toFixed(1),
    p99_ms: +Number(rows[0].p99).toFixed(1),
  };
}

const results = [];
for (const p of values.processes.split(",").map(Number)) results.push(await run(p));
console.log(JSON.stringify({ devices, lanes: Number(values.lanes), results }, null, 2));
await db.end();
