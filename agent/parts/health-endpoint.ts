import type { Logger } from "pino";
import type { ReloadPlan } from "../config/diff.js";
import type { LoadedConfig } from "../config/load.js";
import type { Config } from "../config/schema.js";
import { HealthServer, type HealthSource } from "../health/http.js";
import { unchanged, type PreparedChange } from "./part.js";

/**
 * GET /healthz and /metrics on health.port. It is an aid, not the agent's purpose: a port that cannot be
 * bound is logged and the agent runs on without it, at start and after a reload alike.
 */
export class HealthEndpoint {
  private server: HealthServer | null = null;

  constructor(
    private readonly source: HealthSource,
    private readonly log: Logger,
  ) {}

  async start(cfg: Config): Promise<void> {
    const { port, host } = cfg.health;
    if (port <= 0) return;
    const server = new HealthServer(this.source, this.log);
    await server.start(port, host).then(
      () => (this.server = server),
      (err: Error) => this.log.error({ port, host, err: err.message }, "health server could not start"),
    );
  }

  /** A new port or host: the old listener closes first (the port may be the same), then the new one opens. */
  async prepare(next: LoadedConfig, plan: ReloadPlan): Promise<PreparedChange> {
    if (!plan.health) return unchanged;
    return { release: () => this.stop(), commit: () => this.start(next.config), abort: async () => {} };
  }

  async stop(): Promise<void> {
    const s = this.server;
    this.server = null;
    await s?.stop();
  }
}
