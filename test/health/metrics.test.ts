import { pino } from "pino";
import { afterEach, expect, it } from "vitest";
import { HealthServer } from "../../agent/health/http.js";
import { AgentMetrics, type MetricsSnapshot } from "../../agent/health/metrics.js";
import type { StatsPayload } from "../../agent/publish/payload-schemas.js";
import { promtoolCheckMetrics, sampleValue } from "../support/promtool.js";
import type { EvaEvent } from "../../agent/core/event.js";
import { alarms } from "../../agent/records/alarms.js";
import { crossings } from "../../agent/records/crossings.js";
import { events } from "../../agent/records/events.js";
import { sightings } from "../../agent/records/sightings.js";

let server: HealthServer | undefined;
afterEach(async () => {
  await server?.stop();
  server = undefined;
});

const stats = { cameras: {} } as unknown as StatsPayload;

it("/metrics follows Prometheus' conventions (promtool check metrics): counters, base units, histograms, per-line and per-label series, process_* and nodejs_*", async () => {
  let snapshot: MetricsSnapshot = {
    cameras: { gate: { up: true, framesDecoded: 100, framesProcessed: 90, framesSkipped: 10, restarts: 1 } },
    outbox: { depth: 7, dropped: 2, compacted: 3 },
    dbBytes: 8192,
    mqttConnected: true,
    sinks: {
      mqtt: { lag: 0, up: true, delivered: 40, errors: 0, dead_lettered: 0 },
      webhook: { lag: 12, up: false, delivered: 28, errors: 5, dead_lettered: 1 },
    },
  };
  const metrics = new AgentMetrics(() => snapshot);
  metrics.declareLines("gate", ["door"], ["person"]);
  const crossing = { id: "c", device: "d", camera: "gate", line: "door", direction: "in" as const, label: "person", track_id: 1, time: 0 };
  metrics.recorded(crossings.counter, crossing);
  metrics.recorded(crossings.counter, crossing);
  metrics.recorded(events.counter, { id: "e", device: "d", camera: "gate", change: "new", event: { label: "person" } as EvaEvent });
  metrics.recorded(sightings.counter, {
    id: "s",
    device: "d",
    camera: "dash",
    label: "stop",
    score: 1,
    first_seen: "",
    last_seen: "",
    box: [0, 0, 1, 1],
    track_id: 1,
    snapshot: null,
  });
  metrics.recorded(alarms.counter, { id: "a", device: "d", camera: "gate", type: "loitering", state: "raised", time: "2026-12-01T00:00:00Z" });
  for (const ms of [3, 4, 30, 900]) metrics.observeInference("gate", ms);

  server = new HealthServer({ health: () => ({ healthy: true, reasons: [] }), stats: () => stats, metrics }, pino({ level: "silent" }));
  const port = await server.start(0, "127.0.0.1");
  const res = await fetch(`http://127.0.0.1:${port}/metrics`);
  expect(res.headers.get("content-type")).toContain("text/plain");
  const text = await res.text();

  const lint = await promtoolCheckMetrics(text);
  expect(lint.output).toBe("");
  expect(lint.code).toBe(0);

  expect(sampleValue(text, "eva_line_crossings_total", { camera: "gate", line: "door", direction: "in", label: "person" })).toBe(2);
  // declared at start: the series exists at 0 before the first crossing out
  expect(sampleValue(text, "eva_line_crossings_total", { camera: "gate", line: "door", direction: "out", label: "person" })).toBe(0);
  expect(sampleValue(text, "eva_events_total", { camera: "gate", label: "person" })).toBe(1);
  expect(sampleValue(text, "eva_sign_sightings_total", { camera: "dash", label: "stop" })).toBe(1);
  expect(sampleValue(text, "eva_alarms_raised_total", { camera: "gate", type: "loitering" })).toBe(1);
  expect(sampleValue(text, "eva_camera_frames_processed_total", { camera: "gate" })).toBe(90);
  expect(sampleValue(text, "eva_camera_frames_skipped_total", { camera: "gate" })).toBe(10);
  expect(sampleValue(text, "eva_camera_up", { camera: "gate" })).toBe(1);
  expect(sampleValue(text, "eva_outbox_messages")).toBe(7);
  expect(sampleValue(text, "eva_outbox_dropped_total")).toBe(2);
  expect(sampleValue(text, "eva_db_size_bytes")).toBe(8192);
  expect(sampleValue(text, "eva_mqtt_connected")).toBe(1);
  expect(sampleValue(text, "eva_sink_lag_messages", { sink: "webhook" })).toBe(12);
  expect(sampleValue(text, "eva_sink_lag_messages", { sink: "mqtt" })).toBe(0);
  expect(sampleValue(text, "eva_sink_up", { sink: "webhook" })).toBe(0);
  expect(sampleValue(text, "eva_sink_delivered_total", { sink: "mqtt" })).toBe(40);
  expect(sampleValue(text, "eva_sink_errors_total", { sink: "webhook" })).toBe(5);
  expect(sampleValue(text, "eva_sink_dead_lettered_total", { sink: "webhook" })).toBe(1);
  // inference as a histogram in seconds: 3 and 4 ms fall in the 5 ms bucket, all four in +Inf
  expect(text).toMatch(/# TYPE eva_inference_duration_seconds histogram/);
  expect(sampleValue(text, "eva_inference_duration_seconds_bucket", { camera: "gate", le: "0.005" })).toBe(2);
  expect(sampleValue(text, "eva_inference_duration_seconds_count", { camera: "gate" })).toBe(4);
  expect(sampleValue(text, "eva_inference_duration_seconds_sum", { camera: "gate" })).toBeCloseTo(0.937, 6);
  expect(text).toMatch(/# TYPE eva_outbox_dropped_total counter/);
  expect(text).toMatch(/^eva_build_info\{version="\d+\.\d+\.\d+[^"]*"\} 1$/m);
  expect(text).toMatch(/^process_cpu_seconds_total /m);
  expect(text).toMatch(/^process_resident_memory_bytes /m);
  expect(text).toMatch(/^nodejs_eventloop_lag_seconds /m);
  expect(text).not.toMatch(/_ms(_|\b)/);

  // counters read from the snapshot follow it; a camera gone after a reload loses its series
  snapshot = { ...snapshot, cameras: {}, mqttConnected: false, dbBytes: null };
  const after = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  expect(sampleValue(after, "eva_camera_frames_processed_total", { camera: "gate" })).toBeUndefined();
  expect(sampleValue(after, "eva_mqtt_connected")).toBe(0);
  // a figure that cannot be read now is NaN, not a made-up 0
  expect(sampleValue(after, "eva_db_size_bytes")).toBeNaN();
  expect((await promtoolCheckMetrics(after)).code).toBe(0);
});

it("a deliberately wrong exposition fails promtool's lint (the check can fail)", async () => {
  const bad = "# HELP eva_bad_ms latency\n# TYPE eva_bad_ms counter\neva_bad_ms 3\n";
  const lint = await promtoolCheckMetrics(bad);
  expect(lint.code).not.toBe(0);
  expect(lint.output).toMatch(/_total|unit/);
});
