import { existsSync, readFileSync } from "node:fs";
import path from "node:path";
import sharp from "sharp";
import { describe, expect, it } from "vitest";
import type { EvaEvent } from "../../agent/core/event.js";
import { EventStore } from "../../agent/events/store.js";
import { eva, logLines, writeTestConfig } from "../support/agent.js";
import { fileBroker, TestBroker } from "../support/broker.js";
import { personPanClip } from "../support/clips.js";
import { MessageCollector, retained } from "../support/mqtt.js";

interface EventMessage {
  type: "new" | "update" | "end";
  event: EvaEvent;
}

const broker = await fileBroker();

describe("eva run on a real clip, real detector, real broker", () => {
  it("turns a person in the clip into one event, the same in SQLite and on MQTT, with a snapshot", async () => {
    const clip = await personPanClip(5, 3);
    const { file, dir } = writeTestConfig({ brokerUrl: broker.url, deviceId: "dev-a", cameras: { street: { source: clip } } });
    const sub = await MessageCollector.subscribe(broker.url, "eva/dev-a/#");
    const run = await eva(["run", "--config", file, "--exit-on-eof"], { timeoutMs: 60_000 });
    expect(run.code, run.stderr).toBe(0);

    const store = new EventStore(path.join(dir, "eva.db"));
    const stored = store.queryEvents({ camera: "street" });
    store.close();
    const people = stored.filter((e) => e.label === "person");
    expect(people).toHaveLength(1);
    const ev = people[0]!;
    expect(ev.end_time).not.toBeNull();
    expect(Date.parse(ev.end_time!)).toBeGreaterThan(Date.parse(ev.start_time));
    expect(ev.top_score).toBeGreaterThan(0.5);
    // the person stands in the left half of person.jpg; the pan keeps them there
    expect(ev.box[0]).toBeLessThan(320);
    expect(ev.box[3] - ev.box[1]).toBeGreaterThan(100);

    // snapshot: a real JPEG at the detect size
    expect(ev.snapshot && existsSync(ev.snapshot)).toBe(true);
    const meta = await sharp(readFileSync(ev.snapshot!)).metadata();
    expect([meta.format, meta.width, meta.height]).toEqual(["jpeg", 640, 360]);

    const msgs = (await sub.until((m) => m.some((x) => x.topic === "eva/dev-a/events" && x.payload.includes('"end"')), 10_000, "end message"))
      .filter((m) => m.topic === "eva/dev-a/events")
      .map((m) => JSON.parse(m.payload) as EventMessage);
    const forEvent = msgs.filter((m) => m.event.id === ev.id);
    expect(forEvent[0]!.type).toBe("new");
    expect(forEvent.at(-1)!.type).toBe("end");
    expect(forEvent.at(-1)!.event).toEqual(ev);
    await sub.close();

    // a clean stop leaves the retained status saying the device is not online
    expect(await retained(broker.url, "eva/dev-a/status")).not.toBe("online");
    // logs: the provider choice and camera state changes, never a line per frame
    const lines = logLines(run.stderr);
    expect(lines.some((l) => l.msg.includes("camera online"))).toBe(true);
    expect(lines.length).toBeLessThan(40);
  });

  it("broker absent at start: events wait in the outbox and are delivered once it appears", async () => {
    const late = await TestBroker.create();
    try {
      // The subscriber's session must exist before the agent publishes: subscribe, then take the broker down.
      await late.start();
      const sub = await MessageCollector.subscribe(late.url, "eva/dev-b/events");
      await late.stop();

      const clip = await personPanClip(5, 3);
      const { file, dir } = writeTestConfig({ brokerUrl: late.url, deviceId: "dev-b", cameras: { street: { source: clip, extra: "    loop: true\n" } } });
      let kill: (s: NodeJS.Signals) => void = () => {};
      const running = eva(["run", "--config", file], { timeoutMs: 90_000, onSpawn: (k) => (kill = k) });

      // Wait until the agent has stored an event while no broker exists.
      const dbFile = path.join(dir, "eva.db");
      const deadline = Date.now() + 40_000;
      let stored: EvaEvent[] = [];
      while (Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 500));
        if (!existsSync(dbFile)) continue;
        const s = new EventStore(dbFile);
        stored = s.queryEvents({});
        s.close();
        if (stored.length) break;
      }
      expect(stored.length).toBeGreaterThan(0);

      await late.start();
      const got = await sub.until((m) => m.some((x) => (JSON.parse(x.payload) as EventMessage).event.id === stored[0]!.id), 20_000, "the stored event");
      expect((JSON.parse(got[0]!.payload) as EventMessage).type).toBe("new");
      kill("SIGTERM");
      const result = await running;
      expect(result.code, result.stderr).toBe(0);
      await sub.close();
    } finally {
      await late.dispose();
    }
  });
});
