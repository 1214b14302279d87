import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pino } from "pino";
import { expect, it } from "vitest";
import type { EvaEvent } from "../../agent/core/event.js";
import { EventStore, newEventId } from "../../agent/events/store.js";
import { deepStreamEncoder } from "../../agent/publish/deepstream.js";
import { OutboxPublisher } from "../../agent/publish/outbox-publisher.js";
import { validateAgainst } from "../support/api-schemas.js";
import { TestBroker } from "../support/broker.js";
import { MessageCollector } from "../support/mqtt.js";

it("payload_format: deepstream: events reach the broker in nvmsgconv's schema with device.name as the place, other topics unchanged", async () => {
  const broker = await TestBroker.start();
  const dir = mkdtempSync(join(tmpdir(), "eva-ds-"));
  const store = new EventStore(join(dir, "eva.db"));
  const sub = await MessageCollector.subscribe(broker.url, "eva/ds1/#");
  const publisher = new OutboxPublisher({
    outbox: store,
    deviceId: "ds1",
    log: pino({ level: "silent" }),
    encode: deepStreamEncoder({ deviceName: "North gate, pole 17" }),
    mqtt: { url: broker.url, topic_prefix: "eva", keepalive: 5, reconnect_seconds: 0.2 },
  });
  try {
    const ev: EvaEvent = {
      id: newEventId(),
      device: "ds1",
      camera: "gate",
      label: "car",
      start_time: new Date().toISOString(),
      end_time: null,
      top_score: 0.8,
      box: [1.4, 2, 30, 40.6],
      snapshot: null,
    };
    store.recordEvent("new", ev);
    store.enqueue("alarms", JSON.stringify({ type: "camera_offline", state: "raised", camera: "gate", time: new Date().toISOString() }), {
      qos: 1,
      retain: false,
    });
    publisher.start();
    const msgs = await sub.until((m) => m.some((x) => x.topic.endsWith("/alarms")) && m.some((x) => x.topic.endsWith("/events")), 10_000, "both messages");
    const ds = JSON.parse(msgs.find((m) => m.topic === "eva/ds1/events")!.payload) as Record<string, any>;
    expect(validateAgainst("DeepStreamEvent", ds)).toEqual([]);
    expect(ds).toMatchObject({
      place: { id: "ds1", name: "North gate, pole 17" },
      sensor: { id: "gate", description: "gate at North gate, pole 17" },
      object: { bbox: { topleftx: 1, toplefty: 2, bottomrightx: 30, bottomrighty: 41 }, car: { confidence: 0.8 } },
      event: { id: ev.id, type: "entry" },
    });
    expect(validateAgainst("Alarm", JSON.parse(msgs.find((m) => m.topic === "eva/ds1/alarms")!.payload))).toEqual([]);
  } finally {
    await publisher.stop({ flushTimeoutMs: 0 });
    await sub.close();
    store.close();
    await broker.dispose();
    rmSync(dir, { recursive: true, force: true });
  }
});
