import type { Logger } from "pino";
import { AgentSurface } from "./agent-surface.js";
import type { CameraStatus } from "./camera/camera.js";
import { ConsoleRoutes, type ZoneOccupancy } from "./console/console-routes.js";
import { planReload } from "./config/diff.js";
import type { LoadedConfig } from "./config/load.js";
import type { Detector } from "./detect/detector.js";
import type { EventSink } from "./events/maintainer.js";
import { newEventId } from "./core/ulid.js";
import { AgentMetrics } from "./health/metrics.js";
import { events } from "./records/events.js";
import { CameraPipelines, type CameraFigures } from "./parts/camera-pipelines.js";
import { ClassifierPool } from "./parts/classifier-pool.js";
import { DetectorPool } from "./parts/detector-pool.js";
import { HealthEndpoint } from "./parts/health-endpoint.js";
import { commitAll, prepareAll, ReloadError, type Part } from "./parts/part.js";
import { Persistence } from "./parts/persistence.js";
import { Uplink } from "./parts/uplink.js";
import { AlarmBook } from "./publish/alarm-book.js";
import type { CommandOutcome } from "./publish/commands.js";

export { ReloadError, type CameraFigures };

export interface AgentOptions {
  /** resolve `finished` once every file camera has reached its end */
  exitOnEof?: boolean;
  /** live config reload (else `reload` answers not_supported); `requestedBy` names a non-control-room caller */
  reload?: (requestedBy?: "web console") => Promise<CommandOutcome>;
  /** opens a detector's sessions (default Detector.open; a test holds it back to watch cameras run meanwhile) */
  openDetector?: typeof Detector.open;
}

/**
 * Wires the parts (agent/parts) from the config, starts and stops them, and drives a reload through them:
 * every part prepares, then all commit or all abort. The parts do the work.
 */
export class Agent extends AgentSurface {
  protected readonly persistence: Persistence;
  protected readonly detectors: DetectorPool;
  protected readonly classifiers: ClassifierPool;
  protected readonly uplink: Uplink;
  protected readonly cameras: CameraPipelines;
  private readonly health: HealthEndpoint;
  /** every part, a part before the parts that use it: started in this order, stopped in the reverse */
  protected readonly parts: readonly Part[];
  protected readonly occupancy = new Map<string, ZoneOccupancy>();
  protected readonly reloadHook: AgentOptions["reload"];
  private stopped = false;
  /** /metrics; outlives the links and stores a reload replaces */
  readonly metrics: AgentMetrics;
  /** resolves when every file camera has ended (with exitOnEof) */
  readonly finished: Promise<void>;

  constructor(
    protected loaded: LoadedConfig,
    private readonly log: Logger,
    opts: AgentOptions = {},
  ) {
    super();
    this.reloadHook = opts.reload;
    this.metrics = new AgentMetrics(() => this.metricsSnapshot());
    const metrics = this.metrics;
    this.persistence = new Persistence(log);
    this.detectors = new DetectorPool(log, opts.openDetector);
    this.classifiers = new ClassifierPool(log);
    const p = this.persistence;
    // Every record kind is stored with its messages and counted on /metrics the same way.
    const record: EventSink["record"] = (kind, r) => {
      p.record(kind, r);
      metrics.recorded(kind.counter, r as never);
    };
    this.uplink = new Uplink({ persistence: this.persistence, alarms: new AlarmBook(newEventId), agent: this, record, log });
    const sink: EventSink = {
      recordEvent: (change, ev) => {
        p.recordEvent(change, ev);
        metrics.recorded(events.counter, { id: ev.id, device: ev.device, camera: ev.camera, change, event: ev });
        // The API publishes the event's snapshot once it is written.
        this.uplink.onEvent(change, ev, () => new Promise((r) => setImmediate(r)).then(() => p.snapshots.idle()));
      },
      record,
      alarm: (camera, a) => this.uplink.alarm(camera, a),
    };
    sink.occupancy = (camera, o) => void this.occupancy.set(`${camera}/${o.zone}`, { camera, zone: o.zone, counts: o.counts, total: o.total });
    const onStatus = (s: CameraStatus) => {
      this.uplink.onCameraStatus(s);
      this.cameras.onStatus(s);
    };
    this.cameras = new CameraPipelines({
      detectors: this.detectors,
      classifiers: this.classifiers,
      persistence: p,
      sink,
      notify: () => this.uplink.notify(),
      onStatus,
      log,
      exitOnEof: opts.exitOnEof,
      metrics,
    });
    this.finished = this.cameras.finished;
    this.health = new HealthEndpoint({ health: () => this.healthReport(), stats: () => this.uplink.stats(), metrics }, log);
    this.parts = [this.persistence, this.uplink, this.health, this.detectors, this.classifiers, this.cameras];
  }

  /**
   * Starts every part. Cameras start as soon as each model's file is read; its session loads meanwhile (minutes
   * for a TensorRT build), and start returns once all have loaded, with the cameras whose model failed stopped.
   * If a part cannot start (no camera can run), what did start is stopped before the error.
   */
  async start(): Promise<void> {
    const cfg = this.config;
    // The web console rides on the health port; who may use it depends on the address it listens on.
    this.health.mountRoutes((c) => new ConsoleRoutes(this.consoleSource(), this.log, { host: c.health.host }).handle);
    try {
      for (const p of this.parts) await p.start(cfg);
      for (const p of this.parts) await p.loaded?.(cfg);
    } catch (err) {
      // A running MQTT client or health server would keep the process alive after the error (eva bench hung).
      await this.stop(0).catch(() => {});
      throw err;
    }
  }

  /**
   * Applies a validated config, changing only what differs from the running one (see planReload). Every part
   * prepares first while the cameras keep running on the old config; if one fails, all are aborted, nothing is
   * applied and a ReloadError lists why. Returns the changed key paths.
   */
  async reload(next: LoadedConfig): Promise<string[]> {
    if (this.stopped) throw new Error("the agent is stopping");
    const plan = planReload(this.config, next.config);
    const changes = await prepareAll(this.parts.map((p) => () => p.prepare(next, plan)));
    if (this.stopped) {
      await Promise.all(changes.map((c) => c.abort()));
      throw new ReloadError([{ file: next.file, line: 1, col: 1, path: "", message: "the agent is stopping" }]);
    }
    if (plan.log) this.log.level = next.config.log.level;
    if (plan.changed.includes("log.format")) this.log.warn({ format: next.config.log.format }, "log.format takes effect at the next start");
    await commitAll(changes);
    this.loaded = next;
    await Promise.all(this.parts.map((p) => p.retired?.()));
    return plan.changed;
  }

  /** Stops cameras (their open events end), models, the servers, flushes the outbox while the broker is up, closes the DB. */
  async stop(flushTimeoutMs = 5000): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    for (const p of [...this.parts].reverse()) await p.stop(flushTimeoutMs);
  }
}
