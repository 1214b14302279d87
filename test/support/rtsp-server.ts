import { type ChildProcess, execFile, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import path from "node:path";
import { createInterface } from "node:readline";
import { promisify } from "node:util";
import { afterEach } from "vitest";
import { personPanTs } from "./clips.js";
import { freePort } from "./ports.js";

const run = promisify(execFile);
/** Debian's python3, where python3-gi is installed (a pyenv or venv python on PATH lacks it). */
const PYTHON = process.env.EVA_TEST_PYTHON ?? "/usr/bin/python3";
const SCRIPT = path.join(path.dirname(new URL(import.meta.url).pathname), "rtsp-server.py");

export const RTSP_USER = "viewer";
export const RTSP_PASSWORD = "rtspS3cret";

export interface RtspServerOptions {
  auth?: "basic" | "digest";
  /** seconds of the person pan every session plays from its start (the session ends with it) */
  seconds?: number;
}

/**
 * GStreamer's RTSP server (gst-rtsp-server through python3-gi) on a free port of 127.0.0.1, as an IP camera:
 * `/main` is the person pan at 640×360, `/sub` the same at 320×180, both H.264 at 10 fps behind Basic or Digest
 * auth (RTSP_USER / RTSP_PASSWORD). `stop()` kills it like a power cut, `start()` brings it back on the same
 * port, `pause()` freezes it (connections stay open, nothing is sent: a hung camera). Removed after each test.
 */
export class RtspServer {
  /** "CONNECT" (a client connection, before any authentication), "DESCRIBE /main", "PLAY /sub", … in order */
  readonly requests: string[] = [];
  /** when each of `requests` came (ms since epoch) */
  readonly requestTimes: number[] = [];
  private proc: ChildProcess | null = null;
  private paused = false;

  private constructor(
    readonly port: number,
    private readonly auth: "basic" | "digest",
    private readonly mounts: Record<string, string>,
  ) {}

  static async create(o: RtspServerOptions = {}): Promise<RtspServer> {
    const seconds = o.seconds ?? 60;
    const main = await personPanTs(seconds, 10);
    const sub = await scaledTs(main, 320, 180);
    const server = new RtspServer(await freePort(), o.auth ?? "basic", { "/main": main, "/sub": sub });
    live.add(server);
    await server.start();
    return server;
  }

  /** rtsp://viewer:password@127.0.0.1:port/main (or `/sub`, or another password) */
  url(mount = "/main", password = RTSP_PASSWORD): string {
    return `rtsp://${RTSP_USER}:${password}@127.0.0.1:${this.port}${mount}`;
  }

  get running(): boolean {
    return this.proc !== null;
  }

  /** Starts (again) on the same port; resolves once it listens. */
  async start(): Promise<void> {
    if (this.proc) return;
    const config = JSON.stringify({ port: this.port, user: RTSP_USER, password: RTSP_PASSWORD, auth: this.auth, mounts: this.mounts });
    const proc = spawn(PYTHON, [SCRIPT], { stdio: ["pipe", "pipe", "pipe"] });
    proc.stdin!.end(`${config}\n`);
    this.proc = proc;
    let stderr = "";
    proc.stderr!.on("data", (d: Buffer) => (stderr += d.toString()));
    await new Promise<void>((resolve, reject) => {
      const lines = createInterface({ input: proc.stdout! });
      lines.on("line", (line) => {
        if (line.startsWith("ready ")) resolve();
        else if (/^(CONNECT|DESCRIBE|PLAY)/.test(line)) {
          this.requests.push(line);
          this.requestTimes.push(Date.now());
        }
      });
      proc.once("exit", (code) => reject(new Error(`rtsp-server.py exited (${code}) before listening: ${stderr.slice(-2000)}`)));
    });
  }

  /** Gone at once, as a camera losing power: its connections drop. Resolves once the process has exited. */
  async stop(): Promise<void> {
    const proc = this.proc;
    if (!proc) return;
    this.proc = null;
    this.paused = false;
    if (proc.exitCode === null && proc.signalCode === null) {
      await new Promise<void>((resolve) => {
        proc.once("exit", () => resolve());
        proc.kill("SIGKILL");
      });
    }
  }

  /** Freezes the server: sockets stay open, no byte is sent or answered (a hung camera, a stalled stream). */
  pause(): void {
    if (this.proc && !this.paused) this.proc.kill("SIGSTOP");
    this.paused = true;
  }

  resume(): void {
    if (this.proc && this.paused) this.proc.kill("SIGCONT");
    this.paused = false;
  }

  /** How many times `method` was asked for `mount`. */
  count(method: "CONNECT" | "DESCRIBE" | "PLAY", mount?: string): number {
    return this.requests.filter((r) => (mount ? r === `${method} ${mount}` : r.split(" ")[0] === method)).length;
  }
}

const live = new Set<RtspServer>();
afterEach(async () => {
  await Promise.all([...live].map((s) => s.stop()));
  live.clear();
});

/** `ts` scaled to width × height, H.264 with the same key-frame interval (cached beside it). */
async function scaledTs(ts: string, width: number, height: number): Promise<string> {
  const out = ts.replace(/\.ts$/, `-${width}x${height}.ts`);
  if (existsSync(out)) return out;
  const tmp = `${out}.${process.pid}.tmp`;
  const encode = ["-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-g", "10", "-f", "mpegts"];
  await run("ffmpeg", ["-hide_banner", "-loglevel", "error", "-y", "-i", ts, "-vf", `scale=${width}:${height}`, ...encode, tmp]);
  await run("mv", [tmp, out]);
  return out;
}
