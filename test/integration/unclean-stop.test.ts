import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import type { EvaEvent } from "../../agent/core/event.js";
import { EventStore } from "../../agent/events/store.js";
import { fileBroker } from "../support/broker.js";
import { agentConfigText, startAgent } from "../support/in-process-agent.js";
import { MessageCollector } from "../support/mqtt.js";

const broker = await fileBroker();

const openEvent = (id: string, startMs: number): EvaEvent => ({
  id,
  device: "dev-p",
  camera: "a",
  label: "person",
  start_time: new Date(startMs).toISOString(),
  end_time: null,
  top_score: 0.8,
  box: [1, 2, 30, 40],
  snapshot: null,
});

describe("after an unclean stop (kill -9, power cut)", () => {
  it("events left open end at start-up, in SQLite and with an `end` on MQTT that says why", async () => {
    const dir = mkdtempSync(path.join(tmpdir(), "eva-unclean-"));
    // what a killed agent leaves: events begun and updated, never ended
    const left = new EventStore(path.join(dir, "eva.db"));
    const t0 = Date.now() - 60_000;
    left.recordEvent("new", openEvent("01OPEN0000000000000000000A", t0));
    left.recordEvent("new", openEvent("01OPEN0000000000000000000B", t0 + 1000));
    left.recordEvent("end", { ...openEvent("01DONE0000000000000000000C", t0), end_time: new Date(t0 + 5000).toISOString() });
    left.close();

    const sub = await MessageCollector.subscribe(broker.url, "eva/dev-p/events");
    const run = await startAgent(agentConfigText({ brokerUrl: broker.url }), dir);
    try {
      const ends = () =>
        sub
          .on("eva/dev-p/events")
          .map((m) => JSON.parse(m.payload) as { type: string; event: EvaEvent; reason?: string })
          .filter((m) => m.type === "end");
      await sub.until(() => ends().filter((m) => m.event.id.startsWith("01OPEN")).length === 2, 15_000, "two end messages");
      for (const m of ends().filter((x) => x.event.id.startsWith("01OPEN"))) {
        expect(m.reason).toMatch(/unclean stop/);
        expect(Date.parse(m.event.end_time!)).toBeGreaterThanOrEqual(Date.parse(m.event.start_time));
      }
      const db = new EventStore(path.join(dir, "eva.db"), { readonly: true });
      expect(db.queryEvents().filter((e) => e.end_time === null)).toEqual([]);
      db.close();
    } finally {
      await run.stop();
      await sub.close();
    }
  });
});
