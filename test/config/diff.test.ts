import { describe, expect, it } from "vitest";
import { diffPaths, planReload, reloadEffect } from "../../agent/config/diff.js";
import { configKeyRows } from "../../agent/config/json-schema.js";
import { parseConfig } from "../../agent/config/load.js";
import type { Config } from "../../agent/config/schema.js";

const base = `device: {id: box1}
mqtt: {url: "mqtt://localhost:1883"}
storage: {db: eva.db}
models:
  m: {path: m.onnx}
  n: {path: n.onnx}
cameras:
  a:
    source: rtsp://a/1
    detect: {model: m, width: 640, height: 360, min_score: 0.5}
  b:
    source: rtsp://b/1
    detect: {model: m, labels: [person]}
`;
const cfg = (text: string): Config => parseConfig(text, "/etc/eva/eva.yaml", {});
const plan = (edit: (t: string) => string) => planReload(cfg(base), cfg(edit(base)));

describe("reload plan: what a config edit means for the running agent", () => {
  it("no change, no work", () => {
    expect(plan((t) => t)).toEqual({
      changed: [],
      cameras: { added: [], removed: [], restarted: [], updated: [] },
      models: { load: [], close: [] },
      mqtt: false,
      sinks: false,
      storage: false,
      storageLive: false,
      health: false,
      log: false,
    });
  });

  it("a threshold or labels change updates that camera live", () => {
    const p = plan((t) => t.replace("min_score: 0.5", "min_score: 0.7").replace("[person]", "[person, car]"));
    expect(p.changed).toEqual(["cameras.a.detect.min_score", "cameras.b.detect.labels"]);
    expect(p.cameras).toEqual({ added: [], removed: [], restarted: [], updated: ["a", "b"] });
    expect(p.models.load).toEqual([]);
  });

  it("source, fps and size restart only that camera", () => {
    expect(plan((t) => t.replace("rtsp://a/1", "rtsp://a/2")).cameras.restarted).toEqual(["a"]);
    expect(plan((t) => t.replace("source: rtsp://b/1", "source: rtsp://b/1\n    fps: 2")).cameras).toMatchObject({ restarted: ["b"], updated: [] });
    expect(plan((t) => t.replace("width: 640", "width: 320")).cameras).toMatchObject({ restarted: ["a"], updated: [] });
  });

  it("a camera moved to another model restarts and the new model loads; the unused one closes", () => {
    const p = plan((t) => t.replace("{model: m, labels", "{model: n, labels").replace("{model: m, width", "{model: n, width"));
    expect(p.cameras.restarted).toEqual(["a", "b"]);
    expect(p.models).toEqual({ load: ["n"], close: ["m"] });
  });

  it("a changed model file loads again without touching the cameras; detector settings reload every used model", () => {
    const p = plan((t) => t.replace("m.onnx", "m2.onnx"));
    expect(p.models.load).toEqual(["m"]);
    expect(p.cameras).toEqual({ added: [], removed: [], restarted: [], updated: [] });
    expect(plan((t) => `${t}detector: {threads: 2}\n`).models.load).toEqual(["m"]);
    // an unused model's change is nobody's business
    expect(plan((t) => t.replace("n.onnx", "n2.onnx")).models.load).toEqual([]);
  });

  it("cameras added, removed, enabled and disabled", () => {
    const added = plan((t) => `${t}  c:\n    source: /dev/video0\n    detect: {model: n}\n`);
    expect(added.cameras.added).toEqual(["c"]);
    expect(added.models.load).toEqual(["n"]);
    expect(added.changed).toEqual(["cameras.c"]);
    const removed = plan((t) => t.replace(/  b:\n.*\n.*\n$/, ""));
    expect(removed.cameras.removed).toEqual(["b"]);
    expect(plan((t) => t.replace("source: rtsp://b/1", "source: rtsp://b/1\n    enabled: false")).cameras.removed).toEqual(["b"]);
  });

  it("MQTT and device id reconnect the publisher; storage restarts every camera; log level alone", () => {
    expect(plan((t) => t.replace("localhost", "broker"))).toMatchObject({ mqtt: true, storage: false, cameras: { restarted: [], updated: [] } });
    expect(plan((t) => t.replace("id: box1", "id: box2"))).toMatchObject({ mqtt: true, cameras: { updated: ["a", "b"] } });
    expect(plan((t) => t.replace("db: eva.db", "db: other.db"))).toMatchObject({ storage: true, cameras: { restarted: ["a", "b"] } });
    expect(plan((t) => `${t}log: {level: debug}\n`)).toMatchObject({ log: true, changed: ["log.level"], cameras: { restarted: [], updated: [] } });
  });

  it("keys it does not know yet (zones, lines…) are applied live, not by a restart", () => {
    const a = cfg(base);
    const b = structuredClone(a);
    (b.cameras.a as Record<string, unknown>).zones = {
      door: {
        points: [
          [0, 0],
          [10, 0],
          [10, 10],
        ],
      },
    };
    expect(planReload(a, b).cameras).toMatchObject({ updated: ["a"], restarted: [] });
  });

  it("every key of the config declares what its edit does (its own effect or its section's)", () => {
    const rows = configKeyRows();
    expect(rows.length).toBeGreaterThan(50);
    for (const r of rows) {
      const keys = r.key
        .replace(/\[\]/g, "")
        .split(".")
        .map((k) => (k === "<name>" ? "x" : k));
      expect(reloadEffect(keys), r.key).not.toBeNull();
    }
    expect(reloadEffect(["cameras", "x", "source"])).toBe("camera_restart");
    expect(reloadEffect(["cameras", "x", "detect", "min_score", "person"])).toBe("camera_live");
    expect(reloadEffect(["cameras", "x", "zones", "door", "points"])).toBe("camera_live");
    expect(reloadEffect(["storage", "db"])).toBe("database_move");
    expect(reloadEffect(["nonsense"])).toBeNull();
  });

  it("retention and the snapshot folder change in place on the same database: no camera restarts, no store move", () => {
    const p = plan((t) => t.replace("storage: {db: eva.db}", "storage: {db: eva.db, snapshots: /var/snaps, retention: {days: 3}}"));
    expect(p).toMatchObject({ storage: false, storageLive: true, mqtt: false, cameras: { restarted: [], updated: [] } });
  });

  it("a health edit is planned (the server listens again), nothing else moves", () => {
    expect(plan((t) => `${t}health: {port: 9200}\n`)).toMatchObject({ health: true, mqtt: false, storage: false, cameras: { restarted: [], updated: [] } });
  });

  it("diffPaths: nested keys, arrays whole, added keys as one path", () => {
    expect(diffPaths({ a: { b: 1, c: [1, 2] } }, { a: { b: 2, c: [1, 3], d: { e: 1 } } })).toEqual(["a.b", "a.c", "a.d"]);
  });
});
