import type { Logger } from "pino";
import { ConsoleRoutes, type ConsoleSource, type ZoneOccupancy } from "./console/console-routes.js";
import type { CameraStatus } from "./camera/camera.js";
import { planReload } from "./config/diff.js";
import type { LoadedConfig } from "./config/load.js";
import type { Config } from "./config/schema.js";
import type { EventSink } from "./events/maintainer.js";
import type { HealthReport } from "./health/http.js";
import { AlarmBook, type AlarmKey } from "./publish/alarm-book.js";
import { newEventId } from "./events/ulid.js";
import type { CommandOutcome } from "./publish/commands.js";
import type { ControlledAgent } from "./publish/control-room.js";
import { CameraPipelines, type CameraFigures } from "./parts/camera-pipelines.js";
import { ClassifierPool } from "./parts/classifier-pool.js";
import { DetectorPool, type PreparedDetectors } from "./parts/detector-pool.js";
import type { Detector } from "./detect/detector.js";
import { HealthEndpoint } from "./parts/health-endpoint.js";
import { commitAll, prepareAll, ReloadError, type PreparedChange } from "./parts/part.js";
import { Persistence } from "./parts/persistence.js";
import { Uplink } from "./parts/uplink.js";
import { AgentMetrics, type MetricsSnapshot } from "./health/metrics.js";

export { ReloadError, type CameraFigures };

export interface AgentOptions {
  /** resolve `finished` once every file camera has reached its end */
  exitOnEof?: boolean;
  /**
   * live config reload (issue 6); without it the `reload` command answers not_supported. `requestedBy` names
   * who asked when it is not the control room (the web console's save), for the log.
   */
  reload?: (requestedBy?: "web console") => Promise<CommandOutcome>;
  /** opens a detector's sessions (default Detector.open; a test holds it back to watch cameras run meanwhile) */
  openDetector?: typeof Detector.open;
}

/**
 * Wires the parts (agent/parts) from the config, starts and stops them, and drives a reload through them:
 * every touched part prepares, then all commit or all abort. The parts do the work.
 */
export class Agent {
  private readonly persistence: Persistence;
  private readonly detectors: DetectorPool;
  private readonly classifiers: ClassifierPool;
  private readonly uplink: Uplink;
  private readonly cameras: CameraPipelines;
  private readonly health: HealthEndpoint;
  /** each zone's occupancy as last published, for the web console */
  private readonly occupancy = new Map<string, ZoneOccupancy>();
  private stopped = false;
  /** /metrics; outlives the links and stores a reload replaces */
  readonly metrics: AgentMetrics;
  /** resolves when every file camera has ended (with exitOnEof) */
  readonly finished: Promise<void>;

  constructor(
    private loaded: LoadedConfig,
    private readonly log: Logger,
    private readonly opts: AgentOptions = {},
  ) {
    this.metrics = new AgentMetrics(() => this.metricsSnapshot());
    const metrics = this.metrics;
    this.persistence = new Persistence(log);
    this.detectors = new DetectorPool(log, opts.openDetector);
    this.classifiers = new ClassifierPool(log);
    this.uplink = new Uplink({ persistence: this.persistence, alarms: new AlarmBook(newEventId), agent: this.controlled(), log });
    const p = this.persistence;
    const sink: EventSink = {
      recordEvent: (change, ev) => {
        p.recordEvent(change, ev);
        if (change === "new") metrics.eventStarted(ev.camera, ev.label);
        // The API publishes the event's snapshot once it is written.
        this.uplink.onEvent(change, ev, () => new Promise((r) => setImmediate(r)).then(() => p.snapshots.idle()));
      },
      recordCrossing: (camera, c) => {
        const msg = p.recordCrossing(camera, c);
        metrics.lineCrossed(camera, c.line, c.direction, c.label);
        return msg;
      },
      recordSighting: (s) => {
        p.recordSighting(s);
        metrics.signSighted(s.camera, s.label);
      },
      enqueue: (topic, payload, o) => p.enqueue(topic, payload, o),
      alarm: (camera, a) => {
        if (a.state === "raised") metrics.alarmRaised(camera, a.type);
        this.uplink.alarm(camera, a);
      },
    };
    sink.occupancy = (camera, o) => void this.occupancy.set(`${camera}/${o.zone}`, { camera, zone: o.zone, counts: o.counts, total: o.total });
    const onStatus = (s: CameraStatus) => {
      this.uplink.onCameraStatus(s);
      this.cameras.onStatus(s);
    };
    this.cameras = new CameraPipelines({ detectors: this.detectors, classifiers: this.classifiers, persistence: p, sink, notify: () => this.uplink.notify(), onStatus, log, exitOnEof: opts.exitOnEof, metrics });
    this.finished = this.cameras.finished;
    this.health = new HealthEndpoint({ health: () => this.healthReport(), stats: () => this.uplink.stats(), metrics }, log);
  }

  get config(): Config {
    return this.loaded.config;
  }

  /** Starts every part; if one cannot start (no camera can run), what did start is stopped before the error. */
  async start(): Promise<void> {
    const cfg = this.config;
    // The web console rides on the health port; who may use it depends on the address it listens on.
    this.health.mountRoutes((c) => new ConsoleRoutes(this.consoleSource(), this.log, { host: c.health.host }).handle);
    try {
      this.persistence.start(cfg);
      this.uplink.start(cfg);
      await this.health.start(cfg);
      // Cameras start as soon as each model's file is read; its session loads meanwhile (minutes for a TensorRT
      // build), and start returns once all have loaded, with the cameras whose model failed stopped.
      const [{ loaded }] = await Promise.all([this.detectors.start(cfg), this.classifiers.start(cfg)]);
      this.cameras.start(cfg);
      await loaded;
      await this.cameras.modelsLoaded(cfg);
    } catch (err) {
      // A running MQTT client or health server would keep the process alive after the error (eva bench hung).
      await this.stop(0).catch(() => {});
      throw err;
    }
  }

  /**
   * Applies a validated config, changing only what differs from the running one (see planReload). Every part
   * the edit touches prepares first while the cameras keep running on the old config; if one fails, all are
   * aborted, nothing is applied and a ReloadError lists why. Returns the changed key paths.
   */
  async reload(next: LoadedConfig): Promise<string[]> {
    if (this.stopped) throw new Error("the agent is stopping");
    const plan = planReload(this.config, next.config);
    const [detectors, classifiers, persistence, uplink, health] = (await prepareAll([
      () => this.detectors.prepare(next, plan),
      () => this.classifiers.prepare(next),
      () => this.persistence.prepare(next, plan),
      () => this.uplink.prepare(next, plan),
      () => this.health.prepare(next, plan),
    ])) as [PreparedDetectors, PreparedChange, PreparedChange, PreparedChange, PreparedChange];
    const cameras = this.cameras.prepare(next, plan, detectors);
    if (this.stopped) {
      await Promise.all([detectors, classifiers, persistence, uplink, health].map((c) => c.abort()));
      throw new ReloadError([{ file: next.file, line: 1, col: 1, path: "", message: "the agent is stopping" }]);
    }
    if (plan.log) this.log.level = next.config.log.level;
    if (plan.changed.includes("log.format")) this.log.warn({ format: next.config.log.format }, "log.format takes effect at the next start");
    await commitAll([detectors, classifiers, persistence, uplink, cameras, health]);
    this.loaded = next;
    await Promise.all([this.detectors.retired(), this.classifiers.retired()]);
    return plan.changed;
  }

  cameraStatuses(): CameraStatus[] {
    return this.cameras.statuses();
  }

  figures(): Record<string, CameraFigures> {
    return this.cameras.figures();
  }

  /** Detector round-trip percentiles per camera over its recent frames (eva bench, scripts/gpu-check.sh). */
  inference(): Record<string, { p50: number | null; p95: number | null }> {
    return Object.fromEntries(Object.entries(this.cameras.controlFigures(this.providers())).map(([n, f]) => [n, f.inference]));
  }

  providers(): Record<string, string> {
    return { ...this.classifiers.providers(), ...this.detectors.providers() };
  }

  /** Queues a message on `<prefix>/<device>/<topic>` through the outbox (QoS 1, not retained). */
  publish(topic: string, payload: unknown): void {
    this.persistence.enqueue(topic, JSON.stringify(payload), { qos: 1, retain: false });
    this.uplink.notify();
  }

  /** Turns detection on or off for a running camera; false when there is none by that name. */
  setDetection(camera: string, enabled: boolean): boolean {
    const p = this.cameras.get(camera);
    p?.setDetection(enabled);
    return !!p;
  }

  /** A JPEG of the camera's next frame; null when the camera is not running. */
  async snapshotNow(camera: string): Promise<{ path: string; jpeg: Buffer } | null> {
    return this.cameras.get(camera)?.snapshotNext(this.config.storage.snapshots) ?? null;
  }

  /** An alarm condition from analytics (loitering, overcrowding, sign_missing) holds or has ended. */
  alarmCondition(key: AlarmKey, active: boolean, reason: string | null = null, extra: Record<string, unknown> = {}): void {
    this.uplink.setAlarmCondition(key, active, reason, extra);
  }

  /** The reload command: the live reload hook when there is one (issue 6). */
  requestReload(requestedBy?: "web console"): Promise<CommandOutcome> {
    if (this.opts.reload) return this.opts.reload(requestedBy);
    return Promise.resolve({ ok: false, code: "not_supported", message: "live config reload is not available in this version; restart the agent" });
  }

  /** /healthz: every running camera online (or ended) with detection working, every model loaded. */
  healthReport(): HealthReport {
    const reasons = [...this.detectors.failures, ...this.classifiers.failures].map(([m, err]) => `model ${m}: ${err}`);
    reasons.push(...this.persistence.healthReasons(), ...this.cameras.healthReasons());
    return { healthy: reasons.length === 0, reasons };
  }

  /** Stops cameras, ends open events, flushes the outbox while the broker is up, closes the DB. */
  async stop(flushTimeoutMs = 5000): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    await this.cameras.stop();
    this.uplink.notify();
    await this.health.stop();
    await Promise.all([this.detectors.stop(), this.classifiers.stop()]);
    await this.uplink.stop(flushTimeoutMs);
    await this.persistence.stop();
  }

  /** Figures /metrics reads at scrape time. */
  private metricsSnapshot(): MetricsSnapshot {
    const cameras: MetricsSnapshot["cameras"] = {};
    for (const p of this.cameras.all()) {
      const f = p.snapshotFigures();
      const s = p.camera.current;
      cameras[p.name] = { up: s.state === "online" && p.detection, framesDecoded: f.framesIn, framesProcessed: f.processed, framesSkipped: f.framesSkipped, restarts: s.restarts };
    }
    let depth: number | null = null;
    let dbBytes: number | null = null;
    try {
      depth = this.persistence.store.outboxDepth();
      dbBytes = this.uplink.stats().db_bytes;
    } catch {
      // a store fault shows as NaN for this scrape
    }
    const link = this.uplink.figures();
    return { cameras, outbox: { depth, dropped: link.dropped, compacted: link.compacted }, dbBytes, mqttConnected: link.connected, sinks: link.sinks };
  }

  /** What the control-room API sees of the agent. */
  private controlled(): ControlledAgent {
    return {
      cameraStatuses: () => this.cameraStatuses(),
      cameraFigures: () => this.cameras.controlFigures(this.providers()),
      setDetection: (c, e) => this.setDetection(c, e),
      snapshotNow: (c) => this.snapshotNow(c),
      requestReload: () => this.requestReload(),
      queryEvents: (q) => this.persistence.queryEvents(q),
    };
  }

  /** What the web console reads (agent/console): looked up per request, so it follows reloads. */
  private consoleSource(): ConsoleSource {
    return {
      running: () => this.loaded,
      cameraStatuses: () => this.cameraStatuses(),
      cameraFigures: () => this.cameras.controlFigures(this.providers()),
      frameSize: (camera) => {
        const p = this.cameras.get(camera);
        return p ? { width: p.width, height: p.height } : null;
      },
      grabFrame: (camera, timeoutMs) => {
        const p = this.cameras.get(camera);
        const state = p?.camera.current.state;
        return p && state !== "ended" && state !== "stopped" ? p.liveJpeg(timeoutMs) : null;
      },
      store: () => this.persistence.store ?? null,
      occupancy: () => [...this.occupancy.values()].filter((o) => o.zone in (this.config.cameras[o.camera]?.zones ?? {})),
      reload: () => this.requestReload("web console"),
    };
  }
}
