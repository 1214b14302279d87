import { createConnection, type Socket } from "node:net";
import { extrapolateFix, interpolateFix, type Fix, type FrameMoment, type PositionSource } from "./position.js";

/** Reports kept: a minute at gpsd's usual 1 Hz, enough to place frames that waited in the detector. */
const KEEP_MS = 60_000;
const RETRY_BASE_MS = 500;
const RETRY_CAP_MS = 8000;

export interface GpsdOptions {
  host: string;
  port: number;
  /** a frame later than the newest report by more than this has no fix (the receiver lost it, or gpsd went) */
  maxAgeMs: number;
  /** connection trouble, one call per distinct cause */
  onProblem(message: string): void;
  /** connected again after a problem */
  onConnected?(): void;
}

/**
 * Live position from gpsd over its JSON protocol (TCP, `?WATCH={"enable":true,"json":true}`, TPV reports),
 * reconnecting with backoff while gpsd is away. Reports are dated by this device's clock when they arrive: the
 * frames are dated by that clock too, and a receiver's own time can be far off (gpsfake replays a log's).
 */
export class GpsdSource implements PositionSource {
  readonly describe: string;
  private socket: Socket | null = null;
  private buffer = "";
  private readonly fixes: Fix[] = [];
  private retryTimer: NodeJS.Timeout | null = null;
  private attempt = 0;
  private stopped = true;
  private lastProblem = "";
  /** TPV reports with a fix, since start */
  reports = 0;

  constructor(private readonly o: GpsdOptions) {
    this.describe = `gpsd ${o.host}:${o.port}`;
  }

  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    this.connect();
  }

  stop(): void {
    this.stopped = true;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = null;
    this.socket?.destroy();
    this.socket = null;
  }

  fixAt(frame: FrameMoment): Fix | null {
    const n = this.fixes.length;
    if (!n) return null;
    const newest = this.fixes[n - 1]!;
    if (frame.time >= newest.time) return frame.time - newest.time <= this.o.maxAgeMs ? { ...extrapolateFix(newest, frame.time), time: frame.time } : null;
    for (let i = n - 2; i >= 0; i--) {
      const a = this.fixes[i]!;
      if (a.time <= frame.time) {
        const b = this.fixes[i + 1]!;
        return b.time - a.time <= this.o.maxAgeMs ? interpolateFix(a, b, frame.time) : null;
      }
    }
    return null;
  }

  /** One line of gpsd's JSON: a TPV with a 2D or 3D fix is kept; anything else is ignored. */
  report(line: string, now = Date.now()): void {
    let msg: Record<string, unknown>;
    try {
      msg = JSON.parse(line) as Record<string, unknown>;
    } catch {
      return;
    }
    if (msg.class !== "TPV" || typeof msg.lat !== "number" || typeof msg.lon !== "number") return;
    const mode = typeof msg.mode === "number" ? msg.mode : 0;
    if (mode < 2) return;
    // gpsd ≥ 3.20 says `status` 2 for DGPS; `track` is the course over ground
    const fix: Fix = {
      time: now,
      lat: msg.lat,
      lon: msg.lon,
      heading: typeof msg.track === "number" ? msg.track : null,
      speed: typeof msg.speed === "number" ? msg.speed : null,
      fix: msg.status === 2 ? "dgps" : mode === 3 ? "3d" : "2d",
    };
    this.fixes.push(fix);
    while (this.fixes.length && this.fixes[0]!.time < now - KEEP_MS) this.fixes.shift();
    this.reports++;
  }

  private connect(): void {
    const socket = createConnection({ host: this.o.host, port: this.o.port });
    this.socket = socket;
    socket.setEncoding("utf8");
    let errored = false;
    socket.on("connect", () => {
      this.attempt = 0;
      if (this.lastProblem) this.o.onConnected?.();
      this.lastProblem = "";
      socket.write('?WATCH={"enable":true,"json":true}\n');
    });
    socket.on("data", (chunk: string) => {
      this.buffer += chunk;
      let nl = this.buffer.indexOf("\n");
      while (nl >= 0) {
        this.report(this.buffer.slice(0, nl));
        this.buffer = this.buffer.slice(nl + 1);
        nl = this.buffer.indexOf("\n");
      }
      // a line that never ends is not gpsd
      if (this.buffer.length > 65_536) this.buffer = "";
    });
    socket.on("error", (err: Error) => {
      errored = true;
      this.problem(`${this.describe}: ${err.message}`);
    });
    socket.on("close", () => {
      if (this.socket !== socket) return;
      this.socket = null;
      this.buffer = "";
      if (this.stopped) return;
      if (!errored) this.problem(`${this.describe}: connection closed`);
      const delay = Math.min(RETRY_CAP_MS, RETRY_BASE_MS * 2 ** this.attempt++);
      this.retryTimer = setTimeout(() => {
        this.retryTimer = null;
        if (!this.stopped) this.connect();
      }, delay);
      this.retryTimer.unref();
    });
  }

  private problem(message: string): void {
    if (message === this.lastProblem) return;
    this.lastProblem = message;
    this.o.onProblem(message);
  }
}
