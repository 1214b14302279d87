import { randomBytes } from "node:crypto";
import { writeFileSync, readFileSync } from "node:fs";
import { connect, type MqttClient } from "mqtt";
import { describe, expect, it } from "vitest";
import { eva, writeTestConfig } from "../support/agent.js";
import { checkPublished, validateAgainst } from "../support/api-schemas.js";
import { fileBroker, sleep } from "../support/broker.js";
import { emptyClip, personPanClip } from "../support/clips.js";
import { MessageCollector, retained } from "../support/mqtt.js";
import { freePort } from "../support/ports.js";
import { promtoolCheckMetrics } from "../support/promtool.js";

const broker = await fileBroker();

/** An MQTT v5 requester: replies come on its own response topic, matched by correlation data. */
async function v5Requester(url: string): Promise<{ request: (topic: string, body: unknown) => Promise<Record<string, any>>; client: MqttClient }> {
  const client = connect(url, { protocolVersion: 5, clientId: `req-${randomBytes(3).toString("hex")}`, reconnectPeriod: 200 });
  const waiting = new Map<string, (p: Record<string, any>) => void>();
  client.on("message", (_t, payload, packet) => {
    const id = packet.properties?.correlationData?.toString();
    if (id) waiting.get(id)?.(JSON.parse(payload.toString()) as Record<string, any>);
  });
  await new Promise<void>((resolve) => client.once("connect", () => client.subscribe("replies/me", { qos: 1 }, () => resolve())));
  const request = (topic: string, body: unknown) =>
    new Promise<Record<string, any>>((resolve, reject) => {
      const id = randomBytes(6).toString("hex");
      const timer = setTimeout(() => reject(new Error(`no reply on ${topic}`)), 15_000);
      waiting.set(id, (p) => {
        clearTimeout(timer);
        resolve(p);
      });
      client.publish(topic, JSON.stringify(body), { qos: 1, properties: { responseTopic: "replies/me", correlationData: Buffer.from(id) } });
    });
  return { request, client };
}

describe("the control-room API on a running agent", () => {
  it("publishes status, camera status, alarms, events, snapshots and stats that match the document; answers commands; survives 10 000 fuzzed commands", async () => {
    const clip = await personPanClip(5, 3);
    const device = "dev-c";
    const base = `eva/${device}`;
    const { file } = writeTestConfig({
      brokerUrl: broker.url,
      deviceId: device,
      cameras: {
        street: { source: clip, extra: "    loop: true\n" },
        ghost: { source: "/nonexistent/cam.mp4" },
        attic: { source: clip, extra: "    enabled: false\n" },
      },
    });
    const healthPort = await freePort();
    writeFileSync(
      file,
      readFileSync(file, "utf8").replace("reconnect_seconds: 0.5}", "reconnect_seconds: 0.5, stats_interval_seconds: 1, snapshots: true}") +
        `health: {port: ${healthPort}, host: 127.0.0.1}\n`,
    );
    const sub = await MessageCollector.subscribe(broker.url, `${base}/#`);
    const raw: Array<{ topic: string; payload: Buffer }> = [];
    (sub as unknown as { client: MqttClient }).client.on("message", (topic, payload) => raw.push({ topic, payload }));
    let kill: (s: NodeJS.Signals) => void = () => {};
    const running = eva(["run", "--config", file], { timeoutMs: 120_000, onSpawn: (k) => (kill = k) });
    const { request, client: v5 } = await v5Requester(broker.url);
    try {
      const has =
        (topic: string, pred: (p: string) => boolean = () => true) =>
        (m: Array<{ topic: string; payload: string }>) =>
          m.some((x) => x.topic === topic && pred(x.payload));
      await sub.until(
        has(`${base}/status`, (p) => p === "online"),
        30_000,
        "online",
      );
      await sub.until(
        has(`${base}/cameras/street/status`, (p) => JSON.parse(p).state === "online"),
        30_000,
        "street online",
      );
      await sub.until(
        has(`${base}/cameras/attic/status`, (p) => JSON.parse(p).state === "disabled"),
        5_000,
        "attic disabled",
      );
      await sub.until(
        has(`${base}/alarms`, (p) => JSON.parse(p).camera === "ghost" && JSON.parse(p).state === "raised"),
        20_000,
        "ghost alarm",
      );
      await sub.until(has(`${base}/stats`), 10_000, "stats");
      await sub.until(
        has(`${base}/events`, (p) => JSON.parse(p).type === "new"),
        40_000,
        "an event",
      );
      await sub.until(() => raw.some((m) => m.topic === `${base}/snapshots/street`), 20_000, "snapshot");

      // health: the ghost camera makes it 503 with the reason; /metrics passes promtool's lint with the agent's real figures
      const hz = await fetch(`http://127.0.0.1:${healthPort}/healthz`);
      expect(hz.status).toBe(503);
      expect(JSON.stringify(await hz.json())).toContain("ghost");
      const metrics = await (await fetch(`http://127.0.0.1:${healthPort}/metrics`)).text();
      expect(metrics).toMatch(/eva_camera_frames_decoded_total\{camera="street"\} [1-9][0-9]*/);
      expect(metrics).toMatch(/eva_inference_duration_seconds_count\{camera="street"\} [1-9][0-9]*/);
      expect(metrics).toMatch(/eva_events_total\{camera="street",label="person"\} [1-9]/);
      expect(metrics).toMatch(/eva_outbox_messages \d+/);
      expect(await promtoolCheckMetrics(metrics)).toEqual({ code: 0, output: "" });

      // commands, MQTT v5 request/response
      const alarm = JSON.parse(sub.on(`${base}/alarms`).find((m) => JSON.parse(m.payload).camera === "ghost")!.payload) as { id: string };
      const ack = await request(`${base}/cmd/ack_alarm`, { alarm_id: alarm.id });
      expect(ack).toMatchObject({ ok: true, result: { state: "acknowledged" } });
      await sub.until(
        has(`${base}/alarms`, (p) => JSON.parse(p).state === "acknowledged"),
        5_000,
        "acknowledged alarm",
      );
      expect(await request(`${base}/cmd/set_detection`, { camera: "street", enabled: false })).toMatchObject({ ok: true });
      await sub.until(
        has(`${base}/cameras/street/status`, (p) => JSON.parse(p).state === "disabled"),
        5_000,
        "street disabled",
      );
      expect(await request(`${base}/cmd/set_detection`, { camera: "street", enabled: true })).toMatchObject({ ok: true });
      const shot = await request(`${base}/cmd/snapshot`, { camera: "street" });
      expect(shot).toMatchObject({ ok: true, result: { published: true } });
      expect(readFileSync(shot.result.path as string).subarray(0, 2)).toEqual(Buffer.from([0xff, 0xd8]));
      const page = await request(`${base}/cmd/list_events`, { since: "2000-01-01T00:00:00Z", limit: 1 });
      expect(page.ok).toBe(true);
      expect(page.result.events[0]).toMatchObject({ camera: "street", label: "person" });
      // the file is unchanged: the reload applies and changes nothing
      expect(await request(`${base}/cmd/reload`, {})).toMatchObject({ ok: true, result: { result: "applied", changed: [] } });
      expect(await request(`${base}/cmd/snapshot`, { camera: "attic" })).toMatchObject({ ok: false, error: { code: "unknown_camera" } });

      // MQTT 3.1.1: no response topic, the reply comes on cmd/<name>/result with the request_id
      const v3 = await MessageCollector.subscribe(broker.url, `${base}/cmd/+/result`);
      const pub3 = connect(broker.url, { protocolVersion: 4 });
      await new Promise((r) => pub3.once("connect", r));
      pub3.publish(`${base}/cmd/get_status`, JSON.stringify({ request_id: "v3-1" }), { qos: 1 });
      const statusReply = await v3.until((m) => m.some((x) => x.payload.includes('"v3-1"')), 10_000, "v3 reply");
      expect(JSON.parse(statusReply.find((x) => x.payload.includes('"v3-1"'))!.payload)).toMatchObject({ ok: true, command: "get_status" });

      // 10 000 fuzzed commands through the broker: each answered with an error, the agent keeps working
      const before = v3.messages.length;
      const names = ["set_detection", "snapshot", "list_events", "ack_alarm", "zap", "ä", "x".repeat(300)];
      const started = performance.now();
      for (let i = 0; i < 10_000; i++) {
        const r = Math.random();
        const body =
          r < 0.4
            ? randomBytes(Math.floor(Math.random() * 64))
            : r < 0.8
              ? JSON.stringify({ camera: i, since: "no", alarm_id: [] })
              : Buffer.alloc(20_000, 0x20);
        pub3.publish(`${base}/cmd/${names[i % names.length]}`, body, { qos: 0 });
        if (i % 500 === 499) await sleep(5); // let the socket drain
      }
      await v3.until((m) => m.length - before >= 10_000, 60_000, "10 000 replies");
      const seconds = (performance.now() - started) / 1000;
      console.log(`fuzz over MQTT: 10000 commands answered in ${seconds.toFixed(1)} s (${Math.round(10_000 / seconds)}/s)`);
      const replies = v3.messages.slice(before).map((m) => JSON.parse(m.payload) as { ok: boolean });
      expect(replies.every((r) => r.ok === false)).toBe(true);
      expect(await request(`${base}/cmd/get_status`, {})).toMatchObject({ ok: true });
      await v3.close();
      await pub3.endAsync();

      kill("SIGTERM");
      const result = await running;
      expect(result.code, result.stderr.slice(-2000)).toBe(0);
      expect(await retained(broker.url, `${base}/status`)).toBe("stopped");
      expect(JSON.parse((await retained(broker.url, `${base}/cameras/street/status`))!)).toMatchObject({ state: "offline", reason: "agent stopped" });

      // every message the agent published matches the AsyncAPI document (requests on cmd/<name> are not the agent's)
      const published = raw.filter((m) => !/\/cmd\/[^/]*$/.test(m.topic));
      const problems = published.flatMap((m) => checkPublished(base, m.topic, m.payload));
      expect(problems.slice(0, 10)).toEqual([]);
      const kinds = new Set(published.map((m) => m.topic.slice(base.length + 1).split("/")[0]));
      expect([...kinds].sort()).toEqual(expect.arrayContaining(["alarms", "cameras", "cmd", "events", "snapshots", "stats", "status"]));
      expect(validateAgainst("CommandReply", ack)).toEqual([]);
      // stats carry real figures: frames flowing, the provider in use, the process's own numbers
      const stats = sub.on(`${base}/stats`).map(
        (m) =>
          JSON.parse(m.payload) as {
            cameras: Record<string, { fps_in: number; fps_processed: number; provider: string; inference_ms: { p50: number | null } }>;
            rss_bytes: number;
            db_bytes: number;
          },
      );
      const busy = stats.find((x) => (x.cameras.street?.fps_in ?? 0) > 0 && x.cameras.street!.inference_ms.p50 !== null);
      expect(busy, JSON.stringify(stats.at(-1))).toBeDefined();
      expect(busy!.cameras.street).toMatchObject({ provider: "cpu" });
      expect(busy!.rss_bytes).toBeGreaterThan(10_000_000);
      expect(busy!.db_bytes).toBeGreaterThan(0);
    } finally {
      kill("SIGKILL");
      await v5.endAsync(true);
      await sub.close();
    }
  });

  it("persistent session: a command sent while the agent is stopped is answered when it starts again", async () => {
    const clip = await emptyClip(3);
    const device = "dev-s";
    const { file } = writeTestConfig({ brokerUrl: broker.url, deviceId: device, cameras: { street: { source: clip } } });
    const first = await eva(["run", "--config", file, "--exit-on-eof"], { timeoutMs: 60_000 });
    expect(first.code, first.stderr.slice(-2000)).toBe(0);

    const results = await MessageCollector.subscribe(broker.url, `eva/${device}/cmd/+/result`);
    const pub = connect(broker.url, { protocolVersion: 4 });
    await new Promise((r) => pub.once("connect", r));
    await pub.publishAsync(`eva/${device}/cmd/get_status`, JSON.stringify({ request_id: "sent-while-away" }), { qos: 1 });
    await pub.endAsync();

    const second = await eva(["run", "--config", file, "--exit-on-eof"], { timeoutMs: 60_000 });
    expect(second.code, second.stderr.slice(-2000)).toBe(0);
    const got = await results.until((m) => m.some((x) => x.payload.includes("sent-while-away")), 5_000, "the queued command's reply");
    expect(JSON.parse(got.find((x) => x.payload.includes("sent-while-away"))!.payload)).toMatchObject({ ok: true, command: "get_status" });
    await results.close();
  });
});
