import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from "prom-client";
import type { RecordCounter } from "../core/records.js";
import { crossings } from "../records/crossings.js";
import { recordKinds } from "../records/registry.js";
import { agentVersion } from "./version.js";

// Prometheus conventions (https://prometheus.io/docs/practices/naming/): counters end in _total and are
// counters, values are in base units (seconds, bytes), latency is a histogram (quantiles are computed by the
// server over any window, across devices), never a pre-computed `_ms_p95` gauge. Rates such as fps are
// rate() over the frame counters. process_* and nodejs_* come from prom-client's default metrics.

/** What the agent knows at scrape time; cumulative figures since start, Prometheus takes rates. */
export interface MetricsSnapshot {
  cameras: Record<
    string,
    {
      /** online and detecting */
      up: boolean;
      framesDecoded: number;
      framesProcessed: number;
      framesSkipped: number;
      restarts: number;
    }
  >;
  outbox: { depth: number | null; dropped: number; compacted: number };
  dbBytes: number | null;
  mqttConnected: boolean;
  /** per sink (mqtt, webhook): each reads the outbox with its own cursor */
  sinks?: Record<string, { lag: number | null; up: boolean; delivered: number; errors: number; dead_lettered: number }>;
}

/** Detector round trips from 1 ms (a tiny model on a GPU) to 2 s (a big one on a busy CPU). */
const INFERENCE_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2];

/**
 * The agent's /metrics: counters fed as things happen (events, crossings, sign sightings, alarms, inference
 * times) and figures read at scrape time from a snapshot (frame counters, outbox, database size).
 */
export class AgentMetrics {
  readonly registry = new Registry();
  private readonly inference: Histogram<"camera">;
  /** one counter per record kind that counts (agent/records), made at its first record */
  private readonly recordCounters = new Map<string, Counter>();

  constructor(snapshot: () => MetricsSnapshot) {
    const r = this.registry;
    collectDefaultMetrics({ register: r });
    // prom-client names three gauges *_total, which promtool's lint rejects (a _total is a counter); the same
    // figures stay available per type in nodejs_active_handles, nodejs_active_requests, nodejs_active_resources.
    for (const gaugeNamedTotal of ["nodejs_active_handles_total", "nodejs_active_requests_total", "nodejs_active_resources_total"])
      r.removeSingleMetric(gaugeNamedTotal);
    let current: MetricsSnapshot | null = null;
    // One snapshot per scrape: the first collect() takes it, the others read it.
    const snap = (first = false): MetricsSnapshot => {
      if (first || !current) current = snapshot();
      return current;
    };

    // Which version runs where, for joins in queries and dashboards (the `*_info` convention).
    new Gauge({ name: "eva_build_info", help: "Always 1; the running eva version in its label", labelNames: ["version"], registers: [r] }).set(
      { version: agentVersion() },
      1,
    );
    this.inference = new Histogram({
      name: "eva_inference_duration_seconds",
      help: "Detector round trip per frame (pre-processing, inference, decoding, NMS)",
      labelNames: ["camera"],
      buckets: INFERENCE_BUCKETS,
      registers: [r],
    });
    // Every kind's counter from the start, so a scrape lists it before the first record.
    for (const k of recordKinds) if (k.counter) this.counterOf(k.counter);

    const perCamera = <T extends Counter<"camera"> | Gauge<"camera">>(
      kind: "counter" | "gauge",
      name: string,
      help: string,
      pick: (c: MetricsSnapshot["cameras"][string]) => number,
      first = false,
    ) => {
      const collect = function (this: T): void {
        this.reset();
        for (const [camera, c] of Object.entries(snap(first).cameras)) {
          if (this instanceof Counter) this.inc({ camera }, pick(c));
          else (this as Gauge<"camera">).set({ camera }, pick(c));
        }
      };
      return kind === "counter"
        ? new Counter({ name, help, labelNames: ["camera"], registers: [r], collect: collect as () => void })
        : new Gauge({ name, help, labelNames: ["camera"], registers: [r], collect: collect as () => void });
    };
    perCamera("gauge", "eva_camera_up", "1 when the camera is online and detecting", (c) => (c.up ? 1 : 0), true);
    perCamera("counter", "eva_camera_frames_decoded_total", "Frames delivered by ffmpeg", (c) => c.framesDecoded);
    perCamera("counter", "eva_camera_frames_processed_total", "Frames through the detector", (c) => c.framesProcessed);
    perCamera("counter", "eva_camera_frames_skipped_total", "Frames dropped because the detector was busy with an older one", (c) => c.framesSkipped);
    perCamera("counter", "eva_camera_restarts_total", "ffmpeg restarts after a failure or stall", (c) => c.restarts);

    const single = (kind: "counter" | "gauge", name: string, help: string, pick: (s: MetricsSnapshot) => number | null) => {
      const collect = function (this: Counter | Gauge): void {
        const v = pick(snap());
        this.reset();
        // An unlabelled series cannot be left out for one scrape: a figure that cannot be read now is NaN.
        if (this instanceof Counter) this.inc(v ?? 0);
        else (this as Gauge).set(v ?? Number.NaN);
      };
      return kind === "counter" ? new Counter({ name, help, registers: [r], collect }) : new Gauge({ name, help, registers: [r], collect });
    };
    single("gauge", "eva_outbox_messages", "Messages waiting in the outbox for the broker's acknowledgement", (s) => s.outbox.depth);
    single("counter", "eva_outbox_dropped_total", "Messages dropped by the outbox bound (max_rows, max_age_hours)", (s) => s.outbox.dropped);
    single("counter", "eva_outbox_compacted_total", "Superseded event updates removed by the outbox bound", (s) => s.outbox.compacted);
    single("gauge", "eva_db_size_bytes", "SQLite database size including its write-ahead log", (s) => s.dbBytes);
    single("gauge", "eva_mqtt_connected", "1 while the MQTT broker connection is up", (s) => (s.mqttConnected ? 1 : 0));

    type SinkSnap = NonNullable<MetricsSnapshot["sinks"]>[string];
    const perSink = (kind: "counter" | "gauge", name: string, help: string, pick: (f: SinkSnap) => number | null) => {
      const collect = function (this: Counter<"sink"> | Gauge<"sink">): void {
        this.reset();
        for (const [sink, f] of Object.entries(snap().sinks ?? {})) {
          const v = pick(f);
          if (this instanceof Counter) this.inc({ sink }, v ?? 0);
          else (this as Gauge<"sink">).set({ sink }, v ?? Number.NaN);
        }
      };
      return kind === "counter"
        ? new Counter({ name, help, labelNames: ["sink"], registers: [r], collect: collect as () => void })
        : new Gauge({ name, help, labelNames: ["sink"], registers: [r], collect: collect as () => void });
    };
    perSink("gauge", "eva_sink_lag_messages", "Outbox messages a sink has not had yet (its own cursor; one sink down holds back no other)", (f) => f.lag);
    perSink("gauge", "eva_sink_up", "1 while a sink's receiver takes messages (MQTT connected, webhook answering 2xx)", (f) => (f.up ? 1 : 0));
    perSink("counter", "eva_sink_delivered_total", "Messages a sink's receiver acknowledged", (f) => f.delivered);
    perSink("counter", "eva_sink_errors_total", "Failed webhook requests, each retried", (f) => f.errors);
    perSink("counter", "eva_sink_dead_lettered_total", "Records a sink's receiver refused for good, kept in outbox_dead_letters", (f) => f.dead_lettered);
  }

  /** One frame's detector round trip, in milliseconds as the detector reports it. */
  observeInference(camera: string, ms: number): void {
    this.inference.observe({ camera }, ms / 1000);
  }

  /** A record of a kind that counts itself (its `counter`) was stored. */
  recorded<T>(counter: RecordCounter<T> | undefined, record: T): void {
    const labels = counter?.labels(record);
    if (counter && labels) this.counterOf(counter).inc(labels);
  }

  private counterOf<T>(spec: RecordCounter<T>): Counter {
    let c = this.recordCounters.get(spec.name);
    if (!c) {
      c = new Counter({ name: spec.name, help: spec.help, labelNames: [...spec.labelNames], registers: [this.registry] });
      this.recordCounters.set(spec.name, c);
    }
    return c;
  }

  /**
   * Series that exist before their first increment, so `rate()` and `increase()` see the first crossing of a
   * line instead of a series appearing from nothing (Prometheus' advice for known label sets).
   */
  declareLines(camera: string, lines: readonly string[], labels: readonly string[]): void {
    const counter = this.counterOf(crossings.counter!);
    for (const line of lines) for (const direction of ["in", "out"]) for (const label of labels) counter.inc({ camera, line, direction, label }, 0);
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  /** The exposition text for one scrape. */
  text(): Promise<string> {
    return this.registry.metrics();
  }
}
