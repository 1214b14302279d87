import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { request } from "node:http";
import { networkInterfaces, tmpdir } from "node:os";
import path from "node:path";
import { pino } from "pino";
import sharp from "sharp";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { tokensMatch, isLoopbackHost } from "../../agent/console/access.js";
import { ConsoleRoutes, type ConsoleSource } from "../../agent/console/console-routes.js";
import { loadConfigFile } from "../../agent/config/load.js";
import type { CommandOutcome } from "../../agent/publish/commands.js";
import { EventStore } from "../../agent/events/store.js";
import { HealthServer } from "../../agent/health/http.js";
import { Recorder } from "../../agent/events/recorder.js";
import { counts } from "../../agent/records/counts.js";
import { crossings } from "../../agent/records/crossings.js";
import { eva } from "../support/agent.js";
import { shared } from "../support/paths.js";

// The console's HTTP routes on a real HealthServer, with a real SQLite store, a real snapshot folder and a real
// config file. The agent side is plain data here; test/integration/console-browser.test.ts runs the real agent.

const log = pino({ level: "silent" });
let dir: string;
let file: string;
let store: EventStore;
let server: HealthServer;
let reloads: CommandOutcome[];
let reloadCalls: number;

const config = (gateX: number) => `device: {id: dev}
storage: {db: eva.db, snapshots: snapshots}
models:
  coco: {path: ${path.join(shared, "models/yolox_nano.onnx")}}
cameras:
  cam:
    source: clip.mp4
    detect: {model: coco, width: 640, height: 360}
    zones:
      door: {points: [[40, 200], [200, 200], [200, 350], [40, 350]]}   # the doorway
    lines:
      gate: {points: [[${gateX}, 40], [600, 340]]}
  idle:
    source: other.mp4
    detect: {model: coco, width: 640, height: 360}
health: {port: 9108}
`;

async function start(host: string, env: NodeJS.ProcessEnv = {}): Promise<string> {
  const source: ConsoleSource = {
    running: () => loadConfigFile(file),
    cameraStatuses: () => [{ camera: "cam", state: "online", reason: null, since: Date.now(), restarts: 0 }],
    cameraFigures: () => ({
      cam: { framesIn: 10, framesSkipped: 0, processed: 10, analysed: 10, gated: 0, inference: { p50: 12, p95: 20 }, provider: "cpu", detection: true },
    }),
    frameSize: () => ({ width: 640, height: 360 }),
    grabFrame: (camera) =>
      camera === "cam"
        ? sharp({ create: { width: 64, height: 36, channels: 3, background: "#808080" } })
            .jpeg()
            .toBuffer()
            .then((jpeg) => ({ jpeg, time: Date.now(), detections: [{ label: "person", score: 0.8765, box: [10.4, 20, 50, 120.6] }] }))
        : null,
    store: () => store,
    occupancy: () => [{ camera: "cam", zone: "door", counts: { person: 1 }, total: 1 }],
    reload: async () => {
      reloadCalls++;
      return reloads.shift() ?? { ok: true, result: { changed: ["cameras.cam.lines.gate.points"] } };
    },
  };
  server = new HealthServer(
    {
      health: () => ({ healthy: true, reasons: [] }),
      stats: () => {
        throw new Error("unused");
      },
    },
    log,
  );
  server.mount(new ConsoleRoutes(source, log, { host, env }).handle);
  const port = await server.start(0, host);
  return `http://127.0.0.1:${port}`;
}

/** A raw GET: fetch() would normalise `..` out of the path before sending it. */
function rawGet(
  base: string,
  rawPath: string,
  headers: Record<string, string> = {},
): Promise<{ status: number; body: Buffer; headers: Record<string, unknown> }> {
  const u = new URL(base);
  return new Promise((resolve, reject) => {
    const req = request({ host: u.hostname, port: u.port, path: rawPath, method: "GET", headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks), headers: res.headers }));
    });
    req.on("error", reject);
    req.end();
  });
}

beforeEach(() => {
  dir = mkdtempSync(path.join(tmpdir(), "eva-console-"));
  file = path.join(dir, "eva.yaml");
  writeFileSync(file, config(600));
  // the cameras' files exist (check-config looks), the cameras themselves are plain data here
  for (const clip of ["clip.mp4", "other.mp4"]) writeFileSync(path.join(dir, clip), "");
  store = new EventStore(path.join(dir, "eva.db"));
  reloads = [];
  reloadCalls = 0;
});
afterEach(async () => {
  await server?.stop();
  store.close();
  rmSync(dir, { recursive: true, force: true });
});

describe("console access", () => {
  it("compares tokens in constant time whatever their lengths, and knows loopback addresses", () => {
    expect(tokensMatch("s3cret", "s3cret")).toBe(true);
    expect(tokensMatch("s3cre", "s3cret")).toBe(false);
    expect(tokensMatch("", "s3cret")).toBe(false);
    for (const h of ["127.0.0.1", "127.1.2.3", "localhost", "::1", "[::1]"]) expect(isLoopbackHost(h), h).toBe(true);
    for (const h of ["0.0.0.0", "::", "192.168.1.20", "eva.local", "127.0.0.1.evil.example"]) expect(isLoopbackHost(h), h).toBe(false);
  });

  it("on loopback is open, but only to a loopback Host (no DNS rebinding)", async () => {
    const base = await start("127.0.0.1");
    expect((await fetch(`${base}/console/`)).status).toBe(200);
    expect((await rawGet(base, "/api/state", { host: "attacker.example:9108" })).status).toBe(403);
    expect((await rawGet(base, "/api/state", { host: `localhost:${new URL(base).port}` })).status).toBe(200);
  });

  it("on loopback behind a proxy (another Host), the token lets requests through", async () => {
    const base = await start("127.0.0.1", { EVA_CONSOLE_TOKEN: "s3cret" });
    expect((await rawGet(base, "/api/state")).status).toBe(200);
    expect((await rawGet(base, "/api/state", { host: "eva.example" })).status).toBe(401);
    expect((await rawGet(base, "/api/state", { host: "eva.example", authorization: "Bearer s3cret" })).status).toBe(200);
  });

  it("beyond loopback needs the token from the environment: bearer, ?token= (then a cookie); /healthz stays open", async () => {
    const base = await start("0.0.0.0", { EVA_CONSOLE_TOKEN: "s3cret" });
    expect((await fetch(`${base}/healthz`)).status).toBe(200);
    expect((await fetch(`${base}/api/state`)).status).toBe(401);
    expect((await fetch(`${base}/api/state`, { headers: { authorization: "Bearer wrong" } })).status).toBe(401);
    expect((await fetch(`${base}/api/state`, { headers: { authorization: "Bearer s3cret" } })).status).toBe(200);
    const basic = (user: string, pass: string) => ({ authorization: `Basic ${Buffer.from(`${user}:${pass}`).toString("base64")}` });
    expect((await fetch(`${base}/api/cameras/cam/frame.jpg`, { headers: basic("ha", "s3cret") })).status).toBe(200);
    expect((await fetch(`${base}/api/cameras/cam/frame.jpg`, { headers: basic("s3cret", "wrong") })).status).toBe(401);
    expect((await fetch(`${base}/console/?token=nope`)).status).toBe(401);
    expect((await fetch(`${base}/api/state?token=s3cret`)).status).toBe(200);
    const viaQuery = await fetch(`${base}/console/?token=s3cret`, { redirect: "manual" });
    // the token leaves the address bar; the cookie holds a session id, not the token
    expect(viaQuery.status).toBe(302);
    expect(viaQuery.headers.get("location")).toBe("/console/");
    const cookie = viaQuery.headers.get("set-cookie")!;
    expect(cookie).toMatch(/^eva_console=[A-Za-z0-9_-]{43}; HttpOnly; SameSite=Strict; Path=\/; Max-Age=43200$/);
    expect(cookie).not.toContain("s3cret");
    expect((await fetch(`${base}/api/state`, { headers: { cookie: cookie.split(";")[0]! } })).status).toBe(200);
    expect((await fetch(`${base}/api/state`, { headers: { cookie: "eva_console=guess" } })).status).toBe(401);
    expect((await fetch(`${base}/api/state`, { headers: { cookie: "eva_console=s3cret" } })).status).toBe(401);
  });

  it("beyond loopback, a browser without a session gets the login page; the right token signs it in, a wrong one says so; sign out ends it", async () => {
    const base = await start("0.0.0.0", { EVA_CONSOLE_TOKEN: "s3cret" });
    const page = await fetch(`${base}/console/`, { redirect: "manual" });
    expect(page.status).toBe(302);
    expect(page.headers.get("location")).toBe("/console/login");
    // tools still get the reason as text, not a redirect
    const api = await fetch(`${base}/api/state`, { redirect: "manual" });
    expect(api.status).toBe(401);
    expect(await api.text()).toContain("/console/login");
    const form = await fetch(`${base}/console/login`);
    expect(form.status).toBe(200);
    expect(form.headers.get("content-security-policy")).toContain("default-src 'self'");
    expect(await form.text()).toContain('<form id="login" method="post" action="/console/login">');
    const post = (token: string, headers: Record<string, string> = {}) =>
      fetch(`${base}/console/login`, {
        method: "POST",
        redirect: "manual",
        headers: { "content-type": "application/x-www-form-urlencoded", ...headers },
        body: new URLSearchParams({ token }).toString(),
      });
    const wrong = await post("nope");
    expect(wrong.status).toBe(401);
    expect(await wrong.text()).toContain("That is not the token.");
    expect(wrong.headers.get("set-cookie")).toBeNull();
    const right = await post("s3cret");
    expect(right.status).toBe(303);
    expect(right.headers.get("location")).toBe("/console/");
    const session = right.headers.get("set-cookie")!.split(";")[0]!;
    expect(session).not.toContain("s3cret");
    expect((await fetch(`${base}/console/`, { headers: { cookie: session } })).status).toBe(200);
    // two sign-ins are two sessions
    expect((await post("s3cret")).headers.get("set-cookie")!.split(";")[0]).not.toBe(session);
    const out = await fetch(`${base}/console/logout`, { method: "POST", redirect: "manual", headers: { cookie: session } });
    expect(out.status).toBe(303);
    expect((await fetch(`${base}/api/state`, { headers: { cookie: session } })).status).toBe(401);
  });

  it("beyond loopback without a token, loopback clients still get the console and everyone else is told why", async () => {
    const base = await start("0.0.0.0", {});
    expect((await fetch(`${base}/console/`)).status).toBe(200);
    expect((await fetch(`${base}/api/state`)).status).toBe(200);
    // a loopback client naming another host (DNS rebinding) is still refused
    expect((await rawGet(base, "/api/state", { host: "attacker.example" })).status).toBe(403);
    expect((await fetch(`${base}/healthz`)).status).toBe(200);
    // from another address of this machine (what a LAN client is to the server)
    const lan = Object.values(networkInterfaces())
      .flat()
      .find((a) => a && a.family === "IPv4" && !a.internal)?.address;
    if (lan) {
      const res = await rawGet(`http://${lan}:${new URL(base).port}`, "/console/");
      expect(res.status).toBe(403);
      expect(res.body.toString()).toContain("EVA_CONSOLE_TOKEN is not set");
    }
  });
});

describe("console routes", () => {
  it("serves the page with a strict content policy, and the state with figures, shapes, totals and occupancy", async () => {
    const base = await start("127.0.0.1");
    const page = await fetch(`${base}/console/`);
    expect(page.headers.get("content-security-policy")).toContain("default-src 'self'");
    expect(await page.text()).toContain('<script type="module" src="console.js">');
    const js = await fetch(`${base}/console/console.js`);
    expect(js.status).toBe(200);
    expect(js.headers.get("content-type")).toContain("text/javascript");
    expect((await fetch(`${base}/console/../../package.json`)).status).toBe(404);
    expect((await fetch(`${base}/`, { redirect: "manual" })).headers.get("location")).toBe("/console/");

    store.inTransaction("seed", (db) => db.prepare("INSERT INTO line_counts (camera, line, in_count, out_count) VALUES ('cam', 'gate', 3, 2)").run());
    const state = (await (await fetch(`${base}/api/state`)).json()) as Record<string, unknown>;
    expect(state).toMatchObject({
      device: { id: "dev" },
      cameras: [
        {
          name: "cam",
          state: "online",
          provider: "cpu",
          inference_ms: { p50: 12 },
          width: 640,
          height: 360,
          lines: [
            {
              name: "gate",
              points: [
                [600, 40],
                [600, 340],
              ],
            },
          ],
        },
        { name: "idle", state: "not running" },
      ],
      lines: [{ camera: "cam", line: "gate", in: 3, out: 2 }],
      occupancy: [{ camera: "cam", zone: "door", total: 1 }],
    });
  });

  it("serves the live frame as a JPEG and as MJPEG, a frame a second", async () => {
    const base = await start("127.0.0.1");
    const still = await fetch(`${base}/api/cameras/cam/frame.jpg`);
    expect(still.headers.get("content-type")).toBe("image/jpeg");
    expect((await sharp(Buffer.from(await still.arrayBuffer())).metadata()).width).toBe(64);
    // the frame's own detections come with it
    expect(JSON.parse(decodeURIComponent(still.headers.get("x-detections")!))).toEqual([{ label: "person", score: 0.88, box: [10, 20, 50, 121] }]);
    expect((await fetch(`${base}/api/cameras/nope/frame.jpg`)).status).toBe(404);
    // a camera with no picture yet answers 204, not an error
    expect((await fetch(`${base}/api/cameras/idle/frame.jpg`)).status).toBe(204);
    // a broken escape is a bad request, never a crash of the agent
    expect((await rawGet(base, "/api/cameras/%E0%A4%A/stream.mjpeg")).status).toBe(400);
    expect((await rawGet(base, "/api/cameras/%E0%A4%A/frame.jpg")).status).toBe(400);

    const u = new URL(base);
    const parts = await new Promise<string[]>((resolve, reject) => {
      const req = request({ host: u.hostname, port: u.port, path: "/api/cameras/cam/stream.mjpeg" }, (res) => {
        expect(res.headers["content-type"]).toBe("multipart/x-mixed-replace; boundary=eva-frame");
        let text = "";
        res.on("data", (c: Buffer) => {
          text += c.toString("latin1");
          const seen = text.split("--eva-frame\r\n").slice(1);
          if (seen.length >= 3) {
            req.destroy();
            resolve(seen.slice(0, 2));
          }
        });
      });
      req.on("error", reject);
      req.end();
    });
    for (const part of parts) {
      const [head, body] = part.split("\r\n\r\n");
      expect(head).toMatch(/^content-type: image\/jpeg\r\ncontent-length: (\d+)/);
      expect(Buffer.from(body!, "latin1").subarray(0, 2)).toEqual(Buffer.from([0xff, 0xd8]));
    }
  });

  it("lists records newest first with filters, and serves snapshots from the snapshot folder only", async () => {
    const base = await start("127.0.0.1");
    const snaps = path.join(dir, "snapshots");
    mkdirSync(path.join(snaps, "cam"), { recursive: true });
    const jpeg = Buffer.from([0xff, 0xd8, 0xff, 0xe0, 1, 2, 3]);
    writeFileSync(path.join(snaps, "cam", "e1.jpg"), jpeg);
    writeFileSync(path.join(dir, "secret.jpg"), "TOP-SECRET");
    symlinkSync(path.join(dir, "secret.jpg"), path.join(snaps, "cam", "link.jpg"));
    const ev = (id: string, label: string, start: string) => ({
      id,
      device: "dev",
      camera: "cam",
      label,
      start_time: start,
      end_time: null,
      top_score: 0.9,
      box: [1, 2, 3, 4] as [number, number, number, number],
      snapshot: path.join(snaps, "cam", `${id}.jpg`),
    });
    store.recordEvent("new", ev("e1", "person", "2026-12-01T10:00:00.000Z"));
    store.recordEvent("new", ev("e2", "car", "2026-12-01T11:00:00.000Z"));
    store.recordEvent("new", ev("e3", "person", "2026-12-01T12:00:00.000Z"));

    const ids = async (q: string) => ((await (await fetch(`${base}/api/events?${q}`)).json()) as { records: Array<{ id: string }> }).records.map((r) => r.id);
    expect(await ids("")).toEqual(["e3", "e2", "e1"]);
    expect(await ids("label=person")).toEqual(["e3", "e1"]);
    expect(await ids("since=2026-12-01T10:30:00Z&until=2026-12-01T11:30:00Z")).toEqual(["e2"]);
    expect(await ids("camera=other")).toEqual([]);
    expect((await fetch(`${base}/api/events?since=yesterday`)).status).toBe(400);
    // e3's JPEG is not on disk yet (it is written just after the record): no URL until it is
    const newest = async () =>
      ((await (await fetch(`${base}/api/events?limit=1`)).json()) as { records: Array<{ snapshot_url: string | null }> }).records[0]!.snapshot_url;
    expect(await newest()).toBeNull();
    writeFileSync(path.join(snaps, "cam", "e3.jpg"), jpeg);
    expect(await newest()).toBe("/snapshots/cam/e3.jpg");

    const ok = await rawGet(base, "/snapshots/cam/e1.jpg");
    expect(ok.status).toBe(200);
    expect(ok.headers["content-type"]).toBe("image/jpeg");
    expect(ok.body.equals(jpeg)).toBe(true);
    // every way out of the folder is refused, and nothing of the file outside comes back
    for (const p of [
      "/snapshots/../secret.jpg",
      "/snapshots/cam/../../secret.jpg",
      "/snapshots/%2e%2e/secret.jpg",
      "/snapshots/..%2fsecret.jpg",
      "/snapshots/cam%2f..%2f..%2fsecret.jpg",
      `/snapshots/${encodeURIComponent(path.join(dir, "secret.jpg"))}`,
      "/snapshots/..%5csecret.jpg",
      "/snapshots/cam/e1.jpg%00.txt",
      "/snapshots/cam/link.jpg",
      "/snapshots/%E0%A4%A.jpg",
      "/snapshots/../eva.yaml",
    ]) {
      const res = await rawGet(base, p);
      expect([400, 404], p).toContain(res.status);
      expect(res.body.toString(), p).not.toContain("TOP-SECRET");
    }
  });

  it("lists any record kind at /api/records/<kind>, newest first, with the same filters", async () => {
    const base = await start("127.0.0.1");
    const t = (m: number) => Date.parse("2026-12-01T10:00:00Z") + m * 60_000;
    const r = new Recorder(store);
    for (const [m, direction] of [
      [1, "in"],
      [2, "out"],
      [20, "in"],
    ] as const) {
      r.record(crossings, Recorder.stamp({ device: "dev", camera: "cam", line: "door", direction, label: "person", track_id: m, time: t(m) }));
    }
    for (const m of [0, 15]) {
      r.record(
        counts,
        Recorder.stamp({
          device: "dev",
          camera: "cam",
          subject: "line",
          name: "door",
          interval_start: t(m),
          interval_seconds: 900,
          classes: { person: { in: 1, out: m ? 0 : 1 } },
          complete: true,
        }),
      );
    }
    const get = async (q: string) => (await fetch(`${base}/api/records/${q}`)).json() as Promise<{ records: Array<Record<string, unknown>>; error?: string }>;
    expect((await get("crossings")).records.map((c) => [c.direction, c.time])).toEqual([
      ["in", new Date(t(20)).toISOString()],
      ["out", new Date(t(2)).toISOString()],
      ["in", new Date(t(1)).toISOString()],
    ]);
    expect((await get(`crossings?until=${new Date(t(2)).toISOString()}`)).records).toHaveLength(1);
    const reports = (await get("counts?camera=cam")).records;
    expect(reports.map((c) => [(c.interval as { start: string }).start, c.totals])).toEqual([
      [new Date(t(15)).toISOString(), { in: 1, out: 0 }],
      [new Date(t(0)).toISOString(), { in: 1, out: 1 }],
    ]);
    expect((await get("counts?camera=other")).records).toEqual([]);
    const unknown = await fetch(`${base}/api/records/nothing`);
    expect(unknown.status).toBe(404);
    expect(((await unknown.json()) as { error: string }).error).toMatch(/known: .*counts/);
  });

  it("saves edited points through check-config's validation and the reload; a rejected save changes nothing", async () => {
    const base = await start("127.0.0.1");
    const state = (await (await fetch(`${base}/api/state`)).json()) as { config: { hash: string } };
    const post = (body: unknown, headers: Record<string, string> = { "content-type": "application/json" }) =>
      fetch(`${base}/api/cameras/cam/shapes`, { method: "POST", headers, body: JSON.stringify(body) });
    const before = readFileSync(file, "utf8");

    expect(
      (
        await post(
          {
            lines: {
              gate: [
                [300, 40],
                [600, 340],
              ],
            },
          },
          { "content-type": "text/plain" },
        )
      ).status,
    ).toBe(415);
    expect(
      (
        await post(
          {
            lines: {
              gate: [
                [300, 40],
                [600, 340],
              ],
            },
          },
          { "content-type": "application/json", origin: "http://attacker.example" },
        )
      ).status,
    ).toBe(403);
    expect(
      (
        await post({
          hash: "0".repeat(64),
          lines: {
            gate: [
              [300, 40],
              [600, 340],
            ],
          },
        })
      ).status,
    ).toBe(409);

    // a bow-tie zone: the CLI's own `file:line:col path: message`, the file untouched, no reload
    const bad = await post({
      hash: state.config.hash,
      zones: {
        door: [
          [40, 200],
          [200, 200],
          [20, 340],
          [40, 350],
        ],
      },
    });
    expect(bad.status).toBe(422);
    const refusal = (await bad.json()) as { result: string; errors: string[] };
    expect(refusal.errors).toEqual([`${file}:10:22 cameras.cam.zones.door.points: the polygon intersects itself (edges 2 and 4)`]);
    expect(readFileSync(file, "utf8")).toBe(before);
    // word for word what `eva check-config` prints for the same edit made by hand
    writeFileSync(file, before.replace("[[40, 200], [200, 200], [200, 350], [40, 350]]", "[[40, 200], [200, 200], [20, 340], [40, 350]]"));
    const cli = await eva(["check-config", file]);
    writeFileSync(file, before);
    expect(cli.stdout.trim().split("\n")).toEqual(refusal.errors);
    // outside the frame: the semantic check reload runs too
    const outside = await post({
      hash: state.config.hash,
      zones: {
        door: [
          [40, 200],
          [200, 200],
          [200, 350],
          [40, 900],
        ],
      },
    });
    expect(((await outside.json()) as { errors: string[] }).errors[0]).toMatch(
      /cameras\.cam\.zones\.door\.points\.3: zone 'door' point \[40, 900\] is outside the 640×360 detect frame/,
    );
    expect(readFileSync(file, "utf8")).toBe(before);
    expect(reloadCalls).toBe(0);

    // the reload refuses (say, a model that no longer loads): the file goes back as it was
    reloads.push({ ok: false, code: "failed", message: `${file}:4:3 models.coco.path: model does not load: boom` });
    const refused = await post({
      hash: state.config.hash,
      lines: {
        gate: [
          [300, 40],
          [600, 340],
        ],
      },
    });
    expect(refused.status).toBe(422);
    expect(((await refused.json()) as { errors: string[] }).errors).toEqual([`${file}:4:3 models.coco.path: model does not load: boom`]);
    expect(readFileSync(file, "utf8")).toBe(before);

    const good = await post({
      hash: state.config.hash,
      lines: {
        gate: [
          [300, 40],
          [600, 340],
        ],
      },
    });
    expect(good.status).toBe(200);
    expect(await good.json()).toMatchObject({ result: "applied", changed: ["cameras.cam.lines.gate.points"] });
    expect(readFileSync(file, "utf8")).toBe(config(300));
    expect(reloadCalls).toBe(2);
  });
});
