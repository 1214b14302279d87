import type { CameraStatus } from "./camera/camera.js";
import type { ConsoleSource, ZoneOccupancy } from "./console/console-routes.js";
import type { LoadedConfig } from "./config/load.js";
import type { Config } from "./config/schema.js";
import type { EvaEvent } from "./core/event.js";
import type { EventQuery } from "./events/store.js";
import type { HealthReport } from "./health/http.js";
import type { MetricsSnapshot } from "./health/metrics.js";
import type { CameraFigures, CameraPipelines } from "./parts/camera-pipelines.js";
import type { ClassifierPool } from "./parts/classifier-pool.js";
import type { DetectorPool } from "./parts/detector-pool.js";
import type { Part } from "./parts/part.js";
import type { Persistence } from "./parts/persistence.js";
import type { Uplink } from "./parts/uplink.js";
import type { AlarmKey } from "./publish/alarm-book.js";
import type { CommandOutcome } from "./publish/commands.js";
import type { ControlledAgent } from "./publish/control-room.js";

/**
 * What the control room, the web console, /healthz, /metrics and the command line read of a running agent and
 * ask of it, answered from its parts at each call, so it follows reloads. The controller (Agent) wires the
 * parts and runs them.
 */
export abstract class AgentSurface implements ControlledAgent {
  protected abstract loaded: LoadedConfig;
  protected abstract readonly parts: readonly Part[];
  protected abstract readonly persistence: Persistence;
  protected abstract readonly detectors: DetectorPool;
  protected abstract readonly classifiers: ClassifierPool;
  protected abstract readonly uplink: Uplink;
  protected abstract readonly cameras: CameraPipelines;
  /** each zone's occupancy as last published, for the web console */
  protected abstract readonly occupancy: ReadonlyMap<string, ZoneOccupancy>;
  /** the live reload hook (cli/run); without it the reload command answers not_supported */
  protected abstract readonly reloadHook: ((requestedBy?: "web console") => Promise<CommandOutcome>) | undefined;

  get config(): Config {
    return this.loaded.config;
  }

  cameraStatuses(): CameraStatus[] {
    return this.cameras.statuses();
  }

  figures(): Record<string, CameraFigures> {
    return this.cameras.figures();
  }

  cameraFigures(): ReturnType<ControlledAgent["cameraFigures"]> {
    return this.cameras.controlFigures(this.providers());
  }

  /** Detector round-trip percentiles per camera over its recent frames (eva bench, scripts/gpu-check.sh). */
  inference(): Record<string, { p50: number | null; p95: number | null }> {
    return Object.fromEntries(Object.entries(this.cameraFigures()).map(([n, f]) => [n, f.inference]));
  }

  queryEvents(q: EventQuery): EvaEvent[] {
    return this.persistence.queryEvents(q);
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

  /** The reload command: the live reload hook when there is one. `requestedBy` names who asked when it is not the control room. */
  requestReload(requestedBy?: "web console"): Promise<CommandOutcome> {
    if (this.reloadHook) return this.reloadHook(requestedBy);
    return Promise.resolve({ ok: false, code: "not_supported", message: "live config reload is not available in this version; restart the agent" });
  }

  /** /healthz: every running camera online (or ended) with detection working, every model loaded, the database writable. */
  healthReport(): HealthReport {
    const reasons = this.parts.flatMap((p) => p.healthReasons?.() ?? []);
    return { healthy: reasons.length === 0, reasons };
  }

  /** Figures /metrics reads at scrape time. */
  protected metricsSnapshot(): MetricsSnapshot {
    let depth: number | null = null;
    let dbBytes: number | null = null;
    try {
      depth = this.persistence.store.outboxDepth();
      dbBytes = this.uplink.stats().db_bytes;
    } catch {
      // a store fault shows as NaN for this scrape
    }
    const link = this.uplink.figures();
    return {
      cameras: this.cameras.metricsFigures(),
      outbox: { depth, dropped: link.dropped, compacted: link.compacted },
      dbBytes,
      mqttConnected: link.connected,
      sinks: link.sinks,
    };
  }

  /** What the web console reads (agent/console): looked up per request, so it follows reloads. */
  protected consoleSource(): ConsoleSource {
    return {
      running: () => this.loaded,
      cameraStatuses: () => this.cameraStatuses(),
      cameraFigures: () => this.cameraFigures(),
      frameSize: (camera) => this.cameras.frameSize(camera),
      grabFrame: (camera, timeoutMs) => this.cameras.grabFrame(camera, timeoutMs),
      store: () => this.persistence.store ?? null,
      occupancy: () => [...this.occupancy.values()].filter((o) => o.zone in (this.config.cameras[o.camera]?.zones ?? {})),
      reload: () => this.requestReload("web console"),
    };
  }
}
