import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect, type MqttClient } from "mqtt";
import { pino } from "pino";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { EvaEvent } from "../../agent/core/event.js";
import { EventStore, newEventId } from "../../agent/events/store.js";
import type { Outbox } from "../../agent/publish/outbox.js";
import { OutboxPublisher, type MqttSettings } from "../../agent/publish/outbox-publisher.js";
import { TestBroker, sleep } from "../support/broker.js";
import { MessageCollector, retained } from "../support/mqtt.js";

const DEVICE = "dev1";
const EVENTS = `eva/${DEVICE}/events`;
const STATUS = `eva/${DEVICE}/status`;

let dir: string;
let store: EventStore;
let broker: TestBroker | undefined;
let collector: MessageCollector | undefined;
let publisher: OutboxPublisher | undefined;
let logLines: string[];

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "eva-pub-"));
  store = new EventStore(join(dir, "eva.db"));
  logLines = [];
});

afterEach(async () => {
  await publisher?.stop({ flushTimeoutMs: 0 });
  await collector?.close();
  await broker?.dispose();
  store.close();
  rmSync(dir, { recursive: true, force: true });
  publisher = collector = broker = undefined;
});

function startPublisher(url: string, mqtt: Partial<MqttSettings> = {}): OutboxPublisher {
  const outbox: Outbox = store; // EventStore satisfies the publisher's structural interface
  const log = pino({ level: "debug" }, { write: (line: string) => void logLines.push(line) });
  const p = new OutboxPublisher({
    outbox,
    deviceId: DEVICE,
    log,
    pollMs: 200,
    mqtt: { url, topic_prefix: "eva", keepalive: 5, reconnect_seconds: 0.1, ...mqtt },
  });
  p.start();
  publisher = p;
  return p;
}

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
    ids.push(ev.id);
  }
  publisher?.notify();
  return ids;
}

/** Event ids in order of first arrival: a resend after a reconnect may repeat an id, nothing else is allowed. */
function distinctIds(c: MessageCollector): string[] {
  const seen = new Set<string>();
  const out: string[] = [];
  for (const m of c.on(EVENTS)) {
    const id = (JSON.parse(m.payload) as { event: EvaEvent }).event.id;
    if (!seen.has(id)) {
      seen.add(id);
      out.push(id);
    }
  }
  return out;
}

const untilIds = (c: MessageCollector, n: number, ms = 10_000) => c.until(() => distinctIds(c).length >= n, ms, `${n} distinct events`);

async function until(pred: () => boolean, ms = 5000, what = "condition"): Promise<void> {
  const deadline = Date.now() + ms;
  while (!pred()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

describe("OutboxPublisher", () => {
  it("delivers queued events in order, deletes them once acknowledged, and never logs the password", async () => {
    broker = await TestBroker.start();
    const c = (collector = await MessageCollector.subscribe(broker.url, "eva/#"));
    const ids = record(200);
    const p = startPublisher(broker.url, { username: "eva", password: "s3cret-pw" });
    await untilIds(c, 200);
    expect(distinctIds(c)).toEqual(ids);
    const first = JSON.parse(c.on(EVENTS)[0].payload) as { type: string; event: EvaEvent };
    expect(first.type).toBe("new");
    expect(first.event.id).toBe(ids[0]);
    await until(() => p.depth === 0, 2000, "outbox empty");
    expect(p.connected).toBe(true);
    expect(await retained(broker.url, STATUS)).toBe("online");

    await p.stop({ flushTimeoutMs: 1000 });
    expect(p.connected).toBe(false);
    expect(await retained(broker.url, STATUS)).toBe("stopped"); // a clean shutdown, not a lost connection
    expect(logLines.join("")).not.toContain("s3cret-pw");
    expect(logLines.some((l) => l.includes("MQTT broker connected"))).toBe(true);
  });

  it("keeps events while the broker is absent at start and delivers them once it appears", async () => {
    broker = await TestBroker.start();
    // subscribe first (persistent session), then take the broker away before the agent starts
    const c = (collector = await MessageCollector.subscribe(broker.url, EVENTS));
    await broker.stop();

    const p = startPublisher(broker.url);
    const ids = record(50);
    await sleep(300);
    expect(p.connected).toBe(false);
    expect(p.depth).toBe(50);

    await broker.start();
    ids.push(...record(50));
    await untilIds(c, 100);
    expect(distinctIds(c)).toEqual(ids);
    await until(() => p.depth === 0, 2000, "outbox empty");
  });

  it("loses and reorders nothing when the broker restarts while events are being recorded", async () => {
    broker = await TestBroker.start();
    const c = (collector = await MessageCollector.subscribe(broker.url, EVENTS));
    const p = startPublisher(broker.url);
    await until(() => p.connected, 2000, "connected");

    const ids: string[] = [];
    const producing = (async () => {
      for (let burst = 0; burst < 30; burst++) {
        ids.push(...record(10));
        await sleep(5);
      }
    })();
    await until(() => ids.length >= 80, 2000, "events recorded");
    await broker.restart();
    await producing;

    await untilIds(c, ids.length);
    expect(distinctIds(c)).toEqual(ids);
    await until(() => p.depth === 0, 3000, "outbox empty");
    expect(logLines.some((l) => l.includes("MQTT broker connection lost"))).toBe(true);
    expect(logLines.some((l) => l.includes("MQTT broker reconnected"))).toBe(true);
  });

  it("leaves retained status 'online' while connected and 'offline' (the will) when the agent dies", async () => {
    broker = await TestBroker.start();
    const c = (collector = await MessageCollector.subscribe(broker.url, STATUS));
    // a long reconnect delay: after the crash nothing reconnects and overwrites the will during the test
    const p = startPublisher(broker.url, { reconnect_seconds: 60 });
    await c.until((m) => m.some((x) => x.payload === "online"), 2000, "online");
    expect(await retained(broker.url, STATUS)).toBe("online");

    // Die without DISCONNECT, as a crash or power cut would: the broker publishes the will.
    (p as unknown as { client: MqttClient }).client.stream.destroy();
    await c.until((m) => m.some((x) => x.payload === "offline"), 3000, "will");
    expect(await retained(broker.url, STATUS)).toBe("offline");
    expect(p.connected).toBe(false);
  });

  it("keeps messages the broker refuses, logs once, and delivers them in order once the ACL allows", async () => {
    broker = await TestBroker.create();
    // status may be written, events may not: every PUBACK on events says "Not authorized" (0x87)
    broker.setAcl(`topic readwrite ${STATUS}\ntopic read #`);
    await broker.start();
    const c = (collector = await MessageCollector.subscribe(broker.url, EVENTS));
    const p = startPublisher(broker.url);
    const ids = record(3);
    await until(() => logLines.some((l) => l.includes("refused a message again")), 2000, "a retry refused");
    expect(p.depth).toBe(3);
    expect(p.connected).toBe(true);
    expect(c.messages).toEqual([]);
    // one error line per refused row, not per retry
    expect(logLines.filter((l) => l.includes('"level":50')).length).toBe(1);

    broker.setAcl(null);
    await broker.reload();
    await untilIds(c, 3);
    expect(distinctIds(c)).toEqual(ids);
    await until(() => p.depth === 0, 2000, "outbox empty");
  });

  it("starts without throwing when the broker cannot be reached; an unusable URL is a PublishError", async () => {
    const p = startPublisher("mqtt://127.0.0.1:1", { reconnect_seconds: 60 }); // nothing listens on port 1
    record(2);
    await until(() => logLines.some((l) => l.includes("MQTT broker unreachable")), 2000, "unreachable logged");
    expect(p.connected).toBe(false);
    expect(p.depth).toBe(2);
    await p.stop({ flushTimeoutMs: 100 });
    expect(store.outboxDepth()).toBe(2);

    for (const url of ["foo://127.0.0.1", "127.0.0.1:1883"]) {
      expect(() => startPublisher(url)).toThrowError(expect.objectContaining({ code: "EVA_PUBLISH" }));
    }
  });

  it("damps a flapping connection: one warning, a growing reconnect delay", async () => {
    broker = await TestBroker.start();
    const p = startPublisher(broker.url);
    await until(() => p.connected, 2000, "connected");
    // A rival with the agent's client id: every connect of one takes the session over and drops the other.
    const rival = connect(broker.url, { protocolVersion: 5, clientId: `eva-${DEVICE}`, reconnectPeriod: 20 });
    rival.on("error", () => {});
    await sleep(1500);
    await rival.endAsync(true);
    expect(logLines.filter((l) => l.includes("MQTT broker connection lost"))).toHaveLength(1);
    // a fixed 100 ms period would reconnect ~14 times in 1.5 s; doubling from 200 ms, about 3
    expect(logLines.filter((l) => l.includes("MQTT connection closed")).length).toBeLessThan(6);
  });

  // EVA_BENCH=1 only: 5000 messages take most of a minute on a busy machine; the rate it prints is for reading.
  it.runIf(process.env.EVA_BENCH)(
    "drains a 5000-message backlog completely and in order (and prints the rate)",
    async () => {
      broker = await TestBroker.start();
      const c = (collector = await MessageCollector.subscribe(broker.url, EVENTS));
      const n = 5000;
      const ids = record(n);
      const t0 = performance.now();
      const p = startPublisher(broker.url);
      await until(() => p.depth === 0, 60_000, "drained");
      const ms = performance.now() - t0;
      await untilIds(c, n, 30_000);
      expect(p.depth).toBe(0);
      expect(distinctIds(c)).toEqual(ids);
      console.log(`drained ${n} messages in ${ms.toFixed(0)} ms: ${Math.round((n / ms) * 1000)} msg/s`);
    },
    90_000,
  );
});
