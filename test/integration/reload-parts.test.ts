import path from "node:path";
import Database from "better-sqlite3";
import { describe, expect, it } from "vitest";
import { ReloadError } from "../../agent/controller.js";
import { fileBroker } from "../support/broker.js";
import { agentConfigText, loadText, startAgent } from "../support/in-process-agent.js";
import { MessageCollector } from "../support/mqtt.js";
import { freePort } from "../support/ports.js";

// A reload is all or nothing: an edit a part cannot prepare leaves every running part as it was.

const broker = await fileBroker();

/** A message published through the running agent's outbox arrives: its uplink works. */
async function uplinkWorks(agent: { publish(t: string, p: unknown): void }, sub: MessageCollector, tag: string): Promise<void> {
  agent.publish("probe", { tag });
  await sub.until((m) => m.some((x) => x.topic === "eva/dev-p/probe" && x.payload.includes(tag)), 15_000, `probe ${tag}`);
}

describe("a reload prepares every part before anything running changes", () => {
  it("a broker URL that cannot be used is rejected and the running link stays connected; the good file still applies", async () => {
    const sub = await MessageCollector.subscribe(broker.url, "eva/dev-p/#");
    const run = await startAgent(agentConfigText({ brokerUrl: broker.url }));
    try {
      await uplinkWorks(run.agent, sub, "before");
      for (const url of ["mqtt://", "mqtt://127.0.0.1:99999", "http://127.0.0.1:1883", "not a url"]) {
        const next = await loadText(agentConfigText({ brokerUrl: broker.url }), run.file);
        next.config.mqtt.url = url; // past the schema, as a reload through another path would be
        await expect(run.agent.reload(next), url).rejects.toBeInstanceOf(ReloadError);
        await uplinkWorks(run.agent, sub, `after ${url}`);
      }
      const changed = await run.agent.reload(await loadText(agentConfigText({ brokerUrl: broker.url }).replace("keepalive: 5", "keepalive: 7"), run.file));
      expect(changed).toEqual(["mqtt.keepalive"]);
      await uplinkWorks(run.agent, sub, "after a good edit");
    } finally {
      await run.stop();
      await sub.close();
    }
  });

  it("a TLS file that is missing is rejected before the link is touched; a health edit applies", async () => {
    const sub = await MessageCollector.subscribe(broker.url, "eva/dev-p/#");
    const run = await startAgent(agentConfigText({ brokerUrl: broker.url }));
    try {
      // past check-config (which reports it too), as a reload through another path would be; the same edit
      // reloads the model: the detector it opened must be closed again, the running one kept
      const next = await loadText(agentConfigText({ brokerUrl: broker.url }).replace("threads: 1", "threads: 2"), run.file);
      next.config.mqtt.tls = { ca: path.join(run.dir, "missing-ca.pem"), reject_unauthorized: true };
      const err = await run.agent.reload(next).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ReloadError);
      expect((err as ReloadError).problems.map((p) => p.path)).toEqual(["mqtt.tls.ca"]);
      expect(run.agent.providers()).toEqual({ coco: "cpu" });
      expect(run.agent.config.detector.threads).toBe(1);
      await uplinkWorks(run.agent, sub, "after tls");

      const port = await freePort();
      const changed = await run.agent.reload(await loadText(agentConfigText({ brokerUrl: broker.url, extraTop: `health: {port: ${port}}` }), run.file));
      expect(changed).toEqual(["health.port"]);
      const res = await fetch(`http://127.0.0.1:${port}/healthz`);
      expect([200, 503]).toContain(res.status);
      expect(((await res.json()) as { reasons: string[] }).reasons.join(" ")).toContain("camera a");
    } finally {
      await run.stop();
      await sub.close();
    }
  });

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
        run.agent.reload(await loadText(text, run.file)),
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

  it("a raised alarm is cleared after a reload that restarts the uplink (the alarm book survives it)", async () => {
    const sub = await MessageCollector.subscribe(broker.url, "eva/dev-p/alarms");
    const run = await startAgent(agentConfigText({ brokerUrl: broker.url }));
    try {
      const key = { type: "loitering" as const, camera: "a", zone: "door" };
      run.agent.alarmCondition(key, true, "someone at the door");
      const alarms = () => sub.on("eva/dev-p/alarms").map((m) => JSON.parse(m.payload) as { id: string; type: string; state: string });
      await sub.until(() => alarms().some((a) => a.type === "loitering" && a.state === "raised"), 15_000, "loitering raised");
      const raised = alarms().find((a) => a.type === "loitering")!;
      await run.agent.reload(await loadText(agentConfigText({ brokerUrl: broker.url }).replace("keepalive: 5", "keepalive: 9"), run.file));
      run.agent.alarmCondition(key, false, "gone");
      await sub.until(() => alarms().some((a) => a.type === "loitering" && a.state === "cleared"), 15_000, "loitering cleared");
      expect(alarms().find((a) => a.state === "cleared" && a.type === "loitering")!.id).toBe(raised.id);
    } finally {
      await run.stop();
      await sub.close();
    }
  });
});

describe("a camera whose model failed at start", () => {
  it("starts with the next reload once its model loads", async () => {
    const { copyFileSync, mkdtempSync, writeFileSync } = await import("node:fs");
    const { tmpdir } = await import("node:os");
    const pino = (await import("pino")).default;
    const { parseConfig } = await import("../../agent/config/load.js");
    const { Agent } = await import("../../agent/controller.js");
    const { shared } = await import("../support/paths.js");
    const dir = mkdtempSync(path.join(tmpdir(), "eva-late-model-"));
    const late = path.join(dir, "late.onnx");
    const text = agentConfigText({ brokerUrl: "mqtt://127.0.0.1:9" })
      .replace("detector: {", `  late: {path: ${late}}\ndetector: {`)
      .concat("  b:\n    source: rtsp://127.0.0.1:9/b\n    detect: {model: late, width: 320, height: 192}\n");
    const file = path.join(dir, "eva.yaml");
    writeFileSync(file, text);
    // past check-config, which would refuse the missing file: as an agent started before the file was copied
    const agent = new Agent({ config: parseConfig(text, file, {}), file, text }, pino({ level: "silent" }));
    await agent.start();
    try {
      expect(agent.cameraStatuses().map((s) => s.camera)).toEqual(["a"]);
      expect(agent.healthReport().reasons.join(" ")).toContain("models.late.path");
      copyFileSync(path.join(shared, "models/yolox_nano.onnx"), late);
      const edited = text.replace("keepalive: 5", "keepalive: 6");
      await agent.reload({ config: parseConfig(edited, file, {}), file, text: edited });
      expect(
        agent
          .cameraStatuses()
          .map((s) => s.camera)
          .sort(),
      ).toEqual(["a", "b"]);
      expect(agent.healthReport().reasons.join(" ")).not.toContain("models.late.path");
    } finally {
      await agent.stop(0);
    }
  });
});
