import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import type { CameraStatus } from "../../agent/camera/camera.js";
import { LatencyWindow } from "../../agent/health/latency-window.js";
import { AlarmBook } from "../../agent/publish/alarm-book.js";
import { asyncApiYaml } from "../../agent/publish/asyncapi.js";
import { cameraStatusPayload } from "../../agent/publish/control-room.js";
import { deepStreamEncoder, toDeepStream } from "../../agent/publish/deepstream.js";
import { decodeCursor, encodeCursor, eventPage } from "../../agent/publish/event-pages.js";
import type { EventMessage } from "../../agent/publish/payload-schemas.js";
import { buildStats } from "../../agent/publish/stats.js";
import { classifyTopic } from "../../agent/publish/topics.js";
import type { EvaEvent } from "../../agent/core/event.js";
import { asyncApiFile, validateAgainst } from "../support/api-schemas.js";

const event: EvaEvent = {
  id: "01JDZ0000000000000000000AA",
  device: "dev1",
  camera: "gate",
  label: "person",
  start_time: "2026-11-27T10:00:00.000Z",
  end_time: null,
  top_score: 0.91,
  box: [10, 20, 110, 220],
  snapshot: "/var/eva/snapshots/gate/x.jpg",
};

describe("the AsyncAPI document", () => {
  it("is exactly what `eva asyncapi` generates from the payload schemas (regenerate: eva asyncapi > agent/publish/asyncapi.yaml)", () => {
    expect(readFileSync(asyncApiFile, "utf8")).toBe(asyncApiYaml());
  });

  it("is AsyncAPI 3 with every $ref resolving and every operation on a channel", () => {
    const doc = parse(readFileSync(asyncApiFile, "utf8")) as Record<string, unknown>;
    expect(doc.asyncapi).toBe("3.0.0");
    const refs: string[] = [];
    const walk = (x: unknown): void => {
      if (Array.isArray(x)) x.forEach(walk);
      else if (x && typeof x === "object") {
        for (const [k, v] of Object.entries(x)) {
          if (k === "$ref" && typeof v === "string") refs.push(v);
          else walk(v);
        }
      }
    };
    walk(doc);
    expect(refs.length).toBeGreaterThan(40);
    for (const ref of refs) {
      const target = ref
        .replace(/^#\//, "")
        .split("/")
        .reduce<unknown>((o, k) => (o as Record<string, unknown> | undefined)?.[k.replace(/~1/g, "/")], doc);
      expect(target, ref).toBeDefined();
    }
    const channels = doc.channels as Record<string, { address: string }>;
    for (const a of [
      "status",
      "cameras/{camera}/status",
      "events",
      "crossings",
      "signs",
      "alarms",
      "occupancy/{camera}/{zone}",
      "snapshots/{camera}",
      "stats",
      "cmd/set_detection",
      "cmd/list_events/result",
    ]) {
      expect(Object.values(channels).map((c) => c.address)).toContain(`{prefix}/{device}/${a}`);
    }
  });

  it("accepts the analytics payloads of the tracking issue and rejects broken ones", () => {
    expect(
      validateAgainst("Crossing", {
        line: "door",
        direction: "in",
        label: "person",
        track_id: 7,
        camera: "gate",
        time: "2026-11-27T10:00:00Z",
        counts: { in: 3, out: 1 },
      }),
    ).toEqual([]);
    expect(
      validateAgainst("Crossing", { line: "door", direction: "up", label: "person", track_id: 7, camera: "gate", time: "x", counts: { in: 3 } }).length,
    ).toBeGreaterThan(0);
    expect(validateAgainst("Alarm", { type: "loitering", state: "raised", camera: "gate", zone: "yard", time: "2026-11-27T10:00:00Z", seconds: 60 })).toEqual(
      [],
    );
    expect(validateAgainst("Alarm", { type: "fire", state: "raised", camera: "gate", time: "2026-11-27T10:00:00Z" }).length).toBeGreaterThan(0);
    expect(validateAgainst("Occupancy", { zone: "yard", camera: "gate", counts: { person: 2, car: 0 }, total: 2 })).toEqual([]);
    expect(
      validateAgainst("SignSighting", {
        id: "01M8EATEQWAVS9PVQ2HHGBVKYP",
        camera: "gate",
        label: "stop",
        track_id: "t1",
        box: [1, 2, 30, 31],
        first_seen: "2026-11-27T10:00:00Z",
        last_seen: "2026-11-27T10:00:02Z",
        score: 0.8,
        snapshot: null,
      }),
    ).toEqual([]);
    const tracked = { type: "update", event: { ...event, track_id: 4, current_zones: ["yard"], entered_zones: ["yard"], stationary: false } };
    expect(validateAgainst("EventMessage", tracked)).toEqual([]);
    expect(validateAgainst("EventMessage", { type: "new", event: { ...event, box: [1, 2, 3] } }).length).toBeGreaterThan(0);
    expect(validateAgainst("DeviceStatus", "stopped")).toEqual([]);
    expect(validateAgainst("DeviceStatus", "sleeping").length).toBeGreaterThan(0);
  });
});

describe("topic tree", () => {
  it("classifies every topic suffix of the document", () => {
    expect(classifyTopic("status")).toEqual({ kind: "status" });
    expect(classifyTopic("cameras/gate/status")).toEqual({ kind: "camera_status", camera: "gate" });
    expect(classifyTopic("occupancy/gate/yard")).toEqual({ kind: "occupancy", camera: "gate", zone: "yard" });
    expect(classifyTopic("snapshots/gate")).toEqual({ kind: "snapshot", camera: "gate" });
    expect(classifyTopic("cmd/reload")).toEqual({ kind: "command", name: "reload" });
    expect(classifyTopic("cmd/reload/result")).toEqual({ kind: "command_result", name: "reload" });
    expect(classifyTopic("events/x")).toEqual({ kind: "unknown" });
  });
});

describe("camera status and alarms", () => {
  const s = (state: CameraStatus["state"], reason: string | null): CameraStatus => ({ camera: "gate", state, reason, since: 0, restarts: 1 });
  it("maps camera states to online / offline / disabled with the reason", () => {
    expect(cameraStatusPayload(s("online", null), true)).toMatchObject({ state: "online", reason: null, detection: true });
    expect(cameraStatusPayload(s("online", null), false)).toMatchObject({ state: "disabled", reason: "detection disabled by command" });
    expect(cameraStatusPayload(s("offline", "Connection refused"), true)).toMatchObject({ state: "offline", reason: "Connection refused" });
    expect(cameraStatusPayload(s("stopped", null), true)).toMatchObject({ state: "offline", reason: "agent stopped" });
    for (const st of ["online", "offline", "ended", "stopped"] as const)
      expect(validateAgainst("CameraStatus", cameraStatusPayload(s(st, "r"), true))).toEqual([]);
  });

  it("raises one alarm per condition, acknowledges and clears it by id, and refuses unknown ids", () => {
    let n = 0;
    const book = new AlarmBook(() => `A${++n}`);
    const key = { type: "camera_offline" as const, camera: "gate" };
    const raised = book.raise(key, 1000, "ffmpeg exited")!;
    expect(raised).toMatchObject({ id: "A1", state: "raised", reason: "ffmpeg exited" });
    expect(book.raise(key, 2000)).toBeNull();
    expect(book.acknowledge("A1", 3000)).toMatchObject({ state: "acknowledged", by: "operator" });
    expect(book.acknowledge("A1", 3000)).toBeNull();
    expect(book.acknowledge("nope", 3000)).toMatchObject({ code: "unknown_alarm" });
    expect(book.clear(key, 4000, "back")).toMatchObject({ id: "A1", state: "cleared", by: "agent" });
    expect(book.clear(key, 4000)).toBeNull();
    const again = book.raise(key, 5000)!;
    expect(again.id).toBe("A2");
    expect(book.clearById("A2", 6000)).toMatchObject({ state: "cleared", by: "operator" });
    for (const a of [raised, again]) expect(validateAgainst("Alarm", a)).toEqual([]);
  });
});

describe("event pages", () => {
  const evs: EvaEvent[] = Array.from({ length: 7 }, (_, i) => ({
    ...event,
    id: `ID${i}`,
    start_time: new Date(Date.UTC(2026, 0, 1, 0, 0, i < 4 ? 0 : i)).toISOString(),
  }));
  const query = (sinceMs: number, limit: number) => evs.filter((e) => Date.parse(e.start_time) >= sinceMs).slice(0, limit);
  it("pages through events sharing a start time without repeats or gaps", () => {
    const seen: string[] = [];
    let cursor: string | null = null;
    for (let i = 0; i < 10; i++) {
      const page = eventPage(query, 0, 2, cursor === null ? null : decodeCursor(cursor));
      seen.push(...page.events.map((e) => e.id));
      cursor = page.next_cursor;
      if (!cursor) break;
    }
    expect(seen).toEqual(evs.map((e) => e.id));
    expect(decodeCursor("garbage")).toBeNull();
    expect(decodeCursor(encodeCursor(evs[2]!))).toEqual({ t: Date.parse(evs[2]!.start_time), id: "ID2" });
  });
});

describe("stats", () => {
  it("turns counters into rates over the interval and matches the schema", () => {
    const stats = buildStats({
      now: Date.UTC(2026, 10, 27),
      seconds: 10,
      cameras: { gate: { state: "online", framesIn: 150, framesSkipped: 20, processed: 130, gated: 30, inference: { p50: 33.33, p95: 51 }, provider: "cpu" } },
      previous: { gate: { framesIn: 100, framesSkipped: 10, processed: 90, gated: 20 } },
      outbox: { depth: 3, dropped: 0, compacted: 0 },
      dbBytes: 4096,
      process: { uptime_seconds: 60, cpu_percent: 12.5, rss_bytes: 1e8, event_loop_lag_ms: { p50: 10.1, p95: 12, max: 20 } },
    });
    expect(stats.cameras.gate).toEqual({
      state: "online",
      fps_in: 5,
      fps_processed: 4,
      fps_skipped: 1,
      fps_gated: 1,
      inference_ms: { p50: 33.3, p95: 51 },
      provider: "cpu",
    });
    expect(validateAgainst("Stats", stats)).toEqual([]);
  });

  it("latency window: nearest-rank percentiles of the last samples", () => {
    const w = new LatencyWindow(4);
    expect(w.percentiles([50])).toEqual({ p50: null });
    for (const x of [100, 1, 2, 3, 4]) w.add(x); // 100 falls out of the window
    expect(w.percentiles([50, 95])).toEqual({ p50: 2, p95: 4 });
  });
});

describe("payload_format: deepstream", () => {
  it("maps an event to nvmsgconv's full schema with the same messageid on a resend", () => {
    const m: EventMessage = { type: "end", event: { ...event, end_time: "2026-11-27T10:00:05.000Z" } };
    const ds = toDeepStream(m);
    expect(ds).toMatchObject({
      mdsversion: "1.0",
      "@timestamp": "2026-11-27T10:00:05.000Z",
      sensor: { id: "gate" },
      analyticsModule: { id: "eva" },
      object: { id: event.id, bbox: { topleftx: 10, toplefty: 20, bottomrightx: 110, bottomrighty: 220 }, person: { confidence: 0.91 } },
      event: { id: event.id, type: "exit" },
    });
    expect(ds.messageid).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(toDeepStream(m).messageid).toBe(ds.messageid);
    // without device.name the place is the device id
    expect(ds.place.name).toBe(event.device);
    expect(JSON.parse(deepStreamEncoder()({ topic: "events", payload: JSON.stringify(m) }))).toEqual(ds);
    expect(deepStreamEncoder()({ topic: "alarms", payload: "{}" })).toBe("{}");
  });
});
