import { pino } from "pino";
import { afterEach, expect, it } from "vitest";
import { HealthServer, type HealthReport } from "../../agent/health/http.js";
import type { StatsPayload } from "../../agent/publish/payload-schemas.js";

const stats: StatsPayload = {
  time: "2026-11-27T10:00:00.000Z",
  uptime_seconds: 42,
  cameras: { gate: { state: "online", fps_in: 5, fps_processed: 4.5, fps_skipped: 0.5, fps_gated: 0, inference_ms: { p50: 30, p95: null }, provider: "cpu" } },
  outbox: { depth: 7, dropped: 2, compacted: 3 },
  db_bytes: 8192,
  cpu_percent: 55.5,
  rss_bytes: 1_000_000,
  event_loop_lag_ms: { p50: 10, p95: 11, max: 20 },
};

let server: HealthServer | undefined;
afterEach(async () => {
  await server?.stop();
});

it("/healthz is 200 when healthy and 503 with the reasons otherwise; /metrics is 404 without metrics (test/health/metrics.test.ts has them)", async () => {
  let report: HealthReport = { healthy: true, reasons: [] };
  server = new HealthServer({ health: () => report, stats: () => stats }, pino({ level: "silent" }));
  const port = await server.start(0, "127.0.0.1");
  const base = `http://127.0.0.1:${port}`;
  expect((await fetch(`${base}/healthz`)).status).toBe(200);
  report = { healthy: false, reasons: ["camera gate offline: Connection refused"] };
  const bad = await fetch(`${base}/healthz`);
  expect(bad.status).toBe(503);
  expect(await bad.json()).toEqual(report);
  expect((await fetch(`${base}/metrics`)).status).toBe(404);
  expect((await fetch(`${base}/nope`)).status).toBe(404);
  expect((await fetch(`${base}/healthz`, { method: "POST" })).status).toBe(405);
});
