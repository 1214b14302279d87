import { createHash } from "node:crypto";
import { createReadStream, existsSync } from "node:fs";
import { chmod, readFile, realpath, rename, stat, writeFile } from "node:fs/promises";
import type { IncomingMessage, ServerResponse } from "node:http";
import { createRequire } from "node:module";
import path from "node:path";
import { fileURLToPath } from "node:url";
import type { Logger } from "pino";
import type { CameraStatus } from "../camera/camera.js";
import { cameraShapes } from "../config/analytics-schema.js";
import { toPixels, type Point } from "../core/geometry.js";
import { checkConfigText } from "../check/config-check.js";
import { recordKinds } from "../records/registry.js";
import { formatProblem, type LoadedConfig } from "../config/load.js";
import { lineTotals, recentEvents, type RecentQuery } from "../events/recent-records.js";
import { crossings } from "../records/crossings.js";
import { sightings, type SightingRecord } from "../records/sightings.js";
import { loadSignAssets } from "../records/sign-assets.js";
import type { EventStore } from "../events/store.js";
import type { CommandOutcome } from "../publish/commands.js";
import type { ControlledAgent } from "../publish/control-room.js";
import { ConsoleAccess, TOKEN_ENV } from "./access.js";
import { LiveFrames, type GrabFrame } from "./live-frames.js";
import { loginPage } from "./login-page.js";
import { editShapes, type ShapeEdits } from "./shape-edit.js";
import { clipUrl, resolveClip, resolveSnapshot, snapshotUrl } from "./snapshot-files.js";

/** A zone's occupancy as the analytics last published it. */
export interface ZoneOccupancy {
  camera: string;
  zone: string;
  counts: Record<string, number>;
  total: number;
}

/** What the console reads from the running agent; everything is looked up per request (reloads move things). */
export interface ConsoleSource {
  running(): LoadedConfig;
  cameraStatuses(): CameraStatus[];
  cameraFigures: ControlledAgent["cameraFigures"];
  /** the detect-frame size of a running camera (the coordinate space of zones and lines) */
  frameSize(camera: string): { width: number; height: number } | null;
  grabFrame: GrabFrame;
  store(): EventStore | null;
  occupancy(): ZoneOccupancy[];
  /** the same reload an edit of the file or a SIGHUP runs */
  reload(): Promise<CommandOutcome>;
}

export interface ConsoleOptions {
  /** the address the HTTP server listens on: loopback is open, anything else needs the token */
  host: string;
  env?: NodeJS.ProcessEnv;
}

/** POST /api/cameras/<camera>/shapes: the file's hash when the edit began, and the shapes as the page has them. */
interface SaveBody {
  hash?: unknown;
  zones?: unknown;
  lines?: unknown;
  masks?: unknown;
  added?: unknown;
  removed?: unknown;
  mask_list?: unknown;
}

interface Reply {
  status: number;
  type: string;
  body: string | Buffer;
  headers?: Record<string, string>;
}

const MAX_BODY = 256 * 1024;
/** the camera card's rates are over this long */
const FPS_WINDOW_MS = 5000;

interface FrameSample {
  at: number;
  framesIn: number;
  analysed: number;
  skipped: number;
  gated: number;
}
const STREAM_INTERVAL_MS = 1000;
/** boxes sent with a live frame (a header: kept well under Node's 16 KB header limit) */
const MAX_BOXES = 64;
const STATIC_TYPES: Record<string, string> = {
  ".html": "text/html; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".svg": "image/svg+xml",
  ".png": "image/png",
};
/** the most located sightings of today the map shows */
const MAP_SIGHTINGS = 500;
// Everything the page loads is its own (it works offline, and nothing injected can load or send elsewhere),
// except the map's tile images from the configured tile server.
const PAGE_HEADERS = pageHeaders("");

function pageHeaders(tiles: string): Record<string, string> {
  const tileHost = tileOrigin(tiles);
  return {
    // data: is Leaflet's blank image, set on a tile it stops loading
    "content-security-policy": `default-src 'self'; img-src 'self' blob: data:${tileHost ? ` ${tileHost}` : ""}; style-src 'self'; script-src 'self'; connect-src 'self'; frame-ancestors 'none'`,
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
  };
}

/** The tile URL's origin for the page's CSP, `{s}` (a subdomain) as a wildcard; null for the grid. */
export function tileOrigin(tiles: string): string | null {
  const m = /^(https?):\/\/([^/]+)\//.exec(tiles);
  return m ? `${m[1]}://${m[2]!.replace("{s}", "*")}` : null;
}

/** Leaflet's dist folder (npm `leaflet`, a dependency): the map's script, style and control images. */
const leafletDist = (): string => path.dirname(createRequire(import.meta.url).resolve("leaflet/dist/leaflet.js"));

/** The page's files: HTML and CSS from the source folder, the compiled script from dist/ (see web/tsconfig.json). */
function webFolders(): { source: string; compiled: string } {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6 && !existsSync(path.join(dir, "package.json")); i++) dir = path.dirname(dir);
  return { source: path.join(dir, "agent/console/web"), compiled: path.join(dir, "dist/agent/console/web") };
}

/**
 * The local web console on the health server's port: cameras and their figures, a live view, recent records
 * with their snapshots, line totals, zone occupancy, and the zone/line editor whose save goes through the
 * same validation and live reload as a hand edit of the file.
 */
export class ConsoleRoutes {
  private readonly access: ConsoleAccess;
  private readonly frames: LiveFrames;
  private readonly web = webFolders();
  private readonly leaflet = leafletDist();
  private readonly rates = new Map<string, FrameSample[]>();
  private saving: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly source: ConsoleSource,
    private readonly log: Logger,
    o: ConsoleOptions,
  ) {
    const env = o.env ?? process.env;
    this.access = new ConsoleAccess({ host: o.host, token: env[TOKEN_ENV] });
    this.frames = new LiveFrames(source.grabFrame);
    if (!this.access.remote)
      log.warn({ host: o.host }, `web console on loopback clients only: the health server listens beyond loopback and ${TOKEN_ENV} is not set`);
  }

  /** The route hook for the health server: true when the request was the console's. */
  readonly handle = (req: IncomingMessage, res: ServerResponse): boolean => {
    let url: URL;
    try {
      url = new URL(req.url ?? "/", "http://console.invalid");
    } catch {
      return false; // not a path the console knows; the health server answers 404
    }
    const p = url.pathname;
    if (!(p === "/" || p === "/console" || p.startsWith("/console/") || p.startsWith("/api/") || p.startsWith("/snapshots/") || p.startsWith("/clips/")))
      return false;
    if ((p === "/console/login" || p === "/console/logout") && this.access.needsToken && this.access.hasToken) {
      this.signIn(req, p).then(
        (reply) => send(res, reply),
        (err: Error) => send(res, { status: 400, type: "text/plain; charset=utf-8", body: `${err.message}\n` }),
      );
      return true;
    }
    const decision = this.access.check(req, url);
    if (!decision.ok) {
      // A browser opening the console is sent to the login page; tools get the reason as text.
      const page = p === "/" || p === "/console" || p === "/console/";
      if (decision.login && page && (req.method === "GET" || req.method === "HEAD"))
        send(res, { status: 302, type: "text/plain", body: "", headers: { location: "/console/login" } });
      else send(res, { status: decision.status, type: "text/plain; charset=utf-8", body: `${decision.message}\n` });
      return true;
    }
    if (decision.setCookie && (p === "/console/" || p === "/console")) {
      // The token leaves the address bar (and the browser history) once the cookie holds it.
      send(res, { status: 302, type: "text/plain", body: "", headers: { location: "/console/", "set-cookie": decision.setCookie } });
      return true;
    }
    if (p.startsWith("/clips/") && (req.method === "GET" || req.method === "HEAD")) {
      void this.clip(req, res, p.slice("/clips/".length)).catch((err: Error) => {
        this.log.warn({ url: p, err: err.message }, "clip request failed");
        res.destroy();
      });
      return true;
    }
    const stream = /^\/api\/cameras\/([^/]+)\/stream\.mjpeg$/.exec(p);
    if (stream && req.method === "GET") {
      let camera: string;
      try {
        camera = decodeURIComponent(stream[1]!);
      } catch {
        send(res, { status: 400, type: "text/plain", body: "bad percent-encoding in the path\n" });
        return true;
      }
      this.stream(camera, res);
      return true;
    }
    this.route(req, url).then(
      (reply) => {
        if (decision.setCookie) reply.headers = { ...reply.headers, "set-cookie": decision.setCookie };
        send(res, reply, req.method === "HEAD");
      },
      (err: Error) => {
        this.log.error({ url: p, err: err.message }, "console request failed");
        send(res, json(500, { error: err.message }));
      },
    );
    return true;
  };

  /** GET /console/login: the form; POST: the token in, a session cookie out; POST /console/logout ends it. */
  private async signIn(req: IncomingMessage, p: string): Promise<Reply> {
    const device = this.source.running().config.device.id;
    const page = (status: number, failure: string | null): Reply => ({
      status,
      type: "text/html; charset=utf-8",
      body: loginPage(device, failure),
      headers: PAGE_HEADERS,
    });
    if (req.method === "GET" || req.method === "HEAD") return p === "/console/login" ? page(200, null) : { status: 405, type: "text/plain", body: "POST\n" };
    if (req.method !== "POST") return { status: 405, type: "text/plain", body: "GET or POST\n" };
    // No origin check: the page's no-referrer policy makes its own form post say `Origin: null`, and a forged
    // sign-in gains nothing without the token.
    if (p === "/console/logout")
      return { status: 303, type: "text/plain", body: "", headers: { location: "/console/login", "set-cookie": this.access.logout(req) } };
    const token = new URLSearchParams((await readBody(req)).toString("utf8")).get("token") ?? "";
    const cookie = this.access.login(token);
    if (!cookie) {
      this.log.warn({ from: req.socket.remoteAddress }, "web console sign-in refused: wrong token");
      return page(401, "That is not the token.");
    }
    return { status: 303, type: "text/plain", body: "", headers: { location: "/console/", "set-cookie": cookie } };
  }

  private async route(req: IncomingMessage, url: URL): Promise<Reply> {
    const p = url.pathname;
    try {
      decodeURIComponent(p);
    } catch {
      return { status: 400, type: "text/plain", body: "bad percent-encoding in the path\n" };
    }
    const method = req.method ?? "GET";
    const save = /^\/api\/cameras\/([^/]+)\/shapes$/.exec(p);
    if (save && method === "POST") return this.save(req, decodeURIComponent(save[1]!));
    if (method !== "GET" && method !== "HEAD") return { status: 405, type: "text/plain", body: "GET, or POST to /api/cameras/<camera>/shapes\n" };

    if (p === "/" || p === "/console") return { status: 302, type: "text/plain", body: "", headers: { location: "/console/" } };
    if (p === "/console/") return this.staticFile(path.join(this.web.source, "index.html"), pageHeaders(this.source.running().config.console.map_tiles));
    if (p === "/console/console.css") return this.staticFile(path.join(this.web.source, "console.css"));
    if (p === "/console/favicon.svg") return this.staticFile(path.join(this.web.source, "favicon.svg"));
    const script = /^\/console\/([a-z-]+\.js)$/.exec(p);
    if (script) return this.staticFile(path.join(this.web.compiled, script[1]!));
    const leaflet = /^\/console\/leaflet\/(leaflet\.(?:js|css)|images\/[a-z0-9-]+\.png)$/.exec(p);
    if (leaflet) return this.staticFile(path.join(this.leaflet, leaflet[1]!));
    if (p === "/api/map") return this.map();
    if (p === "/api/state") return json(200, await this.state());
    const frame = /^\/api\/cameras\/([^/]+)\/frame\.jpg$/.exec(p);
    if (frame) return this.frame(decodeURIComponent(frame[1]!));
    if (p === "/api/events" || p === "/api/crossings" || p === "/api/signs") return this.records(p, url.searchParams);
    const kind = /^\/api\/records\/([a-z_]+)$/.exec(p);
    if (kind) return this.kindRecords(kind[1]!, url.searchParams);
    if (p.startsWith("/snapshots/")) return this.snapshot(p.slice("/snapshots/".length));
    return { status: 404, type: "text/plain", body: "not found\n" };
  }

  private async staticFile(file: string, headers = PAGE_HEADERS): Promise<Reply> {
    try {
      return { status: 200, type: STATIC_TYPES[path.extname(file)] ?? "application/octet-stream", body: await readFile(file), headers };
    } catch {
      const hint = file.endsWith(".js") ? " (build the page: npm run build)" : "";
      return { status: 404, type: "text/plain", body: `not found: ${path.basename(file)}${hint}\n` };
    }
  }

  /** Everything the page shows that changes by the second, in one answer. */
  private async state() {
    const loaded = this.source.running();
    const cfg = loaded.config;
    const statuses = new Map(this.source.cameraStatuses().map((s) => [s.camera, s]));
    const figures = this.source.cameraFigures();
    const store = this.source.store();
    const cameras = Object.entries(cfg.cameras).map(([name, cam]) => {
      const s = statuses.get(name);
      const f = figures[name];
      const size = this.source.frameSize(name) ?? (cam.detect.width && cam.detect.height ? { width: cam.detect.width, height: cam.detect.height } : null);
      const shapes = cameraShapes(cam);
      const px = (pts: Point[]) => (size ? toPixels(pts, size.width, size.height) : pts);
      return {
        name,
        enabled: cam.enabled,
        state: !cam.enabled ? "disabled" : s ? (f && !f.detection && s.state === "online" ? "detection off" : s.state) : "not running",
        reason: s?.reason ?? null,
        since: s ? new Date(s.since).toISOString() : null,
        restarts: s?.restarts ?? 0,
        fps: f ? this.fps(name, f) : null,
        inference_ms: f ? { p50: round1(f.inference.p50), p95: round1(f.inference.p95) } : null,
        provider: f?.provider ?? null,
        width: size?.width ?? null,
        height: size?.height ?? null,
        running: this.source.frameSize(name) !== null,
        zones: shapes.zones.map((z) => ({ name: z.name, points: px(z.points) })),
        lines: shapes.lines.map((l) => ({ name: l.name, points: px(l.points) })),
        masks: shapes.masks.map((m, i) => ({ name: String(i), points: px(m.points) })),
      };
    });
    return {
      device: { id: cfg.device.id, name: cfg.device.name ?? null },
      config: { file: loaded.file, hash: await this.fileHash(loaded.file) },
      time: new Date().toISOString(),
      cameras,
      lines: store ? lineTotals(store) : [],
      occupancy: this.source.occupancy(),
    };
  }

  /**
   * Frames per second over the last few seconds, from counters sampled together: every frame in is analysed,
   * skipped (the detector was busy) or gated (no motion), counted as it arrives, so in ≥ processed + skipped
   * + gated in every window. A one-second window made the detector's one-frame lag read as processed > in.
   */
  private fps(camera: string, f: { framesIn: number; analysed: number; framesSkipped: number; gated: number }) {
    const now = Date.now();
    const samples = this.rates.get(camera) ?? [];
    const last = samples.at(-1);
    if (!last || now - last.at >= 1000) samples.push({ at: now, framesIn: f.framesIn, analysed: f.analysed, skipped: f.framesSkipped, gated: f.gated });
    while (samples.length > 2 && now - samples[1]!.at >= FPS_WINDOW_MS) samples.shift();
    this.rates.set(camera, samples);
    const from = samples[0]!;
    const to = samples.at(-1)!;
    const seconds = (to.at - from.at) / 1000;
    // counters start again when a reload replaces the camera: no rate across that
    const rate = (k: keyof Omit<FrameSample, "at">) => (seconds > 0 && to[k] >= from[k] ? Math.round(((to[k] - from[k]) / seconds) * 10) / 10 : 0);
    return { in: rate("framesIn"), processed: rate("analysed"), skipped: rate("skipped"), gated: rate("gated"), seconds: Math.round(seconds) };
  }

  private async fileHash(file: string): Promise<string | null> {
    try {
      return hashText(await readFile(file, "utf8"));
    } catch {
      return null;
    }
  }

  private async frame(camera: string): Promise<Reply> {
    if (!Object.hasOwn(this.source.running().config.cameras, camera)) return json(404, { error: `no camera '${camera}'` });
    const f = await this.frames.get(camera);
    // Not an error: a camera still starting (or stopped before its first frame) has nothing to show yet.
    if (!f) return { status: 204, type: "text/plain", body: "", headers: { "x-no-frame": `camera '${camera}' has no picture yet` } };
    // The frame's own detections ride along, so the page draws each box on the picture it was found in.
    const boxes = (f.detections ?? [])
      .slice(0, MAX_BOXES)
      .map((d) => ({ label: d.label, score: Math.round(d.score * 100) / 100, box: d.box.map((v) => Math.round(v)) }));
    return {
      status: 200,
      type: "image/jpeg",
      body: f.jpeg,
      headers: { "x-frame-time": new Date(f.time).toISOString(), "x-detections": encodeURIComponent(JSON.stringify(f.detections ? boxes : null)) },
    };
  }

  /**
   * MJPEG of the live view, a frame a second (for VLC, a browser tab, Home Assistant's MJPEG camera). A client
   * that reads slower than that misses frames; nothing queues up for it.
   */
  private stream(camera: string, res: ServerResponse): void {
    if (!Object.hasOwn(this.source.running().config.cameras, camera)) {
      send(res, json(404, { error: `no camera '${camera}'` }));
      return;
    }
    const boundary = "eva-frame";
    res.writeHead(200, { "content-type": `multipart/x-mixed-replace; boundary=${boundary}`, "cache-control": "no-store", ...PAGE_HEADERS });
    let open = true;
    res.on("close", () => (open = false));
    let shown = -1;
    const loop = async () => {
      while (open) {
        if (!Object.hasOwn(this.source.running().config.cameras, camera)) break; // removed by a reload
        const f = await this.frames.get(camera);
        if (open && f && f.time !== shown && !res.writableNeedDrain) {
          shown = f.time;
          res.write(`--${boundary}\r\ncontent-type: image/jpeg\r\ncontent-length: ${f.jpeg.length}\r\nx-frame-time: ${new Date(f.time).toISOString()}\r\n\r\n`);
          res.write(f.jpeg);
          res.write("\r\n");
        }
        await new Promise((r) => setTimeout(r, STREAM_INTERVAL_MS));
      }
      if (open) res.end(`--${boundary}--\r\n`);
    };
    void loop().catch((err: Error) => {
      this.log.warn({ camera, err: err.message }, "live stream ended");
      res.destroy();
    });
  }

  private async records(p: string, q: URLSearchParams): Promise<Reply> {
    const store = this.source.store();
    if (!store) return json(503, { error: "the event store is not open" });
    const query = recentQuery(q);
    if ("error" in query) return json(400, query);
    if (p === "/api/crossings") return json(200, { records: store.inTransaction("recentCrossings", (db) => crossings.list!(db, query)) });
    const { snapshots: root, clips } = this.source.running().config.storage;
    const rows: Array<{ snapshot: string | null; clip?: { path: string } | null }> =
      p === "/api/events"
        ? recentEvents(store, query)
        : store.inTransaction("recentSightings", (db) => sightings.list!(db, query) as Array<{ snapshot: string | null }>);
    // A record is stored as its event happens; its JPEG lands a moment later (or was pruned since): a URL is
    // given only for a file on disk, so a page never asks for a picture that is not there yet.
    const records = await Promise.all(
      rows.map(async (r) => ({
        ...r,
        snapshot_url: r.snapshot && (await isFile(r.snapshot)) ? snapshotUrl(root, r.snapshot) : null,
        ...(r.clip !== undefined ? { clip_url: r.clip && (await isFile(r.clip.path)) ? clipUrl(clips, r.clip.path) : null } : {}),
      })),
    );
    return json(200, { records });
  }

  /**
   * The sign map: the tile source, every asset of the inventory and today's located sightings (since the
   * device's midnight), each with its snapshot's URL when the file is there.
   */
  private async map(): Promise<Reply> {
    const cfg = this.source.running().config;
    const store = this.source.store();
    if (!store) return json(503, { error: "the event store is not open" });
    const midnight = new Date();
    midnight.setHours(0, 0, 0, 0);
    const { assets, seen } = store.inTransaction("map", (db) => ({
      assets: loadSignAssets(db),
      seen: (sightings.list!(db, { sinceMs: midnight.getTime(), limit: MAP_SIGHTINGS }) as SightingRecord[]).filter(
        (s) => typeof s.sign_lat === "number" && typeof s.sign_lon === "number",
      ),
    }));
    const root = cfg.storage.snapshots;
    const url = async (file: string | null) => (file && (await isFile(file)) ? snapshotUrl(root, file) : null);
    return json(200, {
      tiles: cfg.console.map_tiles ? { url: cfg.console.map_tiles, attribution: cfg.console.map_attribution } : null,
      assets: await Promise.all(
        assets.map(async (a) => ({
          id: a.id,
          label: a.label,
          lat: a.lat,
          lon: a.lon,
          state: a.state,
          changed_to: a.changed_to,
          passes_seen: a.passes_seen,
          passes_missed: a.passes_missed,
          last_seen: a.last_seen,
          snapshot_url: await url(a.snapshot),
        })),
      ),
      sightings: await Promise.all(
        seen.map(async (s) => ({
          id: s.id,
          camera: s.camera,
          label: s.label,
          lat: s.sign_lat,
          lon: s.sign_lon,
          score: s.score,
          first_seen: s.first_seen,
          snapshot_url: await url(s.snapshot),
        })),
      ),
    });
  }

  /** Any record kind's listing (agent/records), newest first: /api/records/<kind>, e.g. /api/records/counts. */
  private kindRecords(name: string, q: URLSearchParams): Reply {
    const kind = recordKinds.find((k) => k.name === name && k.list);
    if (!kind)
      return json(404, {
        error: `no record kind '${name}'; known: ${recordKinds
          .filter((k) => k.list)
          .map((k) => k.name)
          .join(", ")}`,
      });
    const store = this.source.store();
    if (!store) return json(503, { error: "the event store is not open" });
    const query = recentQuery(q);
    if ("error" in query) return json(400, query);
    return json(200, { records: store.inTransaction(`list ${name}`, (db) => kind.list!(db, query)) });
  }

  private async snapshot(rest: string): Promise<Reply> {
    const found = await resolveSnapshot(this.source.running().config.storage.snapshots, rest);
    if ("status" in found) return { status: found.status, type: "text/plain", body: `${found.message}\n` };
    return { status: 200, type: "image/jpeg", body: await readFile(found.file), headers: { "cache-control": "private, max-age=3600" } };
  }

  /**
   * An event's MP4, streamed from the file, with byte ranges: a browser's video element asks for ranges to start
   * playing and to seek.
   */
  private async clip(req: IncomingMessage, res: ServerResponse, rest: string): Promise<void> {
    const found = await resolveClip(this.source.running().config.storage.clips, rest);
    if ("status" in found) return send(res, { status: found.status, type: "text/plain", body: `${found.message}\n` });
    const size = found.bytes;
    const range = /^bytes=(\d*)-(\d*)$/.exec(req.headers.range ?? "");
    let start = 0;
    let end = size - 1;
    if (range && (range[1] || range[2])) {
      start = range[1] ? Number(range[1]) : Math.max(0, size - Number(range[2]));
      end = range[1] && range[2] ? Math.min(Number(range[2]), size - 1) : size - 1;
      if (start > end || start >= size)
        return send(res, { status: 416, type: "text/plain", body: "range not satisfiable\n", headers: { "content-range": `bytes */${size}` } });
    }
    const partial = range !== null && (range[1] !== "" || range[2] !== "");
    res.writeHead(partial ? 206 : 200, {
      "content-type": "video/mp4",
      "content-length": String(end - start + 1),
      "accept-ranges": "bytes",
      "cache-control": "private, max-age=3600",
      ...(partial ? { "content-range": `bytes ${start}-${end}/${size}` } : {}),
    });
    if (req.method === "HEAD" || size === 0) return void res.end();
    createReadStream(found.file, { start, end })
      .on("error", () => res.destroy())
      .pipe(res);
  }

  /**
   * The editor's save: the file is rewritten with the new points, checked as `eva check-config` checks it, and
   * applied by the agent's live reload. A rejected edit leaves the file as it was.
   */
  private async save(req: IncomingMessage, camera: string): Promise<Reply> {
    if (!/^application\/json\b/i.test(req.headers["content-type"] ?? "")) return json(415, { error: "send application/json" });
    const origin = req.headers.origin;
    // A form or script on another site may POST here through the installer's browser: refuse other origins.
    if (origin && origin !== `http://${req.headers.host}` && origin !== `https://${req.headers.host}`)
      return json(403, { error: `cross-origin save refused (${origin})` });
    let body: SaveBody;
    try {
      body = JSON.parse((await readBody(req)).toString("utf8")) as typeof body;
    } catch (err) {
      return json(400, { error: `bad request body: ${(err as Error).message}` });
    }
    // One save at a time: each reads the file the previous one wrote.
    const run = this.saving.then(() => this.applySave(camera, body));
    this.saving = run.catch(() => {});
    return run;
  }

  private async applySave(camera: string, body: SaveBody): Promise<Reply> {
    const loaded = this.source.running();
    const size = this.source.frameSize(camera);
    if (!Object.hasOwn(loaded.config.cameras, camera)) return json(404, { result: "rejected", errors: [`no camera '${camera}' in the running config`] });
    if (!size) return json(409, { result: "rejected", errors: [`camera '${camera}' is not running: its frame size is unknown`] });
    const file = await realpath(loaded.file);
    const before = await readFile(file, "utf8");
    // The page always sends the hash of the file it edits; without it a save would silently overwrite a hand edit.
    if (typeof body.hash !== "string") return json(400, { result: "rejected", errors: ["the save names no config hash; reload the page"] });
    if (body.hash !== hashText(before)) {
      return json(409, { result: "rejected", errors: [`${loaded.file} changed since the page loaded it; reload the page to edit the current file`] });
    }
    const edits = { zones: body.zones, lines: body.lines, masks: body.masks, added: body.added, removed: body.removed, maskList: body.mask_list } as ShapeEdits;
    const edited = editShapes(before, camera, edits, size);
    if ("error" in edited) return json(400, { result: "rejected", errors: [edited.error] });
    if (edited.text === before) return json(200, { result: "applied", changed: [], hash: hashText(before) });

    const { problems } = await checkConfigText(edited.text, loaded.file);
    if (problems.length) return json(422, { result: "rejected", errors: problems.map(formatProblem) });

    await writeAtomically(file, edited.text);
    const outcome = await this.source.reload();
    if (!outcome.ok) {
      // Validated but not applied (a model that no longer loads, the agent stopping): the file goes back.
      await writeAtomically(file, before);
      this.log.warn({ camera, err: outcome.message }, "console save not applied; the file is restored");
      return json(422, { result: "rejected", errors: outcome.message.split("; ") });
    }
    const report = outcome.result as { changed?: string[] } | undefined;
    this.log.info({ camera, file: loaded.file, changed: report?.changed ?? [] }, "zones and lines saved from the web console");
    return json(200, { result: "applied", changed: report?.changed ?? [], hash: hashText(edited.text) });
  }
}

/** Filters from the query string: camera, label, since/until (ISO 8601), limit (1–500, default 50). */
export function recentQuery(q: URLSearchParams): RecentQuery | { error: string } {
  const out: RecentQuery = { limit: 50 };
  const camera = q.get("camera");
  const label = q.get("label");
  if (camera) out.camera = camera;
  if (label) out.label = label;
  for (const key of ["since", "until"] as const) {
    const v = q.get(key);
    if (!v) continue;
    const ms = Date.parse(v);
    if (Number.isNaN(ms)) return { error: `${key} is not an ISO 8601 time: ${v}` };
    if (key === "since") out.sinceMs = ms;
    else out.untilMs = ms;
  }
  const limit = q.get("limit");
  if (limit) {
    const n = Number(limit);
    if (!Number.isInteger(n) || n < 1 || n > 500) return { error: "limit is a whole number from 1 to 500" };
    out.limit = n;
  }
  return out;
}

/**
 * Written beside the file and renamed over it: the watcher and a reader never see half a file. A folder the
 * agent may not write (/etc/eva owned by root, the file given to the agent's user) gets the file rewritten in
 * place instead.
 */
async function writeAtomically(file: string, text: string): Promise<void> {
  const tmp = path.join(path.dirname(file), `.${path.basename(file)}.console-${process.pid}.tmp`);
  const mode = (await stat(file)).mode & 0o7777;
  try {
    await writeFile(tmp, text, { mode });
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code !== "EACCES" && code !== "EPERM") throw err;
    await writeFile(file, text);
    return;
  }
  await chmod(tmp, mode);
  await rename(tmp, file);
}

function readBody(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on("data", (c: Buffer) => {
      size += c.length;
      if (size > MAX_BODY) {
        reject(new Error(`larger than ${MAX_BODY / 1024} KiB`));
        req.destroy();
        return;
      }
      chunks.push(c);
    });
    req.on("end", () => resolve(Buffer.concat(chunks)));
    req.on("error", reject);
  });
}

const round1 = (v: number | null) => (v === null ? null : Math.round(v * 10) / 10);

/** The file's fingerprint: a save refuses to overwrite a file edited since the page loaded it. */
const hashText = (text: string) => createHash("sha256").update(text).digest("hex");

const json = (status: number, value: unknown): Reply => ({ status, type: "application/json", body: `${JSON.stringify(value)}\n` });

function send(res: ServerResponse, r: Reply, head = false): void {
  if (res.headersSent) return;
  res.writeHead(r.status, { "content-type": r.type, "cache-control": "no-store", ...r.headers });
  res.end(head ? undefined : r.body);
}

async function isFile(file: string): Promise<boolean> {
  return stat(file).then(
    (s) => s.isFile(),
    () => false,
  );
}
