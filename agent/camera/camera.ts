import type { Logger } from "pino";
import { Backoff } from "./backoff.js";
import {
  fileCreationTime,
  redactCredentials,
  refusedCredentials,
  sourceKind,
  startFrameSource,
  summarizeStderr,
  type FrameSourceOptions,
  type FrameSourceProcess,
} from "./ffmpeg.js";
import type { Frame } from "./frame.js";
import { FramePool } from "./frame-pool.js";
import { resolveDecode } from "./hwaccel.js";
import { portOpens, sourceEndpoint } from "./reachability.js";
import type { HwaccelChoice } from "../config/gpu-schema.js";

export type CameraState = "offline" | "online" | "ended" | "stopped";

export interface CameraStatus {
  camera: string;
  state: CameraState;
  /** why it is offline (ffmpeg's last stderr lines, a stall, …); null when online */
  reason: string | null;
  /** ms since epoch of the last state change */
  since: number;
  restarts: number;
}

export interface CameraOptions extends FrameSourceOptions {
  name: string;
  stallSeconds: number;
  /** hardware decode wanted; resolved against this ffmpeg and machine before the first start */
  hwaccel?: HwaccelChoice;
  /**
   * A file that plays once (a batch run, `--exit-on-eof`): date its frames by the file's own creation_time plus
   * media time when it has one, instead of agent start plus media time.
   */
  fileTime?: boolean;
}

export interface CameraCounters {
  framesIn: number;
  framesSkipped: number;
}

/**
 * One camera's ffmpeg, kept alive: restarted with exponential backoff when it exits or stalls, with the
 * camera's state and its cause reported on every change. Frames go to `consume` one at a time.
 */
export class Camera {
  private proc: FrameSourceProcess | null = null;
  /**
   * The output being read: it outlives its ffmpeg, whose exit can come while the pool holds reading paused
   * (a file decoded ahead of a slow pipeline); the rest of the file is still to be read from it.
   */
  private output: FrameSourceProcess["stdout"] | null = null;
  private pool: FramePool;
  private readonly backoff = new Backoff();
  private stderr: string[] = [];
  private stallTimer: NodeJS.Timeout | null = null;
  private restartTimer: NodeJS.Timeout | null = null;
  private startedAt = 0;
  private firstFrameAt = 0;
  private stallReason: string | null = null;
  private stopping = false;
  private status: CameraStatus;
  private decodeResolved = false;
  /** ffmpeg opened the source this run (printed `Input #0`): a failure without frames is then the decoder's */
  private sawInput = false;
  /** the recording's start (creation_time) when file frames are dated by the file */
  private fileStart: number | null = null;
  private timesLogged = false;

  constructor(
    private readonly opts: CameraOptions,
    consume: (frame: Frame) => void,
    private readonly onStatus: (s: CameraStatus) => void,
    private readonly log: Logger,
  ) {
    // A file read faster than real time is analysed frame by frame (backpressure) and its frames are dated by
    // their place in the clip; everything else is live: latest frame wins, dated by the wall clock.
    // A file dated by its own creation_time is dated by its place in the clip at either speed.
    const batch = this.batch;
    const flow = {
      backpressure: batch,
      pause: () => this.output?.pause(),
      resume: () => this.output?.resume(),
    };
    const live = sourceKind(opts.source) !== "file";
    const clock =
      sourceKind(opts.source) === "file" ? (seq: number) => (this.fileStart ?? (batch ? this.startedAt : Number.NaN)) + (seq * 1000) / opts.fps : null;
    this.pool = new FramePool(
      opts.name,
      opts.width,
      opts.height,
      (frame) => {
        // A live-speed file without a date of its own is dated by the wall clock, as a camera would be.
        if (Number.isNaN(frame.time)) frame.time = this.pool.lastCompleteAt;
        // A live frame completed before this run (held back while the detector was busy) says nothing about the
        // source now: only a frame of the running ffmpeg brings the camera online.
        const current = !live || (this.proc !== null && frame.time >= this.startedAt);
        if (current && !this.firstFrameAt) this.firstFrameAt = Date.now();
        // The last frames of a file can be handed on after ffmpeg's exit was seen: the camera stays ended.
        if (current && this.status.state === "offline") this.setState("online", null);
        consume(frame);
      },
      flow,
      clock,
      opts.scaled,
      opts.pixelFormat,
    );
    this.status = { camera: opts.name, state: "offline", reason: "starting", since: Date.now(), restarts: 0 };
  }

  get name(): string {
    return this.opts.name;
  }

  /** a file read faster than real time, frame by frame (backpressure): it waits for the pipeline, never skips */
  get batch(): boolean {
    return sourceKind(this.opts.source) === "file" && !this.opts.realtime;
  }

  get current(): CameraStatus {
    return { ...this.status };
  }

  get counters(): CameraCounters {
    return { framesIn: this.pool.delivered + this.pool.skipped, framesSkipped: this.pool.skipped };
  }

  start(): void {
    this.stopping = false;
    if (this.status.state !== "offline") this.setState("offline", "starting");
    this.stallTimer = setInterval(() => this.checkStall(), 1000);
    this.stallTimer.unref();
    const decode = this.opts.hwaccel && !this.decodeResolved ? this.opts.hwaccel : null;
    const playsOnce = sourceKind(this.opts.source) === "file" && !this.opts.loop;
    if (!decode && !playsOnce) this.spawn();
    else void this.prepareThenSpawn(decode, playsOnce);
  }

  /** What must be known before ffmpeg starts: the hardware decoder, and how a file's frames are dated. */
  private async prepareThenSpawn(decode: HwaccelChoice | null, playsOnce: boolean): Promise<void> {
    if (decode) await this.resolveDecode(decode);
    if (playsOnce) await this.dateFile();
    if (!this.stopping && !this.proc) this.spawn();
  }

  /** A file that plays once: learn how its frames are dated and say so, once. */
  private async dateFile(): Promise<void> {
    this.fileStart = this.opts.fileTime ? await fileCreationTime(this.opts.source) : null;
    if (this.timesLogged) return;
    this.timesLogged = true;
    const basis = this.fileStart !== null ? "the file's creation_time" : this.opts.realtime ? "the wall clock as the file plays" : "agent start";
    this.log.info(
      { camera: this.name, basis, ...(this.fileStart !== null ? { start: new Date(this.fileStart).toISOString() } : {}) },
      `file timestamps: ${basis} + media time`,
    );
  }

  /** Stops ffmpeg; resolves once the camera is stopped. */
  async stop(): Promise<void> {
    this.stopping = true;
    if (this.stallTimer) clearInterval(this.stallTimer);
    if (this.restartTimer) clearTimeout(this.restartTimer);
    this.stallTimer = this.restartTimer = null;
    const proc = this.proc;
    if (proc) {
      await new Promise<void>((resolve) => {
        proc.stdout.once("close", () => resolve());
        proc.kill();
        setTimeout(resolve, 2000).unref();
      });
    }
    this.proc = null;
    if (this.status.state !== "ended") this.setState("stopped", null);
  }

  private async resolveDecode(choice: HwaccelChoice): Promise<void> {
    const d = await resolveDecode(choice, this.opts.source);
    this.decodeResolved = true;
    this.opts.decodeArgs = d.args;
    if (d.warning) this.log.warn({ camera: this.name, hwaccel: choice }, d.warning);
    else if (d.used !== "none") this.log.info({ camera: this.name, hwaccel: d.used, args: d.args.join(" ") }, "hardware decode");
  }

  private spawn(): void {
    this.stderr = [];
    this.sawInput = false;
    this.stallReason = null;
    this.startedAt = Date.now();
    this.firstFrameAt = 0;
    this.pool.resetPartial();
    this.pool.lastCompleteAt = 0;
    // Bytes a live source's ffmpeg left in the pipe after its exit was seen are stale: they must not complete a
    // frame (and report the camera online) while the source is down. A file's remainder still counts.
    const live = sourceKind(this.opts.source) !== "file";
    const proc: FrameSourceProcess = startFrameSource(this.opts, {
      into: () => this.pool.into(),
      onBytes: (n) => {
        if (this.proc === proc || !live) this.pool.filled(n);
      },
      onStderr: (line) => {
        if (line.startsWith("Input #0")) this.sawInput = true;
        this.stderr.push(line);
        if (this.stderr.length > 20) this.stderr.shift();
      },
      onExit: (err) => this.exited(proc, err),
    });
    this.proc = proc;
    this.output = proc.stdout;
  }

  private exited(proc: FrameSourceProcess, err: Error | null): void {
    if (this.proc !== proc) return;
    this.proc = null;
    if (this.stopping) return;
    const isFile = sourceKind(this.opts.source) === "file";
    if (!err && isFile && !this.opts.loop && this.firstFrameAt) {
      void this.whenConsumed(proc).then(() => this.setState("ended", "end of file"));
      return;
    }
    // A live source's ffmpeg that ends without an error saw the stream end: the camera closed it (its last lines are statistics).
    const ended = !err && !isFile ? "the camera ended the stream" : null;
    const reason = this.stallReason ?? ended ?? (summarizeStderr(this.stderr) || (err ? redactCredentials(err.message) : "ffmpeg ended without a frame"));
    // A hardware decoder that exists but cannot take this stream (a profile NVDEC lacks, a GPU that is gone) must
    // not keep the camera down: source opened, no frame, so the next start decodes in software. An unreachable
    // camera never opens, and keeps its hardware decode.
    if (!this.firstFrameAt && this.sawInput && this.opts.decodeArgs?.length) {
      this.log.warn({ camera: this.name, args: this.opts.decodeArgs.join(" "), reason }, "hardware decode gave no frame; decoding in software from now on");
      this.opts.decodeArgs = [];
    }
    // Any frame this run means the source came back: the backoff starts over (a one-frame run counts too).
    const healthyMs = this.firstFrameAt ? Math.max(1, this.pool.lastCompleteAt - this.firstFrameAt) : 0;
    const refused = !this.firstFrameAt && refusedCredentials(this.stderr);
    const delay = this.backoff.next(healthyMs, refused);
    this.setState("offline", reason);
    this.status.restarts++;
    this.log.debug({ camera: this.name, delayMs: delay }, "camera restart scheduled");
    if (refused) this.log.warn({ camera: this.name, delayMs: delay }, `camera refused its credentials; next try in ${Math.round(delay / 1000)} s`);
    this.restartTimer = setTimeout(() => {
      this.restartTimer = null;
      if (!this.stopping) this.spawn();
    }, delay);
    if (!refused) void this.watchForReturn(delay);
  }

  /**
   * While a network camera waits for its next try, its port is knocked on every 0.5 s (a TCP connect, no
   * ffmpeg): once a port that refused opens again, ffmpeg starts at once instead of at the end of the backoff.
   * A port that never refused (the camera is up, its stream is not) waits out the backoff: no hot loop.
   */
  private async watchForReturn(delay: number): Promise<void> {
    const at = sourceEndpoint(this.opts.source);
    if (!at) return;
    const timer = this.restartTimer;
    const end = Date.now() + delay;
    let refused = false;
    while (this.restartTimer === timer && !this.stopping && Date.now() < end - 250) {
      const open = await portOpens(at.host, at.port, 400);
      if (this.restartTimer !== timer || this.stopping) return;
      if (!open) refused = true;
      else if (refused) {
        clearTimeout(timer!);
        this.restartTimer = null;
        this.spawn();
        return;
      }
      await new Promise((r) => setTimeout(r, 500));
    }
  }

  /** ffmpeg can exit before its last frames were read and handed on: the file has ended once they were. */
  private async whenConsumed(proc: FrameSourceProcess): Promise<void> {
    if (!proc.stdout.readableEnded) await new Promise((r) => proc.stdout.once("close", r));
    while (!this.pool.drained && !this.stopping) await new Promise((r) => setTimeout(r, 20));
  }

  private checkStall(): void {
    if (!this.proc || this.pool.waiting) return;
    const since = this.pool.lastCompleteAt || this.startedAt;
    const idleMs = Date.now() - since;
    if (idleMs > this.opts.stallSeconds * 1000) {
      this.stallReason = `no frame for ${Math.round(idleMs / 1000)} s` + (this.stderr.length ? `: ${summarizeStderr(this.stderr)}` : "");
      this.proc.kill();
    }
  }

  private setState(state: CameraState, reason: string | null): void {
    if (this.status.state === state && this.status.reason === reason) return;
    this.status = { ...this.status, state, reason, since: Date.now() };
    const fields = { camera: this.name, state, reason };
    if (state === "offline" && reason !== "starting") this.log.warn(fields, "camera offline");
    else this.log.info(fields, `camera ${state}`);
    this.onStatus(this.current);
  }
}
