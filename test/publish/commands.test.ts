import { randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";
import { handleCommand, MAX_COMMAND_BYTES, parseCommand, type CommandOutcome, type CommandTarget } from "../../agent/publish/commands.js";
import { validateAgainst } from "../support/api-schemas.js";

const enc = (x: unknown): Buffer => Buffer.from(typeof x === "string" ? x : JSON.stringify(x));

/** Records what was asked; answers like the agent with one camera `gate` and one alarm `A1`. */
function fakeTarget(calls: string[] = []): CommandTarget {
  const ok = (result: Record<string, unknown>): CommandOutcome => ({ ok: true, result });
  const cam = (c: string, r: Record<string, unknown>): CommandOutcome => (c === "gate" ? ok(r) : { ok: false, code: "unknown_camera", message: c });
  return {
    setDetection: (c, e) => (calls.push(`set_detection ${c} ${e}`), cam(c, { camera: c, detection: e })),
    snapshotNow: async (c) => (calls.push(`snapshot ${c}`), cam(c, { path: "/x.jpg" })),
    requestReload: async () => ({ ok: false, code: "not_supported", message: "no" }),
    acknowledgeAlarm: (id) => (id === "A1" ? ok({ alarm_id: id }) : { ok: false, code: "unknown_alarm", message: id }),
    clearAlarm: (id) => (id === "A1" ? ok({ alarm_id: id }) : { ok: false, code: "unknown_alarm", message: id }),
    listEvents: (p) => (calls.push(`list_events ${p.since} ${p.limit}`), ok({ events: [], next_cursor: null })),
    status: () => {
      throw new Error("boom");
    },
  };
}

describe("commands", () => {
  it("runs well-formed commands and echoes request_id", async () => {
    const calls: string[] = [];
    const t = fakeTarget(calls);
    const r1 = await handleCommand(t, "set_detection", enc({ request_id: "r1", camera: "gate", enabled: false }));
    expect(r1).toEqual({ command: "set_detection", request_id: "r1", ok: true, result: { camera: "gate", detection: false } });
    const r2 = await handleCommand(t, "list_events", enc({ since: "2026-11-27T00:00:00Z" }));
    expect(r2.ok).toBe(true);
    expect(calls).toEqual(["set_detection gate false", "list_events 2026-11-27T00:00:00Z 50"]);
    expect((await handleCommand(t, "reload", Buffer.alloc(0))).ok).toBe(false); // empty body = {}; not_supported
    for (const r of [r1, r2]) expect(validateAgainst("CommandReply", r)).toEqual([]);
  });

  it("answers each kind of bad command with an error code and a reason", async () => {
    const t = fakeTarget();
    const cases: Array<[string, Buffer, string]> = [
      ["set_detection", Buffer.alloc(MAX_COMMAND_BYTES + 1, 32), "too_large"],
      ["set_detection", enc("{nope"), "bad_json"],
      ["set_detection", enc("[1,2]"), "not_an_object"],
      ["set_detection", enc("null"), "not_an_object"],
      ["launch", enc({}), "unknown_command"],
      ["__proto__", enc({}), "unknown_command"],
      ["toString", enc({}), "unknown_command"],
      ["set_detection", enc({ camera: "gate" }), "invalid_params"],
      ["set_detection", enc({ camera: "gate", enabled: true, extra: 1 }), "invalid_params"],
      ["list_events", enc({ since: "yesterday" }), "invalid_params"],
      ["list_events", enc({ since: "2026-11-27T00:00:00Z", limit: 1e9 }), "invalid_params"],
      ["set_detection", enc({ camera: "attic", enabled: true }), "unknown_camera"],
      ["ack_alarm", enc({ alarm_id: "A9" }), "unknown_alarm"],
      ["reload", enc({}), "not_supported"],
      ["get_status", enc({}), "failed"], // the target threw: still a reply
    ];
    for (const [name, body, code] of cases) {
      const r = await handleCommand(t, name, body);
      expect(r.ok, `${name} ${body.subarray(0, 40).toString()}`).toBe(false);
      if (!r.ok) expect(r.error.code, `${name}: ${r.error.message}`).toBe(code);
      expect(validateAgainst("CommandReply", r)).toEqual([]);
    }
    expect(parseCommand("set_detection", enc({ request_id: "x".repeat(500), camera: 1 }))).toMatchObject({ ok: false, requestId: null });
  });

  it("10 000 fuzzed payloads: no throw, each answered with an error that matches the schema", async () => {
    const t = fakeTarget();
    const names = ["set_detection", "snapshot", "reload", "ack_alarm", "clear_alarm", "list_events", "get_status", "x", "", "cmd/result", "ñ"];
    const shapes = [
      () => randomBytes(Math.floor(Math.random() * 200)),
      () => enc({ camera: randomBytes(8).toString("base64"), enabled: Math.random() }),
      () => enc({ since: randomBytes(4).toString("hex"), limit: -1 }),
      () => enc({ alarm_id: Math.random() }),
      () => enc([{ camera: "gate" }]),
      () => enc(`"${"a".repeat(Math.floor(Math.random() * 100))}"`),
      () => enc({ request_id: { $gt: "" }, camera: "gate" }),
      () => enc('{"__proto__": {"enabled": true}, "camera": "gate"}'),
      () => Buffer.alloc(MAX_COMMAND_BYTES + 1 + Math.floor(Math.random() * 100), 0x7b),
      () => enc("1e999999"),
      () => Buffer.from([0xff, 0xfe, 0x00, 0x7b, 0x7d]),
    ];
    const started = performance.now();
    let errors = 0;
    for (let i = 0; i < 10_000; i++) {
      const name = names[i % names.length]!;
      const body = shapes[Math.floor(Math.random() * shapes.length)]!();
      const r = await handleCommand(t, name, body);
      // an empty body or {} is valid for reload/get_status, which then answer not_supported / failed
      if (!r.ok) errors++;
      else expect.fail(`fuzzed ${name} succeeded: ${body.subarray(0, 60).toString()}`);
      if (i % 250 === 0) expect(validateAgainst("CommandReply", r)).toEqual([]);
    }
    const perSecond = Math.round(10_000 / ((performance.now() - started) / 1000));
    console.log(`fuzz: 10000 command payloads handled in-process at ${perSecond}/s`);
    expect(errors).toBe(10_000);
  });
});
