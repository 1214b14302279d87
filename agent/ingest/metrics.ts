import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from "prom-client";
import type { Row } from "./records.js";

interface Snapshot {
  pending: number;
  postgresUp: boolean;
  connected: number;
}

/** The ingest's /metrics; rows per second is rate(eva_ingest_rows_written_total[1m]). */
export class IngestMetrics {
  readonly registry = new Registry();
  private readonly messages: Counter;
  private readonly written: Counter<"table">;
  private readonly dead: Counter<"reason">;
  private readonly batchSize: Histogram;
  private readonly commitSeconds: Histogram;
  private readonly lag: Histogram;
  private snapshot: () => Snapshot = () => ({ pending: 0, postgresUp: false, connected: 0 });
  /** counters for tests and the benchmark, without parsing the text format */
  readonly totals = { received: 0, committed: 0, written: 0, dead: 0 };

  constructor() {
    const r = this.registry;
    collectDefaultMetrics({ register: r });
    for (const gaugeNamedTotal of ["nodejs_active_handles_total", "nodejs_active_requests_total", "nodejs_active_resources_total"])
      r.removeSingleMetric(gaugeNamedTotal);
    this.messages = new Counter({ name: "eva_ingest_messages_total", help: "MQTT messages received (acknowledged once committed)", registers: [r] });
    this.written = new Counter({
      name: "eva_ingest_rows_written_total",
      help: "Rows inserted or replaced by a later revision, by table",
      labelNames: ["table"],
      registers: [r],
    });
    this.dead = new Counter({
      name: "eva_ingest_dead_letters_total",
      help: "Messages kept in dead_letters, by reason",
      labelNames: ["reason"],
      registers: [r],
    });
    this.batchSize = new Histogram({
      name: "eva_ingest_batch_messages",
      help: "Messages per committed batch",
      buckets: [1, 4, 16, 64, 256, 1024, 4096],
      registers: [r],
    });
    this.commitSeconds = new Histogram({
      name: "eva_ingest_commit_duration_seconds",
      help: "One batch's transaction",
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
      registers: [r],
    });
    this.lag = new Histogram({
      name: "eva_ingest_lag_seconds",
      help: "From the record's own time (event start, crossing, sighting) to its commit",
      buckets: [0.01, 0.05, 0.1, 0.5, 1, 5, 30, 60, 300, 3600],
      registers: [r],
    });
    const gauges: Array<[name: string, help: string, value: (s: Snapshot) => number]> = [
      ["eva_ingest_pending_messages", "Messages received and not yet committed", (s) => s.pending],
      ["eva_ingest_postgres_up", "1 when the last write reached PostgreSQL", (s) => (s.postgresUp ? 1 : 0)],
      ["eva_ingest_mqtt_connections", "Connected MQTT lanes", (s) => s.connected],
    ];
    const snap = (): Snapshot => this.snapshot();
    for (const [name, help, value] of gauges) {
      new Gauge({
        name,
        help,
        registers: [r],
        collect() {
          this.set(value(snap()));
        },
      });
    }
  }

  bind(snapshot: () => Snapshot): void {
    this.snapshot = snapshot;
  }

  received(): void {
    this.messages.inc();
    this.totals.received++;
  }

  deadLetter(reason: string): void {
    this.dead.inc({ reason });
    this.totals.dead++;
  }

  committed(b: { messages: number; written: Record<string, number>; seconds: number; rows: Row[]; now: number }): void {
    this.batchSize.observe(b.messages);
    this.commitSeconds.observe(b.seconds);
    this.totals.committed += b.messages;
    for (const [table, n] of Object.entries(b.written)) {
      this.written.inc({ table }, n);
      this.totals.written += n;
    }
    for (const r of b.rows) if (r.time) this.lag.observe(Math.max(0, (b.now - Date.parse(r.time)) / 1000));
  }
}

/** GET /healthz (200 or 503 with the reasons) and GET /metrics. */
export async function serveHealth(
  port: number,
  host: string,
  health: () => { healthy: boolean; reasons: string[] },
  metrics: IngestMetrics,
): Promise<{ port: number; close: () => Promise<void> }> {
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? "/").split("?")[0];
    if (path === "/healthz") {
      const h = health();
      res.writeHead(h.healthy ? 200 : 503, { "content-type": "application/json" });
      res.end(`${JSON.stringify(h)}\n`);
    } else if (path === "/metrics") {
      void metrics.registry.metrics().then((text) => {
        res.writeHead(200, { "content-type": metrics.registry.contentType });
        res.end(text);
      });
    } else {
      res.writeHead(404, { "content-type": "text/plain" });
      res.end("not found: try /healthz or /metrics\n");
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => resolve());
  });
  return {
    port: (server.address() as AddressInfo).port,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
