import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import type { Logger } from "pino";
import { Gauge, Registry } from "prom-client";
import type { StatsPayload } from "../publish/payload-schemas.js";

/** Health as the agent sees it now: healthy, or the reasons why not. */
export interface HealthReport {
  healthy: boolean;
  reasons: string[];
}

/** More routes on the same port (the web console): answers the request and returns true, or returns false. */
export type RouteHook = (req: IncomingMessage, res: ServerResponse) => boolean;

export interface HealthSource {
  health(): HealthReport;
  /** the `stats` figures; /metrics exposes the same numbers */
  stats(): StatsPayload;
}

/**
 * Local HTTP for orchestrators and Prometheus: `GET /healthz` (200 when cameras and detectors are healthy, 503
 * with the reasons otherwise) and `GET /metrics` (the `stats` figures in Prometheus text format).
 */
export class HealthServer {
  private server: Server | null = null;
  private readonly registry = new Registry();

  constructor(
    private readonly source: HealthSource,
    private readonly log: Logger,
  ) {
    this.defineMetrics();
  }

  /** routes looked at before /healthz and /metrics (the web console) */
  private readonly hooks: RouteHook[] = [];

  /** Adds routes served before /healthz and /metrics are looked at. */
  mount(hook: RouteHook): void {
    this.hooks.push(hook);
  }

  /** Listens on host:port (port 0: any free port); resolves to the port. */
  async start(port: number, host: string): Promise<number> {
    const server = createServer((req, res) => {
      if (this.hooks.some((hook) => hook(req, res))) return;
      void this.handle(req.method ?? "GET", req.url ?? "/").then(
        ({ status, type, body }) => {
          res.writeHead(status, { "content-type": type, "cache-control": "no-store" });
          res.end(body);
        },
        (err: Error) => {
          res.writeHead(500, { "content-type": "text/plain" });
          res.end(`internal error: ${err.message}\n`);
        },
      );
    });
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(port, host, () => {
        server.off("error", reject);
        resolve();
      });
    });
    const bound = (server.address() as AddressInfo).port;
    this.log.info({ host, port: bound }, "health server listening (GET /healthz, /metrics)");
    return bound;
  }

  async stop(): Promise<void> {
    const s = this.server;
    this.server = null;
    if (!s) return;
    s.closeAllConnections();
    await new Promise<void>((resolve) => s.close(() => resolve()));
  }

  private async handle(method: string, url: string): Promise<{ status: number; type: string; body: string }> {
    const path = url.split("?")[0];
    if (method !== "GET" && method !== "HEAD") return { status: 405, type: "text/plain", body: "GET only\n" };
    if (path === "/healthz") {
      const h = this.source.health();
      return { status: h.healthy ? 200 : 503, type: "application/json", body: `${JSON.stringify(h)}\n` };
    }
    if (path === "/metrics") return { status: 200, type: this.registry.contentType, body: await this.registry.metrics() };
    return { status: 404, type: "text/plain", body: "not found: try /healthz or /metrics\n" };
  }

  private defineMetrics(): void {
    const r = this.registry;
    const source = this.source;
    let current: StatsPayload | null = null;
    // Figures are read once per scrape: the first gauge's collect() refreshes them for the others.
    const stats = (): StatsPayload => current ?? source.stats();
    const perCamera = (name: string, help: string, pick: (c: StatsPayload["cameras"][string]) => number | null) =>
      new Gauge({
        name,
        help,
        labelNames: ["camera"],
        registers: [r],
        collect() {
          this.reset();
          for (const [camera, c] of Object.entries(stats().cameras)) {
            const v = pick(c);
            if (v !== null) this.set({ camera }, v);
          }
        },
      });
    const single = (name: string, help: string, pick: (s: StatsPayload) => number | null, first = false) =>
      new Gauge({
        name,
        help,
        registers: [r],
        collect() {
          if (first) current = source.stats();
          const v = pick(stats());
          if (v !== null) this.set(v);
        },
      });
    single("eva_uptime_seconds", "Seconds since the agent started", (s) => s.uptime_seconds, true);
    perCamera("eva_camera_up", "1 when the camera is online and detecting", (c) => (c.state === "online" ? 1 : 0));
    perCamera("eva_camera_fps_in", "Frames per second from ffmpeg", (c) => c.fps_in);
    perCamera("eva_camera_fps_processed", "Frames per second through the detector", (c) => c.fps_processed);
    perCamera("eva_camera_fps_skipped", "Frames per second dropped while the detector was busy", (c) => c.fps_skipped);
    perCamera("eva_inference_ms_p50", "Median detector time per frame, ms", (c) => c.inference_ms.p50);
    perCamera("eva_inference_ms_p95", "95th percentile detector time per frame, ms", (c) => c.inference_ms.p95);
    single("eva_outbox_depth", "Messages waiting for the broker", (s) => s.outbox.depth);
    single("eva_outbox_dropped_total", "Messages dropped by the outbox bound", (s) => s.outbox.dropped);
    single("eva_outbox_compacted_total", "Superseded event updates removed by the outbox bound", (s) => s.outbox.compacted);
    single("eva_db_bytes", "SQLite file size including the WAL", (s) => s.db_bytes);
    single("eva_cpu_percent", "Agent CPU, 100 = one core", (s) => s.cpu_percent);
    single("eva_rss_bytes", "Agent resident memory", (s) => s.rss_bytes);
    single("eva_event_loop_lag_ms_p95", "95th percentile event-loop delay, ms", (s) => s.event_loop_lag_ms.p95);
  }
}
