import path from "node:path";
import { describe, expect, it } from "vitest";
import type { EvaEvent } from "../../agent/core/event.js";
import { EventStore } from "../../agent/events/store.js";
import { eva, writeTestConfig } from "../support/agent.js";
import { checkPublished } from "../support/api-schemas.js";
import { fileBroker, sleep } from "../support/broker.js";
import { personPanClip } from "../support/clips.js";
import { MessageCollector, retained } from "../support/mqtt.js";

interface EventMessage {
  type: "new" | "update" | "end";
  event: EvaEvent;
}

const broker = await fileBroker();

function stored(dir: string): { events: EvaEvent[]; depth: number } {
  const s = new EventStore(path.join(dir, "eva.db"));
  try {
    return { events: s.queryEvents({}), depth: s.outboxDepth() };
  } finally {
    s.close();
  }
}

async function waitStored(dir: string, pred: (evs: EvaEvent[]) => boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    await sleep(300);
    try {
      if (pred(stored(dir).events)) return;
    } catch {
      // not created yet
    }
  }
  throw new Error("timed out waiting for stored events");
}

function eventMessages(c: MessageCollector, topic: string): EventMessage[] {
  return c.on(topic).map((m) => JSON.parse(m.payload) as EventMessage);
}

/** Per event, messages must arrive new → … → end with no state going back; events' `new`s in creation order. */
function expectOrdered(msgs: EventMessage[]): void {
  const rank = { new: 0, update: 1, end: 2 };
  const lastRank = new Map<string, number>();
  const firstSeen: string[] = [];
  for (const m of msgs) {
    const prev = lastRank.get(m.event.id);
    if (prev === undefined) {
      expect(m.type, `first message of ${m.event.id}`).toBe("new");
      firstSeen.push(m.event.id);
    } else if (rank[m.type] < prev) {
      // only a resend after a reconnect may go back, and it then repeats the same id's earlier message
      expect(msgs.some((x) => x.event.id === m.event.id && x.type === m.type)).toBe(true);
    }
    lastRank.set(m.event.id, Math.max(prev ?? 0, rank[m.type]));
  }
  expect(firstSeen).toEqual([...firstSeen].sort()); // ULIDs sort by creation
}

describe("delivery faults, end to end (real agent, detector and mosquitto)", () => {
  it("broker down for 8 s during a busy clip: every event delivered after reconnect, in order", async () => {
    // The issue says 30 s; 8 s exercises the same path (several reconnect attempts, events stored meanwhile)
    // at a quarter of the test time.
    const clip = await personPanClip(5, 3);
    const device = "dev-f1";
    const topic = `eva/${device}/events`;
    const { file, dir } = writeTestConfig({
      brokerUrl: broker.url,
      deviceId: device,
      cameras: { street: { source: clip, fps: 8, extra: "    loop: true\n" } },
    });
    const sub = await MessageCollector.subscribe(broker.url, topic);
    let kill: (s: NodeJS.Signals) => void = () => {};
    const running = eva(["run", "--config", file], { timeoutMs: 120_000, onSpawn: (k) => (kill = k) });
    try {
      await sub.until((m) => m.length > 0, 40_000, "first event message");
      await broker.stop();
      const downAt = stored(dir).events.length;
      await sleep(8000);
      const during = stored(dir);
      expect(during.depth, "messages waited in the outbox").toBeGreaterThan(0);
      await broker.start();
      await waitStored(dir, (evs) => evs.length > downAt && evs.every((e) => e.end_time !== null), 40_000);
      kill("SIGTERM");
      const result = await running;
      expect(result.code, result.stderr.slice(-2000)).toBe(0);

      const after = stored(dir);
      expect(after.depth).toBe(0);
      const msgs = await sub.until(
        (m) =>
          after.events.every((e) =>
            m.some((x) => x.topic === topic && (JSON.parse(x.payload) as EventMessage).event.id === e.id && JSON.parse(x.payload).type === "end"),
          ),
        20_000,
        "every stored event's end",
      );
      expect(msgs.length).toBeGreaterThan(0);
      const all = eventMessages(sub, topic);
      expectOrdered(all);
      for (const e of after.events) expect(all.filter((m) => m.event.id === e.id).at(-1)!.event).toEqual(e);
    } finally {
      kill("SIGKILL");
      await sub.close();
      if (!broker.running) await broker.start();
    }
  });

  it("agent kill -9 while publishing, then restarted: the will says offline, nothing committed is lost, duplicates keep their id", async () => {
    const clip = await personPanClip(5, 3);
    const device = "dev-f2";
    const topic = `eva/${device}/events`;
    const { file, dir } = writeTestConfig({
      brokerUrl: broker.url,
      deviceId: device,
      cameras: { street: { source: clip, fps: 8, extra: "    loop: true\n" } },
    });
    const sub = await MessageCollector.subscribe(broker.url, `eva/${device}/#`);
    let kill: (s: NodeJS.Signals) => void = () => {};
    const first = eva(["run", "--config", file], { timeoutMs: 120_000, onSpawn: (k) => (kill = k) });
    await sub.until((m) => m.some((x) => x.topic === topic && x.payload.includes('"update"')), 40_000, "an update");
    kill("SIGKILL");
    const killed = await first;
    expect(killed.code).toBeNull();
    await sub.until((m) => m.some((x) => x.topic === `eva/${device}/status` && x.payload === "offline"), 20_000, "the will");
    expect(await retained(broker.url, `eva/${device}/status`)).toBe("offline");
    const atKill = stored(dir).events;
    expect(atKill.length).toBeGreaterThan(0);

    // Restart on the same database: what was committed before the kill goes out first, then new work.
    let kill2: (s: NodeJS.Signals) => void = () => {};
    const second = eva(["run", "--config", file], { timeoutMs: 120_000, onSpawn: (k) => (kill2 = k) });
    try {
      await sub.until((m) => m.filter((x) => x.topic === `eva/${device}/status` && x.payload === "online").length >= 2, 30_000, "online again");
      await sleep(2000);
      kill2("SIGTERM");
      const result = await second;
      expect(result.code, result.stderr.slice(-2000)).toBe(0);
      expect(await retained(broker.url, `eva/${device}/status`)).toBe("stopped");
      const after = stored(dir);
      expect(after.depth).toBe(0);
      const all = eventMessages(sub, topic);
      // every committed state of every stored event reached the broker: its last message is the stored row
      for (const e of after.events) expect(all.filter((m) => m.event.id === e.id).at(-1)?.event, e.id).toEqual(e);
      for (const e of atKill) expect(all.some((m) => m.event.id === e.id)).toBe(true);
      // nothing goes out that was not committed: every message is about a stored event, and a repeated
      // (event, change) pair is a resend of that event's state, never another event under the same id
      const ids = new Set(after.events.map((e) => e.id));
      for (const m of all) expect(ids.has(m.event.id), m.event.id).toBe(true);
      for (const m of all) expect(m.event.start_time).toBe(after.events.find((e) => e.id === m.event.id)!.start_time);
      expectOrdered(all);
      // and what went out across the kill and the restart matches the AsyncAPI document
      expect(sub.messages.flatMap((m) => checkPublished(`eva/${device}`, m.topic, m.payload)).slice(0, 10)).toEqual([]);
    } finally {
      kill2("SIGKILL");
      await sub.close();
    }
  });
});
