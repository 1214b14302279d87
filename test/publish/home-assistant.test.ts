import { describe, expect, it } from "vitest";
import { parseConfig } from "../../agent/config/load.js";
import { discoveryMessages, discoveryTopic } from "../../agent/publish/home-assistant.js";
import { checkDiscovery, numericState, renderTemplate } from "../support/ha-discovery.js";

const yaml = `
device: {id: pole-17, name: North gate}
mqtt: {stats_interval_seconds: 10}
models: {coco: {path: m.onnx}}
homeassistant: {enabled: true}
cameras:
  front:
    source: rtsp://cam/1
    detect: {model: coco, labels: [person, stop sign]}
    zones:
      yard: {points: [[0, 0], [100, 0], [100, 100]]}
      kerb: {points: [[0, 0], [10, 0], [10, 10]], labels: [car]}
    lines:
      gate: {points: [[0, 0], [10, 10]]}
  spare:
    source: rtsp://cam/2
    enabled: false
    detect: {model: coco}
`;

const cfg = parseConfig(yaml, "eva.yaml", {});
const messages = discoveryMessages(cfg, { version: "1.2.3" });
const byId = (id: string) => messages.find((m) => m.objectId === id)!;

describe("Home Assistant discovery configs", () => {
  it("match Home Assistant's documented schema: one device, unique ids, availability from the device status", () => {
    const retained = new Map(messages.map((m) => [discoveryTopic("homeassistant", "pole-17", m), JSON.stringify(m.payload)]));
    const { entities, problems } = checkDiscovery("homeassistant", retained);
    expect(problems).toEqual([]);
    expect(entities.map((e) => `${e.component}/${e.objectId}`).sort()).toEqual(
      [
        "binary_sensor/front_connected",
        "binary_sensor/front_kerb_car_occupancy",
        "binary_sensor/front_kerb_occupancy",
        "binary_sensor/front_yard_occupancy",
        "binary_sensor/front_yard_person_occupancy",
        "binary_sensor/front_yard_stop_sign_occupancy",
        "image/front_snapshot",
        "sensor/front_fps",
        "sensor/front_gate_in",
        "sensor/front_gate_out",
        "sensor/front_gate_in_today",
        "sensor/front_gate_out_today",
        "sensor/front_kerb_entries_today",
        "sensor/front_yard_entries_today",
        "sensor/front_inference",
        "sensor/front_kerb_car_count",
        "sensor/front_kerb_count",
        "sensor/front_yard_count",
        "sensor/front_yard_person_count",
        "sensor/front_yard_stop_sign_count",
        "sensor/outbox",
      ].sort(),
    );
    expect(new Set(entities.map((e) => JSON.stringify(e.config.device))).size).toBe(1);
    expect(entities[0]!.config.device).toMatchObject({ identifiers: ["eva_pole-17"], name: "North gate", sw_version: "1.2.3" });
    for (const e of entities) expect(e.config.availability).toEqual([{ topic: "eva/pole-17/status", value_template: expect.any(String) }]);
    const avail = byId("front_fps").payload.availability as Array<{ value_template: string }>;
    expect(["online", "offline", "stopped"].map((s) => renderTemplate(avail[0]!.value_template, s))).toEqual(["online", "offline", "offline"]);
  });

  it("the schema check catches what Home Assistant would reject or drop", () => {
    const bad = new Map([
      ["homeassistant/sensor/pole-17/x/config", JSON.stringify({ state_topic: "a/b", state_clas: "measurement", unique_id: "u1" })],
      ["homeassistant/image/pole-17/y/config", JSON.stringify({ unique_id: "u2", image_topic: "a", url_topic: "b" })],
      ["homeassistant/binary_sensor/pole 17/z/config", JSON.stringify({ unique_id: "u2", state_topic: "a/+", device: { name: "x" } })],
    ]);
    const { problems } = checkDiscovery("homeassistant", bad);
    expect(problems.join("\n")).toMatch(/state_clas/);
    expect(problems.join("\n")).toMatch(/exactly one of image_topic and url_topic/);
    expect(problems.join("\n")).toMatch(/node_id and object_id/);
    expect(problems.join("\n")).toMatch(/wildcards/);
    expect(problems.join("\n")).toMatch(/identifiers or connections/);
    expect(problems.join("\n")).toMatch(/unique_id u2 also/);
  });

  it("templates read eva's own payloads: occupancy per zone and label, line totals, stats", () => {
    const occupancy = JSON.stringify({ zone: "yard", camera: "front", counts: { person: 2, "stop sign": 1 }, total: 3 });
    const empty = JSON.stringify({ zone: "yard", camera: "front", counts: {}, total: 0 });
    const tpl = (id: string) => byId(id).payload.value_template as string;
    expect(renderTemplate(tpl("front_yard_person_occupancy"), occupancy)).toBe("ON");
    expect(renderTemplate(tpl("front_yard_person_occupancy"), empty)).toBe("OFF");
    expect(renderTemplate(tpl("front_yard_stop_sign_count"), occupancy)).toBe("1");
    expect(renderTemplate(tpl("front_yard_person_count"), empty)).toBe("0");
    expect(renderTemplate(tpl("front_yard_count"), occupancy)).toBe("3");
    expect(renderTemplate(tpl("front_yard_occupancy"), empty)).toBe("OFF");
    const totals = JSON.stringify({ camera: "front", line: "gate", counts: { in: 5, out: 8 }, time: "2026-12-01T00:00:00.000Z" });
    expect(renderTemplate(tpl("front_gate_in"), totals)).toBe("5");
    expect(renderTemplate(tpl("front_gate_out"), totals)).toBe("8");
    expect(byId("front_gate_out").payload).toMatchObject({ state_class: "total_increasing", state_topic: "eva/pole-17/lines/front/gate" });
    const stats = JSON.stringify({ cameras: { front: { fps_processed: 4.5, inference_ms: { p50: 12.5, p95: null } } }, outbox: { depth: 3 } });
    expect(numericState(renderTemplate(tpl("front_fps"), stats))).toBe(4.5);
    expect(numericState(renderTemplate(tpl("front_inference"), stats))).toBe(12.5);
    expect(numericState(renderTemplate(tpl("outbox"), stats))).toBe(3);
    // a camera missing from stats (stopped) is unknown, not an error
    expect(numericState(renderTemplate(tpl("front_fps"), JSON.stringify({ cameras: {}, outbox: { depth: 0 } })))).toBeNull();
    expect(byId("front_fps").payload.expire_after).toBe(30);
  });

  it("cameras that place signs share the sign inventory's sensors, announced once, reading its retained figures", () => {
    const signCams = parseConfig(
      `
device: {id: van-3}
models: {signs: {path: m.onnx}}
homeassistant: {enabled: true}
cameras:
  front: {source: rtsp://cam/1, detect: {model: signs}, signs: {}, gps: {gpsd: localhost:2947}}
  rear: {source: rtsp://cam/2, detect: {model: signs}, signs: {}, gps: {gpsd: localhost:2947}}
  gate: {source: rtsp://cam/3, detect: {model: signs}, signs: {}}
`,
      "eva.yaml",
      {},
    );
    const msgs = discoveryMessages(signCams, { version: "1.2.3" });
    const retained = new Map(msgs.map((m) => [discoveryTopic("homeassistant", "van-3", m), JSON.stringify(m.payload)]));
    const { entities, problems } = checkDiscovery("homeassistant", retained);
    expect(problems).toEqual([]);
    const inventory = entities.filter((e) => e.objectId.startsWith("sign_inventory_"));
    expect(inventory.map((e) => e.objectId).sort()).toEqual(["sign_inventory_assets", "sign_inventory_changed", "sign_inventory_missing"]);
    const missing = msgs.find((m) => m.objectId === "sign_inventory_missing")!.payload;
    expect(missing.state_topic).toBe("eva/van-3/sign_assets/summary");
    expect(renderTemplate(missing.value_template as string, JSON.stringify({ assets: 12, missing: 2, changed: 1, time: "2026-12-01T00:00:00Z" }))).toBe("2");
  });

  it("off by default, and a disabled camera announces nothing", () => {
    expect(parseConfig(yaml.replace("homeassistant: {enabled: true}\n", ""), "eva.yaml", {}).homeassistant).toEqual({
      enabled: false,
      discovery_prefix: "homeassistant",
    });
    expect(messages.some((m) => m.objectId.startsWith("spare"))).toBe(false);
  });
});
