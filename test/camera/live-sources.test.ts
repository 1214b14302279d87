import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, writeFileSync } from "node:fs";
import http from "node:http";
import type { Socket } from "node:net";
import path from "node:path";
import { pino } from "pino";
import { afterEach, describe, expect, it } from "vitest";
import { Camera, type CameraStatus } from "../../agent/camera/camera.js";
import { clearPrivateFiles, privateFolder } from "../../agent/camera/ffmpeg.js";
import { sourceEndpoint } from "../../agent/camera/reachability.js";
import { personPanTs } from "../support/clips.js";
import { freePort } from "../support/ports.js";
import { RtspServer } from "../support/rtsp-server.js";

const log = pino({ level: "silent" });
const cameras: Camera[] = [];
const servers: LiveTs[] = [];
afterEach(async () => {
  await Promise.all(cameras.splice(0).map((c) => c.stop()));
  await Promise.all(servers.splice(0).map((s) => s.stop()));
});

const waitFor = async (cond: () => boolean, ms: number, what: string) => {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
};

/**
 * A live HTTP MPEG-TS camera: every request gets the person pan at its own pace (ffmpeg -re, stream copy), as
 * an encoder's live output. `stop()` drops the connections and stops listening, `start()` listens again on the
 * same port; `user:password` in the URL is required when given.
 */
class LiveTs {
  private server: http.Server | null = null;
  private readonly sockets = new Set<Socket>();
  private readonly feeds = new Set<ChildProcess>();
  constructor(
    readonly port: number,
    private readonly ts: string,
    private readonly auth: string | null = null,
  ) {}

  url(): string {
    return `http://${this.auth ? `${this.auth}@` : ""}127.0.0.1:${this.port}/live.ts`;
  }

  /** HTTP requests since the last start(), and when the first came (ms since epoch) */
  requests = 0;
  firstRequestAt = 0;

  async start(): Promise<void> {
    this.requests = 0;
    this.firstRequestAt = 0;
    const server = http.createServer((req, res) => {
      if (this.requests++ === 0) this.firstRequestAt = Date.now();
      if (this.auth && req.headers.authorization !== `Basic ${Buffer.from(this.auth).toString("base64")}`) {
        res.writeHead(401, { "www-authenticate": 'Basic realm="cam"' });
        return res.end();
      }
      res.writeHead(200, { "content-type": "video/mp2t" });
      const feed = spawn("ffmpeg", ["-hide_banner", "-loglevel", "error", "-re", "-i", this.ts, "-c", "copy", "-f", "mpegts", "-"], {
        stdio: ["ignore", "pipe", "ignore"],
      });
      this.feeds.add(feed);
      feed.on("exit", () => this.feeds.delete(feed));
      feed.stdout.pipe(res);
      res.on("close", () => feed.kill("SIGKILL"));
    });
    server.on("connection", (s) => {
      this.sockets.add(s);
      s.on("close", () => this.sockets.delete(s));
    });
    await new Promise<void>((resolve) => server.listen(this.port, "127.0.0.1", resolve));
    this.server = server;
  }

  async stop(): Promise<void> {
    const server = this.server;
    this.server = null;
    if (!server) return;
    for (const s of this.sockets) s.destroy();
    for (const f of this.feeds) f.kill("SIGKILL");
    await new Promise((r) => server.close(r));
  }
}

/** `holdMs`: how long the consumer keeps each frame, as a detector busy on a loaded box */
function liveCamera(source: string, holdMs = 0) {
  const statuses: CameraStatus[] = [];
  const cam = new Camera(
    { name: "live", source, fps: 5, width: 64, height: 36, loop: false, realtime: true, rtspTransport: "tcp", timeoutSeconds: 3, stallSeconds: 3, threads: 1 },
    (f) => (holdMs ? setTimeout(() => f.release(), holdMs) : f.release()),
    (s) => statuses.push(s),
    log,
  );
  cameras.push(cam);
  return { cam, statuses };
}

describe("live sources (real ffmpeg)", () => {
  it("a live HTTP MPEG-TS camera away 5 s is online within 5 s of its return, and never online while away", { timeout: 90_000 }, async () => {
    const server = new LiveTs(await freePort(), await personPanTs(60, 10));
    servers.push(server);
    await server.start();
    const { cam, statuses } = liveCamera(server.url());
    cam.start();
    await waitFor(() => cam.current.state === "online", 30_000, "online");

    const goneAt = Date.now();
    // statuses from here on: the first online can fall in goneAt's very millisecond
    const seenBefore = statuses.length;
    await server.stop();
    await waitFor(() => cam.current.state === "offline", 30_000, "offline");
    await new Promise((r) => setTimeout(r, Math.max(0, goneAt + 5000 - Date.now())));
    await server.start();
    const backAt = Date.now();
    await waitFor(() => cam.current.state === "online", 30_000, "online again");
    const figure = cam.current.since - backAt;
    console.info(`live HTTP MPEG-TS camera online ${figure} ms after its return (first request after ${server.firstRequestAt - backAt} ms)`);
    // Judged by requests, not wall time (a loaded machine stretches ffmpeg's start): the agent's first request
    // after the return comes without a backoff wait (the port probe sees the return), and streams (no retry loop).
    expect(server.requests).toBeLessThanOrEqual(2);
    expect(server.firstRequestAt - backAt).toBeLessThan(3000);
    expect(statuses.slice(seenBefore).filter((s) => s.state === "online" && s.since < backAt)).toEqual([]);
  });

  it("a credentialled source's list file leaves the disk once ffmpeg has read it; dead agents' folders are cleared", { timeout: 60_000 }, async () => {
    // what an agent killed with -9 leaves: a folder named by its pid, with a list file holding a password
    const root = path.dirname(privateFolder());
    const deadPid = await new Promise<number>((resolve) => {
      const p = spawn("true");
      p.on("exit", () => resolve(p.pid!));
    });
    const left = path.join(root, String(deadPid), "src-x");
    mkdirSync(left, { recursive: true });
    writeFileSync(path.join(left, "source.ffconcat"), "file 'rtsp://viewer:pw@cam/1'\n");

    const server = new LiveTs(await freePort(), await personPanTs(60, 10), "viewer:s3cretPW");
    servers.push(server);
    await server.start();
    const { cam } = liveCamera(server.url());
    cam.start();
    await waitFor(() => cam.current.state === "online", 30_000, "online");
    // streaming, and the password is on no disk
    expect(readdirSync(privateFolder())).toEqual([]);

    clearPrivateFiles();
    expect(existsSync(path.join(root, String(deadPid)))).toBe(false);
    expect(cam.current.state).toBe("online");
  });

  it("a frame a busy detector held back does not report a camera online after its source went away", { timeout: 60_000 }, async () => {
    const server = await RtspServer.create();
    const { cam, statuses } = liveCamera(server.url(), 3000);
    cam.start();
    await waitFor(() => cam.current.state === "online", 30_000, "online");
    // one frame is held, a newer one waits in the pool when the camera dies
    await new Promise((r) => setTimeout(r, 1000));
    await server.stop();
    await waitFor(() => cam.current.state === "offline", 30_000, "offline");
    const offlineAt = cam.current.since;
    // the held frame is released and the waiting one handed on meanwhile
    await new Promise((r) => setTimeout(r, 4000));
    expect(statuses.filter((s) => s.since > offlineAt).map((s) => s.state)).not.toContain("online");
    expect(cam.current.state).toBe("offline");
  });

  it("a camera whose port is open but whose stream fails waits out its backoff: no hot loop from the port knocks", { timeout: 60_000 }, async () => {
    const server = await RtspServer.create();
    const { cam } = liveCamera(server.url("/nope"));
    const startedAt = Date.now();
    cam.start();
    await waitFor(() => cam.current.restarts >= 2, 30_000, "two restarts");
    await new Promise((r) => setTimeout(r, 3000));
    // tries 0.5 s, 1 s, 2 s, then 3 s apart, as without the knocks: a handful in the window, never dozens
    const window = Date.now() - startedAt;
    expect(cam.current.restarts).toBeLessThanOrEqual(2 + Math.ceil(window / 3000));
    expect(cam.current.state).toBe("offline");
  });
});

describe("source endpoints (the port knocked on while a camera is away)", () => {
  it("reads host and port, with each scheme's default port; none for files and devices", () => {
    expect(sourceEndpoint("rtsp://viewer:pw@192.0.2.10/Streaming/101")).toEqual({ host: "192.0.2.10", port: 554 });
    expect(sourceEndpoint("rtsp://cam.local:8554/main")).toEqual({ host: "cam.local", port: 8554 });
    expect(sourceEndpoint("http://[::1]:8080/live.ts")).toEqual({ host: "::1", port: 8080 });
    expect(sourceEndpoint("https://cam/live.ts")).toEqual({ host: "cam", port: 443 });
    expect(sourceEndpoint("/data/clip.mp4")).toBeNull();
    expect(sourceEndpoint("/dev/video0")).toBeNull();
  });
});
