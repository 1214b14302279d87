import path from "node:path";
import Database from "better-sqlite3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ReloadError } from "../../agent/controller.js";
import { TestBroker } from "../support/broker.js";
import { agentConfigText, loadText, startAgent } from "../support/in-process-agent.js";
import { MessageCollector } from "../support/mqtt.js";
import { freePort } from "../support/ports.js";

// A reload is all or nothing: an edit a part cannot prepare leaves every running part as it was (issue 11).

let broker: TestBroker;
beforeAll(async () => {
  broker = await TestBroker.start();
});
afterAll(async () => {
  await broker.dispose();
});

/** A message published through the running agent's outbox arrives: its uplink works. */
async function uplinkWorks(agent: { publish(t: string, p: unknown): void }, sub: MessageCollector, tag: string): Promise<void> {
  agent.publish("probe", { tag });
  await sub.until((m) => m.some((x) => x.topic === "eva/dev-p/probe" && x.payload.includes(tag)), 15_000, `probe ${tag}`);
}

describe("a reload prepares every part before anything running changes", () => {
  it("an edit of storage.retention or storage.snapshots with messages waiting is applied in place, at once, and loses or doubles none", async () => {
    // No broker: every message waits in the outbox.
    const run = await startAgent(agentConfigText({ brokerUrl: "mqtt://127.0.0.1:9" }));
    try {
      for (let i = 0; i < 50; i++) run.agent.publish("probe", { i });
      // its source refuses: wait for a restart, so a camera rebuilt by the reload (counting from 0) shows
      const deadline = Date.now() + 20_000;
      while (run.agent.cameraStatuses()[0]!.restarts < 1 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      const before = run.agent.cameraStatuses()[0]!;
      expect(before.restarts).toBeGreaterThanOrEqual(1);
      const text = agentConfigText({ brokerUrl: "mqtt://127.0.0.1:9" }).replace("snapshots: snapshots}", "snapshots: snaps2, retention: {days: 3}}");
      const changed = await Promise.race([
        run.agent.reload(loadText(text, run.file)),
        new Promise<never>((_, reject) => setTimeout(() => reject(new Error("reload did not finish within 10 s")), 10_000)),
      ]);
      expect(changed).toEqual(["storage.retention", "storage.snapshots"].sort());
      // the camera was not restarted: same restart count, no fresh "starting"
      expect(run.agent.cameraStatuses()[0]!.restarts).toBeGreaterThanOrEqual(before.restarts);
      const db = new Database(path.join(run.dir, "eva.db"), { readonly: true });
      const probes = db.prepare("SELECT payload FROM outbox WHERE topic = 'probe' ORDER BY seq").pluck().all() as string[];
      db.close();
      expect(probes.map((p) => (JSON.parse(p) as { i: number }).i)).toEqual([...Array(50).keys()]);
    } finally {
      await run.stop();
    }
  });
});
