import { appendFileSync } from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { EvaEvent } from "../../agent/core/event.js";
import { parseConfig } from "../../agent/config/load.js";
import { ReloadError } from "../../agent/controller.js";
import { EventStore } from "../../agent/events/store.js";
import { eva, writeTestConfig } from "../support/agent.js";
import { TestBroker, sleep } from "../support/broker.js";
import { personPanClip } from "../support/clips.js";
import { MessageCollector } from "../support/mqtt.js";
import { freePort } from "../support/ports.js";
import { sampleValue } from "../support/promtool.js";
import { WebhookReceiver } from "../support/webhook-receiver.js";
import { agentConfigText, loadText, startAgent } from "../support/in-process-agent.js";

interface EventMessage {
  type: "new" | "update" | "end";
  event: EvaEvent;
}

let broker: TestBroker;
let receiver: WebhookReceiver;
beforeAll(async () => {
  broker = await TestBroker.start();
  receiver = await WebhookReceiver.start();
});
afterAll(async () => {
  await receiver.stop();
  await broker.dispose();
});

function stored(dir: string): { events: EvaEvent[]; depth: number } {
  const s = new EventStore(path.join(dir, "eva.db"));
  try {
    return { events: s.queryEvents({}), depth: s.outboxDepth() };
  } finally {
    s.close();
  }
}

async function until(pred: () => boolean | Promise<boolean>, ms: number, what: string): Promise<void> {
  const deadline = Date.now() + ms;
  for (;;) {
    try {
      if (await pred()) return;
    } catch {
      // not there yet (database not created, health server not listening)
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(250);
  }
}

const webhookEvents = () => receiver.accepted.filter((b) => b.topic === "events").map((b) => b.record as EventMessage);

describe("webhook sink, end to end (real eva run, detector, mosquitto and HTTP receiver)", () => {
  it("a receiver outage and a kill -9 during it lose nothing: after the restart every stored event's last state reaches the webhook, and MQTT never waited", async () => {
    const clip = await personPanClip(5, 3);
    const device = "dev-w1";
    const { file, dir } = writeTestConfig({
      brokerUrl: broker.url,
      deviceId: device,
      cameras: { street: { source: clip, fps: 8, extra: "    loop: true\n" } },
    });
    const healthPort = await freePort();
    appendFileSync(
      file,
      `health: {port: ${healthPort}}
sinks:
  webhook:
    url: "${receiver.url}"
    headers: {Authorization: "Bearer \${HOOK_TOKEN}"}
    retry_seconds: 0.2
    retry_max_seconds: 1
`,
    );
    const env = { HOOK_TOKEN: "hook-s3cret" };
    const sub = await MessageCollector.subscribe(broker.url, `eva/${device}/events`);
    let kill: (s: NodeJS.Signals) => void = () => {};
    const first = eva(["run", "--config", file], { timeoutMs: 120_000, env, onSpawn: (k) => (kill = k) });
    let kill2: (s: NodeJS.Signals) => void = () => {};
    try {
      await receiver.until(() => webhookEvents().some((m) => m.type === "update"), 40_000, "an event update on the webhook");
      expect(receiver.posts[0]!.headers.authorization).toBe("Bearer hook-s3cret");

      // The receiver goes away: MQTT keeps delivering, the webhook's rows wait in the outbox.
      await receiver.stop();
      const mqttAtOutage = sub.messages.length;
      await until(() => sub.messages.length > mqttAtOutage + 6, 30_000, "MQTT messages during the webhook outage");
      const metrics = async () => (await fetch(`http://127.0.0.1:${healthPort}/metrics`)).text();
      await until(async () => (sampleValue(await metrics(), "eva_sink_lag_messages", { sink: "webhook" }) ?? 0) > 3, 20_000, "webhook lag in /metrics");
      const text = await metrics();
      expect(sampleValue(text, "eva_sink_up", { sink: "webhook" })).toBe(0);
      expect(sampleValue(text, "eva_sink_up", { sink: "mqtt" })).toBe(1);
      expect(sampleValue(text, "eva_sink_errors_total", { sink: "webhook" })).toBeGreaterThan(0);

      // Killed during the outage: what was committed and not yet posted is in the outbox, behind the cursor.
      kill("SIGKILL");
      expect((await first).code).toBeNull();
      const atKill = stored(dir);
      expect(atKill.depth, "rows waiting for the webhook").toBeGreaterThan(0);
      const lastPosted = (id: string) =>
        webhookEvents()
          .filter((m) => m.event.id === id)
          .at(-1)?.event;
      const behind = atKill.events.filter((e) => JSON.stringify(lastPosted(e.id)) !== JSON.stringify(e));
      expect(behind.length, "stored states the webhook had not had at the kill").toBeGreaterThan(0);

      await receiver.start();
      const second = eva(["run", "--config", file], { timeoutMs: 120_000, env, onSpawn: (k) => (kill2 = k) });
      // Every event stored at the kill ends on the webhook: open ones are ended at start-up, after the backlog.
      await receiver.until(
        () => atKill.events.every((e) => webhookEvents().some((m) => m.event.id === e.id && m.type === "end")),
        30_000,
        "every event of the first run ended on the webhook",
      );
      await sleep(1500);
      kill2("SIGTERM");
      const result = await second;
      expect(result.code, result.stderr.slice(-2000)).toBe(0);

      const after = stored(dir);
      expect(after.depth, "both sinks had every row").toBe(0);
      const hooked = webhookEvents();
      const published = sub.on(`eva/${device}/events`).map((m) => JSON.parse(m.payload) as EventMessage);
      for (const e of after.events) {
        expect(hooked.filter((m) => m.event.id === e.id).at(-1)?.event, `webhook: ${e.id}`).toEqual(e);
        expect(published.filter((m) => m.event.id === e.id).at(-1)?.event, `MQTT: ${e.id}`).toEqual(e);
      }
      // in outbox order: a seq seen for the first time is above every seq before it (a resend repeats one)
      const seen = new Set<number>();
      let highest = 0;
      for (const b of receiver.accepted) {
        if (seen.has(b.seq)) continue;
        expect(b.seq).toBeGreaterThan(highest);
        seen.add(b.seq);
        highest = b.seq;
      }
      // only records: retained camera status and line totals stay on MQTT
      expect(receiver.posts.filter((p) => !["events", "crossings", "signs", "alarms", "counts"].includes(p.body.topic))).toEqual([]);
    } finally {
      kill("SIGKILL");
      kill2("SIGKILL");
      await sub.close();
      await receiver.start();
    }
  });

  it("a reload adds the webhook (it starts at the end of the outbox) without reconnecting MQTT, a bad CA file is refused before anything changes, and removing it stops it holding rows back", async () => {
    const sub = await MessageCollector.subscribe(broker.url, "eva/dev-p/#");
    const onlines = () => sub.on("eva/dev-p/status").filter((m) => m.payload === "online").length;
    const run = await startAgent(agentConfigText({ brokerUrl: broker.url }));
    const hook = (extra = "") =>
      agentConfigText({ brokerUrl: broker.url, extraTop: `sinks:\n  webhook: {url: "${receiver.url}", retry_seconds: 0.1, retry_max_seconds: 0.5${extra}}` });
    const stored = () => {
      const s = new EventStore(path.join(run.dir, "eva.db"));
      try {
        return s.outboxDepth();
      } finally {
        s.close();
      }
    };
    // the receiver is shared: what the test before delivered (its camera's alarms too) is not this test's
    const earlier = receiver.accepted.length;
    const posted = () =>
      receiver.accepted
        .slice(earlier)
        .filter((b) => b.topic === "alarms")
        .map((b) => (b.record as { n: number }).n);
    const alarmsOnMqtt = () => sub.on("eva/dev-p/alarms").length;
    try {
      for (const n of [1, 2, 3]) run.agent.publish("alarms", { n });
      await sub.until(() => alarmsOnMqtt() >= 3, 10_000, "three alarms on MQTT");
      const connections = onlines();
      expect(connections).toBe(1);

      expect(await run.agent.reload(await loadText(hook(), run.file))).toContain("sinks.webhook");
      for (const n of [4, 5, 6]) run.agent.publish("alarms", { n });
      await receiver.until(() => posted().length >= 3, 10_000, "three alarms on the webhook");
      expect(posted()).toEqual([4, 5, 6]);

      const missingCa = hook(", tls: {ca: /nonexistent/ca.pem}");
      const err = await run.agent.reload({ config: parseConfig(missingCa, run.file), file: run.file, text: missingCa }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ReloadError);
      expect((err as ReloadError).problems.map((p) => p.path)).toEqual(["sinks.webhook.tls.ca"]);

      await receiver.stop();
      for (const n of [7, 8]) run.agent.publish("alarms", { n });
      await sub.until(() => alarmsOnMqtt() >= 8, 10_000, "MQTT unaffected");
      await sleep(300);
      expect(stored(), "rows held for the webhook").toBeGreaterThanOrEqual(2);
      expect(await run.agent.reload(await loadText(agentConfigText({ brokerUrl: broker.url }), run.file))).toContain("sinks.webhook");
      await until(() => stored() === 0, 10_000, "rows released once the webhook is gone");
      expect(onlines(), "MQTT kept its connection through the sinks' reloads").toBe(connections);
    } finally {
      await run.stop();
      await sub.close();
      await receiver.start();
    }
  });
});
