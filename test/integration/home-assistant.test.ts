import { readFileSync, writeFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { eva, logLines, writeTestConfig } from "../support/agent.js";
import { checkPublished } from "../support/api-schemas.js";
import { fileBroker } from "../support/broker.js";
import { emptyClip } from "../support/clips.js";
import { checkDiscovery, numericState, renderTemplate } from "../support/ha-discovery.js";
import { MessageCollector, publishOnce, retainedMessages, type Received } from "../support/mqtt.js";
import { freePort } from "../support/ports.js";
import { promtoolCheckMetrics, sampleValue } from "../support/promtool.js";
import { HIDDEN, spriteClip } from "../support/sprite-clips.js";

// A real agent, broker and detector: a walker crosses a line into a zone, again on every loop of the clip, and a
// second camera's file ends early. What Home Assistant would read is read from the broker and checked against
// its documented discovery schema (test/support/ha-discovery.ts); templates are rendered on the real messages.

const broker = await fileBroker();

const DEV = "ha-dev";
const BASE = `eva/${DEV}`;
const cfgTopic = (component: string, id: string) => `homeassistant/${component}/${DEV}/${id}/config`;
const last = (msgs: Received[], topic: string) => msgs.filter((m) => m.topic === topic).at(-1);

describe("Home Assistant discovery on a running agent", () => {
  it("announces valid entities, fills them from real messages, answers HA's birth, removes what a reload deletes and everything when turned off; /metrics lints clean; an ended file's snapshot fails at once", async () => {
    const clip = await spriteClip(
      "ha-walk",
      8,
      [
        [
          [0, HIDDEN, 0],
          [0.99, HIDDEN, 0],
          [1, 100, 300],
          [4, 540, 300],
          [8, 540, 300],
        ],
      ],
      10,
    );
    const short = await emptyClip(1);
    const healthPort = await freePort();
    const { file } = writeTestConfig({
      brokerUrl: broker.url,
      deviceId: DEV,
      cameras: {
        walk: {
          source: clip,
          fps: 10,
          extra:
            "    loop: true\n    zones:\n      yard: {points: [[360, 0], [640, 0], [640, 360], [360, 360]]}\n    lines:\n      gate: {points: [[320, 0], [320, 360]], hysteresis_px: 15}\n",
        },
        short: { source: short },
      },
    });
    writeFileSync(
      file,
      readFileSync(file, "utf8")
        .replace("device: {id: ha-dev}", "device: {id: ha-dev, name: Test pole}")
        .replace("reconnect_seconds: 0.5}", "reconnect_seconds: 0.5, stats_interval_seconds: 1}") +
        `homeassistant: {enabled: true}\nhealth: {port: ${healthPort}, host: 127.0.0.1}\n`,
    );

    // Left from an earlier run: a line this config no longer has (ours, to clear) and another program's entity
    // under the same node id (not ours, to keep).
    await publishOnce(broker.url, cfgTopic("sensor", "walk_oldline_in"), JSON.stringify({ unique_id: `eva_${DEV}_walk_oldline_in`, state_topic: "x" }), {
      retain: true,
    });
    await publishOnce(broker.url, cfgTopic("sensor", "other_thing"), JSON.stringify({ unique_id: "someone_else", state_topic: "y" }), { retain: true });

    const ha = await MessageCollector.subscribe(broker.url, "homeassistant/#");
    const sub = await MessageCollector.subscribe(broker.url, `${BASE}/#`);
    let kill: (s: NodeJS.Signals) => void = () => {};
    const running = eva(["run", "--config", file], { timeoutMs: 150_000, onSpawn: (k) => (kill = k) });
    try {
      const has =
        (topic: string, pred: (p: string) => boolean = () => true) =>
        (m: Received[]) =>
          m.some((x) => x.topic === topic && pred(x.payload));
      await sub.until(
        has(`${BASE}/status`, (p) => p === "online"),
        30_000,
        "online",
      );

      // --- the discovery configs, as retained on the broker
      const expected = [
        "binary_sensor/walk_connected",
        "binary_sensor/walk_yard_occupancy",
        "binary_sensor/walk_yard_person_occupancy",
        "image/walk_snapshot",
        "sensor/walk_fps",
        "sensor/walk_inference",
        "sensor/walk_yard_count",
        "sensor/walk_yard_person_count",
        "sensor/walk_gate_in",
        "sensor/walk_gate_out",
        "sensor/walk_gate_in_today",
        "sensor/walk_gate_out_today",
        "sensor/walk_yard_entries_today",
        "binary_sensor/short_connected",
        "image/short_snapshot",
        "sensor/short_fps",
        "sensor/short_inference",
        "sensor/outbox",
      ].sort();
      await ha.until(
        (m) => expected.every((e) => m.some((x) => x.topic === cfgTopic(e.split("/")[0]!, e.split("/")[1]!) && x.payload)),
        20_000,
        "discovery configs",
      );
      await ha.until(
        has(cfgTopic("sensor", "walk_oldline_in"), (p) => p === ""),
        10_000,
        "stale config cleared",
      );
      const retainedConfigs = new Map([...(await retainedMessages(broker.url, "homeassistant/+/+/+/config"))].map(([t, p]) => [t, p.toString()]));
      const { entities, problems } = checkDiscovery("homeassistant", retainedConfigs);
      expect(problems).toEqual([]);
      const ours = entities.filter((e) => e.config.unique_id?.startsWith(`eva_${DEV}_`));
      expect(ours.map((e) => `${e.component}/${e.objectId}`).sort()).toEqual(expected);
      expect(retainedConfigs.has(cfgTopic("sensor", "other_thing"))).toBe(true);
      expect(ours[0]!.config.device).toMatchObject({ name: "Test pole", identifiers: [`eva_${DEV}`] });
      const entity = (id: string) => ours.find((e) => e.objectId === id)!.config;

      // availability from the retained device status
      const status = (await retainedMessages(broker.url, `${BASE}/status`)).get(`${BASE}/status`)!.toString();
      expect(renderTemplate(entity("walk_fps").availability[0].value_template, status)).toBe("online");

      // --- states read from the real messages, through the entities' own templates
      const crossing = await sub.until(has(`${BASE}/crossings`), 40_000, "a crossing");
      const c = JSON.parse(last(crossing, `${BASE}/crossings`)!.payload) as { direction: string; counts: { in: number; out: number } };
      expect(c.direction).toBe("out");
      const totals = (await retainedMessages(broker.url, `${BASE}/lines/walk/gate`)).get(`${BASE}/lines/walk/gate`)!.toString();
      expect(numericState(renderTemplate(entity("walk_gate_out").value_template, totals))).toBeGreaterThanOrEqual(c.counts.out);
      expect(numericState(renderTemplate(entity("walk_gate_in").value_template, totals))).toBe(0);

      const occupied = await sub.until(
        has(`${BASE}/occupancy/walk/yard`, (p) => JSON.parse(p).total > 0),
        20_000,
        "someone in the yard",
      );
      const inYard = occupied.find((m) => m.topic === `${BASE}/occupancy/walk/yard` && JSON.parse(m.payload).total > 0)!.payload;
      expect(renderTemplate(entity("walk_yard_person_occupancy").value_template, inYard)).toBe("ON");
      expect(numericState(renderTemplate(entity("walk_yard_person_count").value_template, inYard))).toBe(1);
      const emptyYard = sub.on(`${BASE}/occupancy/walk/yard`).find((m) => JSON.parse(m.payload).total === 0)!.payload;
      expect(renderTemplate(entity("walk_yard_occupancy").value_template, emptyYard)).toBe("OFF");

      await sub.until(
        has(`${BASE}/stats`, (p) => JSON.parse(p).cameras.walk?.fps_processed > 0),
        20_000,
        "stats",
      );
      const stats = sub
        .on(`${BASE}/stats`)
        .map((m) => m.payload)
        .find((p) => JSON.parse(p).cameras.walk?.fps_processed > 0)!;
      expect(numericState(renderTemplate(entity("walk_fps").value_template, stats))).toBeGreaterThan(0);
      expect(numericState(renderTemplate(entity("walk_inference").value_template, stats))).toBeGreaterThan(0);
      expect(numericState(renderTemplate(entity("outbox").value_template, stats))).toBeGreaterThanOrEqual(0);

      // the image entity's topic carries the latest event's JPEG (on with homeassistant.enabled)
      await sub.until(
        has(`${BASE}/events`, (p) => JSON.parse(p).type === "new"),
        20_000,
        "an event",
      );
      let jpeg: Buffer | undefined;
      for (let i = 0; i < 40 && !jpeg; i++) {
        jpeg = (await retainedMessages(broker.url, entity("walk_snapshot").image_topic, 300)).get(entity("walk_snapshot").image_topic);
      }
      expect(jpeg?.subarray(0, 2)).toEqual(Buffer.from([0xff, 0xd8]));

      // --- Home Assistant restarts and its broker lost the config: its birth message brings it back
      const lost = cfgTopic("sensor", "walk_yard_count");
      await publishOnce(broker.url, lost, "", { retain: true });
      await ha.until((m) => last(m, lost)?.payload === "", 5_000, "config lost");
      await publishOnce(broker.url, "homeassistant/status", "online");
      await ha.until((m) => last(m, lost)!.payload !== "", 10_000, "config republished");
      expect((await retainedMessages(broker.url, lost)).has(lost)).toBe(true);

      // --- the file of camera `short` has ended: a snapshot fails at once, with the reason
      await sub.until(
        has(`${BASE}/cameras/short/status`, (p) => JSON.parse(p).reason === "end of file"),
        20_000,
        "short ended",
      );
      const replies = await MessageCollector.subscribe(broker.url, `${BASE}/cmd/+/result`);
      const asked = Date.now();
      await publishOnce(broker.url, `${BASE}/cmd/snapshot`, JSON.stringify({ request_id: "shot-1", camera: "short" }));
      const shot = await replies.until((m) => m.some((x) => x.payload.includes('"shot-1"')), 10_000, "snapshot reply");
      // at once: before, the command waited 10 s for a frame that could not come
      expect(Date.now() - asked).toBeLessThan(5000);
      expect(JSON.parse(shot.find((x) => x.payload.includes('"shot-1"'))!.payload)).toMatchObject({
        ok: false,
        error: { code: "failed", message: expect.stringMatching(/ended/) },
      });

      // --- /metrics from the running agent: promtool's lint, and the crossing counted per line and direction
      const metrics = await (await fetch(`http://127.0.0.1:${healthPort}/metrics`)).text();
      expect(await promtoolCheckMetrics(metrics)).toEqual({ code: 0, output: "" });
      expect(sampleValue(metrics, "eva_line_crossings_total", { camera: "walk", line: "gate", direction: "out", label: "person" })).toBeGreaterThanOrEqual(1);
      expect(sampleValue(metrics, "eva_line_crossings_total", { camera: "walk", line: "gate", direction: "in", label: "person" })).toBe(0);

      // --- a reload over MQTT deletes the zone and the line: their entities are removed (empty retained configs)
      writeFileSync(file, readFileSync(file, "utf8").replace(/    zones:\n.*\n    lines:\n.*\n/, ""));
      await publishOnce(broker.url, `${BASE}/cmd/reload`, JSON.stringify({ request_id: "reload-1" }));
      const reloaded = await replies.until((m) => m.some((x) => x.payload.includes('"reload-1"')), 30_000, "reload reply");
      expect(JSON.parse(reloaded.find((x) => x.payload.includes('"reload-1"'))!.payload)).toMatchObject({ ok: true, result: { result: "applied" } });
      const gone = [
        "binary_sensor/walk_yard_occupancy",
        "binary_sensor/walk_yard_person_occupancy",
        "sensor/walk_yard_count",
        "sensor/walk_yard_person_count",
        "sensor/walk_gate_in",
        "sensor/walk_gate_out",
        "sensor/walk_gate_in_today",
        "sensor/walk_gate_out_today",
        "sensor/walk_yard_entries_today",
      ];
      await ha.until((m) => gone.every((g) => last(m, cfgTopic(g.split("/")[0]!, g.split("/")[1]!))?.payload === ""), 10_000, "removed entities");
      // the reload ended the line's count interval: its report, retained, is what the "today" sensors read
      const report = (await retainedMessages(broker.url, `${BASE}/counts/walk/lines/gate`)).get(`${BASE}/counts/walk/lines/gate`)!.toString();
      expect(numericState(renderTemplate(entity("walk_gate_out_today").value_template, report))).toBeGreaterThanOrEqual(c.counts.out);
      expect(numericState(renderTemplate(entity("walk_gate_in_today").value_template, report))).toBe(0);
      const after = await retainedMessages(broker.url, `homeassistant/+/${DEV}/+/config`);
      expect(
        [...after.keys()]
          .map((t) =>
            t
              .split("/")
              .slice(1, 4)
              .filter((_, i) => i !== 1)
              .join("/"),
          )
          .sort(),
      ).toEqual([...expected.filter((e) => !gone.includes(e)), "sensor/other_thing"].sort());

      // --- Home Assistant turned off by a reload that also reconnects the uplink: every entity of ours goes
      writeFileSync(file, readFileSync(file, "utf8").replace("homeassistant: {enabled: true}", "homeassistant: {enabled: false}"));
      // (the reply to this command is lost with the link it came on; the durable `config` report is not)
      await publishOnce(broker.url, `${BASE}/cmd/reload`, JSON.stringify({ request_id: "reload-2" }));
      await sub.until(
        has(`${BASE}/config`, (p) => JSON.parse(p).changed?.includes("homeassistant.enabled")),
        30_000,
        "second reload applied",
      );
      const remaining = [...expected.filter((e) => !gone.includes(e))];
      await ha.until((m) => remaining.every((g) => last(m, cfgTopic(g.split("/")[0]!, g.split("/")[1]!))?.payload === ""), 15_000, "all entities removed");
      expect([...(await retainedMessages(broker.url, `homeassistant/+/${DEV}/+/config`)).keys()]).toEqual([cfgTopic("sensor", "other_thing")]);
      await replies.close();
    } catch (err) {
      kill("SIGTERM");
      const r = await running.catch((e: Error) => ({ stderr: e.message }));
      throw new Error(
        `${(err as Error).message}\nagent log:\n${r.stderr
          .split("\n")
          .filter((l) => /Home Assistant|error|warn/i.test(l))
          .slice(-30)
          .join("\n")}`,
      );
    }
    kill("SIGTERM");
    const result = await running;
    expect(result.code, result.stderr.slice(-3000)).toBe(0);
    const logs = logLines(result.stderr);
    expect(logs.find((l) => l.msg === "config applied" && (l.changed as string[]).length > 0)).toMatchObject({ trigger: "MQTT reload command" });
    // every message of the agent matches the AsyncAPI document (the commands are the test's own; the JPEG was checked above)
    const problems = sub.messages
      .filter((m) => !/\/cmd\/[^/]+$/.test(m.topic) && !m.topic.startsWith(`${BASE}/snapshots/`))
      .flatMap((m) => checkPublished(BASE, m.topic, m.payload));
    await sub.close();
    await ha.close();
    expect(problems.slice(0, 10)).toEqual([]);
  }, 180_000);
});
