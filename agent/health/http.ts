import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import type { Logger } from "pino";
import type { AgentMetrics } from "./metrics.js";

/** Health as the agent sees it now: healthy, or the reasons why not. */
export interface HealthReport {
  healthy: boolean;
  reasons: string[];
}

/** More routes on the same port (the web console): answers the request and returns true, or returns false. */
export type RouteHook = (req: IncomingMessage, res: ServerResponse) => boolean;

export interface HealthSource {
  health(): HealthReport;
  /** the `stats` figures */
  stats(): object;
  /** what GET /metrics serves (agent/health/metrics.ts); 404 without it */
  metrics?: Pick<AgentMetrics, "contentType" | "text">;
}

/**
 * Local HTTP for orchestrators and Prometheus: `GET /healthz` (200 when cameras and detectors are healthy, 503
 * with the reasons otherwise) and `GET /metrics` (Prometheus text format, agent/health/metrics.ts).
 */
export class HealthServer {
  private server: Server | null = null;

  constructor(
    private readonly source: HealthSource,
    private readonly log: Logger,
  ) {}

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
    const metrics = this.source.metrics;
    if (path === "/metrics" && metrics) return { status: 200, type: metrics.contentType, body: await metrics.text() };
    return { status: 404, type: "text/plain", body: "not found: try /healthz or /metrics\n" };
  }
}
