import { monitorEventLoopDelay, type IntervalHistogram } from "node:perf_hooks";

export interface ProcessFigures {
  uptime_seconds: number;
  /** CPU time since the previous sample over wall time, 100 = one core busy */
  cpu_percent: number;
  rss_bytes: number;
  event_loop_lag_ms: { p50: number | null; p95: number | null; max: number | null };
}

/** Samples this process's CPU, memory and event-loop delay; each sample covers the time since the previous one. */
/** monitorEventLoopDelay's sampling timer, ms. Each sample is the timer's whole period, not its lateness. */
const LAG_RESOLUTION_MS = 10;

export class ProcessSampler {
  private readonly loop: IntervalHistogram = monitorEventLoopDelay({ resolution: LAG_RESOLUTION_MS });
  private lastCpu = process.cpuUsage();
  private lastAt = performance.now();

  constructor() {
    this.loop.enable();
  }

  sample(): ProcessFigures {
    const now = performance.now();
    const cpu = process.cpuUsage(this.lastCpu);
    const wallMs = Math.max(1, now - this.lastAt);
    this.lastCpu = process.cpuUsage();
    this.lastAt = now;
    const h = this.loop;
    // The histogram records how long each timer period took: an idle loop reads the resolution itself (~20 ms).
    // The lag is what comes on top of it.
    const ms = (ns: number): number | null => (h.count > 0 && Number.isFinite(ns) ? Math.max(0, Math.round(ns / 1e4) / 100 - LAG_RESOLUTION_MS) : null);
    const figures: ProcessFigures = {
      uptime_seconds: Math.round(process.uptime()),
      cpu_percent: Math.round(((cpu.user + cpu.system) / 1000 / wallMs) * 1000) / 10,
      rss_bytes: process.memoryUsage.rss(),
      event_loop_lag_ms: { p50: ms(h.percentile(50)), p95: ms(h.percentile(95)), max: ms(h.max) },
    };
    h.reset();
    return figures;
  }

  close(): void {
    this.loop.disable();
  }
}
