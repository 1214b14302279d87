import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer as createHttpsServer } from "node:https";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pino } from "pino";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { parseConfig } from "../../agent/config/load.js";
import type { EvaEvent } from "../../agent/core/event.js";
import { moveOutbox, OutboxCursors } from "../../agent/events/outbox-cursors.js";
import { EventStore, newEventId } from "../../agent/events/store.js";
import type { MqttSink } from "../../agent/publish/sinks/mqtt.js";
import { createSinks } from "../../agent/publish/sinks/registry.js";
import { SinkOutbox, type Sink } from "../../agent/publish/sinks/sink.js";
import { verdictOf, WebhookSink } from "../../agent/publish/sinks/webhook.js";
import { freePort } from "../support/ports.js";
import { TestBroker, sleep } from "../support/broker.js";
import { MessageCollector } from "../support/mqtt.js";
import { WebhookReceiver } from "../support/webhook-receiver.js";

const DEVICE = "dev-s";
const EVENTS = `eva/${DEVICE}/events`;

let broker: TestBroker;
let receiver: WebhookReceiver;
let dir: string;
let store: EventStore;
let sinks: Sink[] = [];
let collector: MessageCollector | undefined;
let logLines: string[];

beforeAll(async () => {
  broker = await TestBroker.start();
});
afterAll(async () => {
  await broker.dispose();
});
beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), "eva-sinks-"));
  store = new EventStore(join(dir, "eva.db"));
  receiver = await WebhookReceiver.start();
  logLines = [];
  if (!broker.running) await broker.start();
});
afterEach(async () => {
  await Promise.all(sinks.map((s) => s.stop(0)));
  sinks = [];
  await collector?.close();
  collector = undefined;
  await receiver.stop();
  store.close();
  rmSync(dir, { recursive: true, force: true });
});

function config(webhook: string | null) {
  const text = `device: {id: ${DEVICE}}
mqtt: {url: "${broker.url}", topic_prefix: eva, keepalive: 5, reconnect_seconds: 0.1}
models: {}
cameras: {}
${webhook === null ? "" : `sinks:\n  webhook: {url: "${receiver.url}", headers: {Authorization: "Bearer \${HOOK_TOKEN}"}, retry_seconds: 0.05, retry_max_seconds: 0.2${webhook}}\n`}`;
  return parseConfig(text, join(dir, "eva.yaml"), { HOOK_TOKEN: "t0ken" });
}

function start(webhook: string | null = ""): Sink[] {
  const log = pino({ level: "debug" }, { write: (line: string) => void logLines.push(line) });
  sinks = createSinks(config(webhook), { rows: store, cursors: new OutboxCursors(store) }, log);
  for (const s of sinks) s.start();
  return sinks;
}

const sink = (name: string) => sinks.find((s) => s.name === name)!;
const notify = () => sinks.forEach((s) => s.notify());

/** Records n events (as `new`) and a retained camera status after each; returns the events' ids. */
function record(n: number): string[] {
  const ids: string[] = [];
  for (let i = 0; i < n; i++) {
    const ev: EvaEvent = {
      id: newEventId(),
      device: DEVICE,
      camera: "gate",
      label: "person",
      start_time: new Date().toISOString(),
      end_time: null,
      top_score: 0.9,
      box: [i, i, i + 10, i + 10],
      snapshot: null,
    };
    store.recordEvent("new", ev);
    store.enqueue("cameras/gate/status", JSON.stringify({ camera: "gate", state: "online", n: i }), { qos: 1, retain: true });
    ids.push(ev.id);
  }
  notify();
  return ids;
}

/** Event ids of the webhook's accepted posts in order of first arrival. */
function webhookIds(): string[] {
  const ids: string[] = [];
  for (const b of receiver.accepted) {
    const id = (b.record as { event: EvaEvent }).event.id;
    if (!ids.includes(id)) ids.push(id);
  }
  return ids;
}

function mqttIds(c: MessageCollector): string[] {
  const ids: string[] = [];
  for (const m of c.on(EVENTS)) {
    const id = (JSON.parse(m.payload) as { event: EvaEvent }).event.id;
    if (!ids.includes(id)) ids.push(id);
  }
  return ids;
}

async function until(pred: () => boolean, ms: number, what: string): Promise<void> {
  const deadline = Date.now() + ms;
  while (!pred()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

describe("sinks on the outbox, each with its own cursor (real SQLite, mosquitto and HTTP receiver)", () => {
  it("MQTT and the webhook both get every record in order; the webhook skips retained state; a row goes once both have it", async () => {
    collector = await MessageCollector.subscribe(broker.url, `eva/${DEVICE}/#`);
    start();
    const ids = record(40);
    await receiver.until(() => webhookIds().length === 40, 10_000, "40 events on the webhook");
    await collector.until(() => mqttIds(collector!).length === 40, 10_000, "40 events on MQTT");
    expect(webhookIds()).toEqual(ids);
    expect(mqttIds(collector)).toEqual(ids);
    // only records: the retained camera status went to MQTT alone
    expect(receiver.posts.every((p) => p.body.topic === "events")).toBe(true);
    expect(collector.on(`eva/${DEVICE}/cameras/gate/status`).length).toBeGreaterThan(0);
    const first = receiver.posts[0]!;
    expect(first.body).toMatchObject({ device: DEVICE, topic: "events", record: { type: "new", event: { id: ids[0] } } });
    expect(first.headers.authorization).toBe("Bearer t0ken");
    expect(first.headers["content-type"]).toBe("application/json");
    expect(first.headers["idempotency-key"]).toBe(`${DEVICE}:${first.body.seq}`);
    const seqs = receiver.posts.map((p) => p.body.seq);
    expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
    await until(() => store.outboxDepth() === 0, 5000, "outbox empty once both sinks have every row");
    expect(sink("webhook").figures()).toMatchObject({ lag: 0, up: true, delivered: 40, errors: 0, dead_lettered: 0 });
    expect(sink("mqtt").figures()).toMatchObject({ lag: 0, up: true });
  });

  it("a receiver outage holds back the webhook only: MQTT delivers, rows wait, the lag shows, nothing is lost", async () => {
    collector = await MessageCollector.subscribe(broker.url, EVENTS);
    start();
    const ids = record(5);
    await receiver.until(() => webhookIds().length === 5, 10_000, "first events");
    await until(() => sink("webhook").figures().lag === 0, 5000, "the webhook past the first rows");
    await receiver.stop();
    ids.push(...record(30));
    await collector.until(() => mqttIds(collector!).length === 35, 10_000, "MQTT unaffected by the webhook outage");
    await until(() => sink("webhook").figures().errors > 0, 5000, "a failed request");
    await until(() => sink("mqtt").figures().lag === 0, 5000, "MQTT has every row");
    // 30 events and 30 statuses wait for the webhook (it skips the statuses only once it gets past them)
    expect(sink("webhook").figures()).toMatchObject({ lag: 60, up: false });
    expect(store.outboxDepth()).toBe(60);
    expect(logLines.filter((l) => l.includes("webhook receiver unreachable")).length).toBe(1);

    await receiver.start();
    ids.push(...record(5));
    await receiver.until(() => webhookIds().length === 40, 10_000, "every event after the outage");
    expect(webhookIds()).toEqual(ids);
    expect(mqttIds(collector)).toEqual(ids);
    await until(() => store.outboxDepth() === 0, 5000, "outbox empty");
    expect(logLines.some((l) => l.includes("webhook receiver answering again"))).toBe(true);
  });

  it("a broker outage holds back MQTT only: the webhook delivers, rows wait for MQTT, which then gets them in order", async () => {
    collector = await MessageCollector.subscribe(broker.url, EVENTS);
    start();
    const ids = record(5);
    await collector.until(() => mqttIds(collector!).length === 5, 10_000, "first events on MQTT");
    await until(() => sink("mqtt").figures().lag === 0, 5000, "MQTT past the first rows");
    await broker.stop();
    ids.push(...record(30));
    await receiver.until(() => webhookIds().length === 35, 10_000, "the webhook unaffected by the broker outage");
    await until(() => sink("webhook").figures().lag === 0, 5000, "the webhook past every row");
    expect(sink("mqtt").figures()).toMatchObject({ lag: 60, up: false });
    expect(store.outboxDepth()).toBe(60);
    await broker.start();
    await collector.until(() => mqttIds(collector!).length === 35, 15_000, "MQTT catches up");
    expect(mqttIds(collector)).toEqual(ids);
    expect(webhookIds()).toEqual(ids);
    await until(() => store.outboxDepth() === 0, 5000, "outbox empty");
  });

  it("a body the receiver refuses (400) is dead-lettered and passed; a refused request (401) holds everything until it is fixed", async () => {
    start("");
    let refuse = -1;
    receiver.answer = (b) => (b.seq === refuse ? 400 : 200);
    const ids = record(3);
    await receiver.until(() => webhookIds().length === 3, 10_000, "three events");
    // the next event's row is refused for its body
    refuse = store.inTransaction("t", (db) => db.prepare("SELECT seq FROM sqlite_sequence WHERE name = 'outbox'").pluck().get() as number) + 1;
    const more = record(3);
    await receiver.until(() => webhookIds().length === 5, 10_000, "the two events after the refused one");
    expect(webhookIds()).toEqual([...ids, ...more.slice(1)]);
    const dead = store.inTransaction("t", (db) => db.prepare("SELECT sink, seq, topic, reason FROM outbox_dead_letters").all());
    expect(dead).toEqual([{ sink: "webhook", seq: refuse, topic: "events", reason: `HTTP 400: refused seq ${refuse}` }]);
    expect(sink("webhook").figures().dead_lettered).toBe(1);

    // wrong credentials: every request fails the same way, so nothing is passed over
    receiver.answer = () => 401;
    const held = record(2);
    await receiver.until((p) => p.filter((x) => x.status === 401).length >= 3, 10_000, "retries of the held record");
    expect(sink("webhook").figures()).toMatchObject({ up: false, dead_lettered: 1 });
    expect(sink("webhook").figures().lag).toBeGreaterThanOrEqual(3);
    expect(logLines.filter((l) => l.includes("refuses every request")).length).toBe(1);
    receiver.answer = () => 200;
    await receiver.until(() => webhookIds().length === 7, 10_000, "the held events once fixed");
    expect(webhookIds().slice(5)).toEqual(held);
  });

  it("answers: 2xx delivered; 408, 429, 5xx retried; credentials, routes and redirects held; other 4xx dead-lettered", () => {
    expect([200, 201, 204].map(verdictOf)).toEqual(["delivered", "delivered", "delivered"]);
    expect([408, 429, 500, 502, 503].map(verdictOf)).toEqual(["retry", "retry", "retry", "retry", "retry"]);
    expect([301, 308, 401, 403, 404, 405, 407, 410].map(verdictOf).every((v) => v === "hold")).toBe(true);
    expect([400, 409, 413, 415, 422].map(verdictOf).every((v) => v === "dead_letter")).toBe(true);
  });

  it("https: a receiver whose certificate chains to tls.ca gets the records; without the CA nothing is passed over", async () => {
    const openssl = (...args: string[]) => execFileSync("openssl", args, { cwd: dir, stdio: "pipe" });
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=eva hook CA", "-keyout", "ca.key", "-out", "ca.crt");
    writeFileSync(join(dir, "san.ext"), "subjectAltName=IP:127.0.0.1\n");
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=127.0.0.1", "-keyout", "server.key", "-out", "server.csr");
    openssl(
      "x509",
      "-req",
      "-in",
      "server.csr",
      "-CA",
      "ca.crt",
      "-CAkey",
      "ca.key",
      "-CAcreateserial",
      "-days",
      "2",
      "-extfile",
      "san.ext",
      "-out",
      "server.crt",
    );
    const bodies: Array<{ seq: number }> = [];
    const server = createHttpsServer({ key: readFileSync(join(dir, "server.key")), cert: readFileSync(join(dir, "server.crt")) }, (req, res) => {
      let text = "";
      req.on("data", (d: Buffer) => (text += d.toString()));
      req.on("end", () => {
        bodies.push(JSON.parse(text) as { seq: number });
        res.end("ok");
      });
    });
    const port = await freePort();
    await new Promise<void>((resolve) => server.listen(port, "127.0.0.1", resolve));
    const log = pino({ level: "debug" }, { write: (line: string) => void logLines.push(line) });
    const cursors = new OutboxCursors(store);
    const make = (ca?: string) =>
      new WebhookSink({
        config: {
          url: `https://127.0.0.1:${port}/hook`,
          headers: {},
          topics: ["events"],
          timeout_seconds: 5,
          retry_seconds: 0.05,
          retry_max_seconds: 0.2,
          ...(ca ? { tls: { ca, reject_unauthorized: true } } : {}),
        },
        deviceId: DEVICE,
        outbox: new SinkOutbox("webhook", store, cursors, cursors.activate(["webhook"]).webhook!),
        log,
      });
    try {
      const untrusted = make();
      sinks = [untrusted];
      untrusted.start();
      record(2);
      await until(() => untrusted.figures().errors >= 2, 5000, "refused certificates");
      expect(bodies).toEqual([]);
      expect(untrusted.figures().lag).toBe(4);
      expect(logLines.some((l) => l.includes("webhook receiver unreachable") && /certificate/i.test(l))).toBe(true);
      await untrusted.stop(0);

      const trusted = make(join(dir, "ca.crt"));
      sinks = [trusted];
      trusted.start();
      await until(() => bodies.length === 2, 5000, "both records over https");
      await until(() => trusted.figures().lag === 0, 5000, "past the statuses too");
      expect(trusted.figures()).toMatchObject({ up: true, delivered: 2 });
    } finally {
      server.closeAllConnections();
      server.close();
    }
  });

  it("MQTT through its cursor: a broker restart while recording loses and reorders nothing", async () => {
    collector = await MessageCollector.subscribe(broker.url, EVENTS);
    start(null);
    expect(sinks.map((s) => s.name)).toEqual(["mqtt"]);
    const p = (sink("mqtt") as MqttSink).publisher;
    await until(() => p.connected, 3000, "connected");
    const ids: string[] = [];
    const producing = (async () => {
      for (let burst = 0; burst < 30; burst++) {
        ids.push(...record(10));
        await sleep(5);
      }
    })();
    await until(() => ids.length >= 80, 3000, "events recorded");
    await broker.restart();
    await producing;
    await collector.until(() => mqttIds(collector!).length === ids.length, 15_000, "every event");
    expect(mqttIds(collector)).toEqual(ids);
    await until(() => store.outboxDepth() === 0, 5000, "outbox empty");
  });
});

describe("outbox cursors (real SQLite)", () => {
  const rows = (n: number) => Array.from({ length: n }, (_, i) => store.enqueue("events", `{"n":${i}}`, { qos: 1, retain: false }));

  it("acknowledgements out of order move the cursor only over rows with none unacknowledged before them", () => {
    const cursors = new OutboxCursors(store);
    const seqs = rows(5);
    const view = new SinkOutbox("mqtt", store, cursors, cursors.activate(["mqtt"]).mqtt!);
    expect(view.cursor).toBe(0);
    view.deleteOutbox(seqs[2]!);
    view.deleteOutbox(seqs[1]!);
    expect(view.cursor).toBe(0);
    expect(store.outboxDepth()).toBe(5);
    // not sent again: what was acknowledged is left out of what the publisher reads next
    expect(view.peekOutbox(0, 10).map((r) => r.seq)).toEqual([seqs[0], seqs[3], seqs[4]]);
    view.deleteOutbox(seqs[0]!);
    expect(view.cursor).toBe(seqs[2]);
    expect(cursors.get("mqtt")).toBe(seqs[2]);
    expect(store.outboxDepth()).toBe(2);
    // a row the outbox bound removed is not waited for
    store.deleteOutboxRows([seqs[3]!]);
    view.deleteOutbox(seqs[4]!);
    expect(view.cursor).toBe(seqs[4]);
    expect(store.outboxDepth()).toBe(0);
  });

  it("a new sink starts at the end of the outbox; a removed one stops holding rows back; cursors survive a reopen", () => {
    const cursors = new OutboxCursors(store);
    const first = rows(3);
    // MQTT's cursor comes with the database (0: what is there goes out); the webhook is new: it starts after row 3
    expect(cursors.activate(["mqtt", "webhook"])).toEqual({ mqtt: 0, webhook: first[2] });
    const later = rows(2);
    cursors.advance("mqtt", later[1]!);
    expect(store.outboxDepth()).toBe(2); // the webhook has not had rows 4 and 5
    store.close();
    store = new EventStore(join(dir, "eva.db"));
    const again = new OutboxCursors(store);
    expect(again.activate(["mqtt", "webhook"])).toEqual({ mqtt: later[1], webhook: first[2] });
    expect(store.outboxDepth()).toBe(2);
    expect(again.activate(["mqtt"])).toEqual({ mqtt: later[1] });
    expect(store.outboxDepth()).toBe(0);
  });

  it("a storage move carries each sink's place: nothing skipped, nothing sent again to a sink that had it", () => {
    const cursors = new OutboxCursors(store);
    cursors.activate(["mqtt", "webhook"]);
    const seqs = rows(10);
    cursors.advance("mqtt", seqs[5]!);
    cursors.advance("webhook", seqs[2]!);
    const to = new EventStore(join(dir, "moved.db"));
    try {
      expect(moveOutbox(store, to)).toBe(7);
      expect(store.outboxDepth()).toBe(0);
      const moved = to.peekOutbox(0, 100);
      expect(moved.map((r) => r.payload)).toEqual(seqs.slice(3).map((_, i) => `{"n":${i + 3}}`));
      const target = new OutboxCursors(to);
      // MQTT had up to n=5: its cursor sits on that row in the new file; the webhook had none of the moved rows
      expect(target.get("mqtt")).toBe(moved[2]!.seq);
      expect(target.get("webhook")).toBe(0);
    } finally {
      to.close();
    }
  });
});
