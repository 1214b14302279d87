import type { ProcessFigures } from "../health/process-figures.js";
import type { StatsPayload } from "./payload-schemas.js";

/** Counters of one camera since the agent started, as the pipeline keeps them. */
export interface CameraCounts {
  framesIn: number;
  framesSkipped: number;
  processed: number;
  /** frames motion gating kept from the detector */
  gated: number;
}

export interface CameraStatsInput extends CameraCounts {
  state: "online" | "offline" | "disabled";
  inference: { p50: number | null; p95: number | null };
  provider: string | null;
}

export interface StatsInput {
  now: number;
  /** seconds since the previous stats (rates are over this interval) */
  seconds: number;
  cameras: Record<string, CameraStatsInput>;
  /** counters at the previous stats, per camera */
  previous: Record<string, CameraCounts>;
  outbox: { depth: number | null; dropped: number; compacted: number };
  dbBytes: number | null;
  process: ProcessFigures;
}

const rate = (now: number, before: number | undefined, seconds: number): number =>
  seconds > 0 ? Math.round((Math.max(0, now - (before ?? 0)) / seconds) * 100) / 100 : 0;

/** The `stats` message from plain figures. Pure: rates are differences of counters over the interval. */
export function buildStats(i: StatsInput): StatsPayload {
  const cameras: StatsPayload["cameras"] = {};
  for (const [name, c] of Object.entries(i.cameras)) {
    const p = i.previous[name];
    cameras[name] = {
      state: c.state,
      fps_in: rate(c.framesIn, p?.framesIn, i.seconds),
      fps_processed: rate(c.processed, p?.processed, i.seconds),
      fps_skipped: rate(c.framesSkipped, p?.framesSkipped, i.seconds),
      fps_gated: rate(c.gated, p?.gated, i.seconds),
      inference_ms: { p50: round(c.inference.p50), p95: round(c.inference.p95) },
      provider: c.provider,
    };
  }
  return {
    time: new Date(i.now).toISOString(),
    uptime_seconds: i.process.uptime_seconds,
    cameras,
    outbox: i.outbox,
    db_bytes: i.dbBytes,
    cpu_percent: i.process.cpu_percent,
    rss_bytes: i.process.rss_bytes,
    event_loop_lag_ms: i.process.event_loop_lag_ms,
  };
}

function round(x: number | null): number | null {
  return x === null ? null : Math.round(x * 10) / 10;
}
