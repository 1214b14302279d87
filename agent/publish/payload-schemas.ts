import { z } from "zod";

// The MQTT API's payloads, defined once: the agent builds and parses messages with these types, the commands are
// checked against them, asyncapi.ts turns them into the JSON Schemas of agent/publish/asyncapi.yaml, and the
// tests check every message the agent publishes against that JSON Schema. Objects are loose (extra fields are
// allowed) so that a control room coded against this version keeps working when fields are added.

const time = z.iso.datetime().describe("ISO 8601 UTC");
const cameraName = z.string().min(1).describe("camera name from the config");

export const deviceStatusSchema = z
  .enum(["online", "offline", "stopped"])
  .describe("plain text, retained: `online` on connect, `offline` as the will (connection lost), `stopped` on a clean shutdown");

export const cameraStatusSchema = z
  .looseObject({
    camera: cameraName,
    state: z.enum(["online", "offline", "disabled"]),
    reason: z.string().nullable().describe("why it is offline or disabled (ffmpeg's last stderr lines, a stall, an operator); null when online"),
    since: time.describe("when the state last changed"),
    detection: z.boolean().describe("whether detection runs on this camera's frames"),
    restarts: z.number().int().min(0).describe("ffmpeg restarts since the agent started"),
  })
  .describe("retained on cameras/<camera>/status");
export type CameraStatusPayload = z.infer<typeof cameraStatusSchema>;

export { eventMessageSchema, eventSchema, type EventMessage } from "../records/events.js";

const xyz = z.looseObject({ x: z.number(), y: z.number(), z: z.number() });
const geo = z.looseObject({ lat: z.number(), lon: z.number(), alt: z.number() });

export const deepStreamEventSchema = z
  .looseObject({
    messageid: z.string().describe("UUID, the same when a message is resent"),
    mdsversion: z.string(),
    "@timestamp": time,
    place: z.looseObject({ id: z.string(), name: z.string(), type: z.string() }),
    sensor: z.looseObject({ id: z.string().describe("camera name"), type: z.string(), description: z.string(), location: geo, coordinate: xyz }),
    analyticsModule: z.looseObject({ id: z.string(), description: z.string(), source: z.string(), version: z.string() }),
    object: z
      .looseObject({
        id: z.string().describe("track id, else the eva event id"),
        speed: z.number(),
        direction: z.number(),
        orientation: z.number(),
        bbox: z.looseObject({ topleftx: z.number(), toplefty: z.number(), bottomrightx: z.number(), bottomrighty: z.number() }),
        location: geo,
        coordinate: xyz,
      })
      .describe('plus one key named after the label, e.g. {"person": {"confidence": 0.9}}'),
    event: z.looseObject({ id: z.string().describe("the eva event id"), type: z.enum(["entry", "moving", "exit"]).describe("eva new / update / end") }),
    videoPath: z.string().describe("snapshot path on the device"),
  })
  .describe("payload_format: deepstream — an event in NVIDIA DeepStream nvmsgconv's full schema, on events");

export type DeepStreamEvent = z.infer<typeof deepStreamEventSchema>;

export { alarmSchema, type AlarmPayload } from "../records/alarms.js";

export const snapshotPayloadSchema = z
  .string()
  .describe("the latest event's JPEG (binary, image/jpeg), retained on snapshots/<camera>; off unless mqtt.snapshots is true");

const latency = z.looseObject({ p50: z.number().nullable(), p95: z.number().nullable() });

export const cameraStatsSchema = z.looseObject({
  state: z.enum(["online", "offline", "disabled"]),
  fps_in: z.number().min(0).describe("frames per second from ffmpeg over the last interval"),
  fps_processed: z.number().min(0).describe("frames per second through the detector"),
  fps_skipped: z.number().min(0).describe("frames per second dropped because the detector was busy"),
  fps_gated: z.number().min(0).describe("frames per second motion gating kept from the detector (no motion, nothing moving tracked, keep-alive not due)"),
  inference_ms: latency.describe("detector time per frame over the most recent frames (up to 512); null before the first"),
  provider: z.string().nullable().describe("execution provider running this camera's model"),
});

export const statsSchema = z
  .looseObject({
    time,
    uptime_seconds: z.number().min(0),
    cameras: z.record(z.string(), cameraStatsSchema),
    outbox: z.looseObject({
      depth: z.number().int().min(0).nullable(),
      dropped: z.number().int().min(0).describe("messages dropped by the outbox bound since start"),
      compacted: z.number().int().min(0).describe("superseded event updates removed by the outbox bound since start"),
      sinks: z
        .record(
          z.string(),
          z.looseObject({
            lag: z.number().int().min(0).nullable().describe("outbox messages this sink has not had yet"),
            up: z.boolean().describe("MQTT: connected; webhook: its last request was answered 2xx"),
            delivered: z.number().int().min(0).describe("messages its receiver acknowledged since start"),
            errors: z.number().int().min(0).describe("failed webhook requests since start, each retried (MQTT: 0)"),
            dead_lettered: z.number().int().min(0).describe("records its receiver refused for good, kept in outbox_dead_letters"),
          }),
        )
        .optional()
        .describe("per sink (mqtt, webhook), each reading the outbox with its own cursor"),
    }),
    db_bytes: z.number().int().min(0).nullable(),
    cpu_percent: z.number().min(0).describe("agent process CPU over the last interval, 100 = one core"),
    rss_bytes: z.number().int().min(0),
    event_loop_lag_ms: latency.extend({ max: z.number().nullable() }),
  })
  .describe("health figures every mqtt.stats_interval_seconds; MQTT v5 message expiry of twice the interval");
export type StatsPayload = z.infer<typeof statsSchema>;

// --- Commands: `cmd/<name>` with a JSON object body; every command may carry a request_id, echoed in the reply.

const requestId = z.string().max(128).optional().describe("echoed in the reply: correlation for MQTT 3.1.1 clients");

export const commandSchemas = {
  set_detection: z
    .strictObject({ request_id: requestId, camera: cameraName, enabled: z.boolean() })
    .describe("turn detection on or off for one camera (frames still flow; status shows `disabled`)"),
  snapshot: z
    .strictObject({ request_id: requestId, camera: cameraName })
    .describe("JPEG of the camera's next frame: written on the device and, with mqtt.snapshots, published"),
  reload: z.strictObject({ request_id: requestId }).describe("re-read the config file and apply it"),
  ack_alarm: z.strictObject({ request_id: requestId, alarm_id: z.string().min(1) }).describe("acknowledge a raised alarm"),
  clear_alarm: z.strictObject({ request_id: requestId, alarm_id: z.string().min(1) }).describe("clear an alarm by hand"),
  list_events: z
    .strictObject({
      request_id: requestId,
      since: time.describe("events that started at or after this time"),
      camera: cameraName.optional(),
      label: z.string().optional(),
      limit: z.number().int().min(1).max(100).default(50),
      cursor: z.string().max(256).optional().describe("next_cursor of the previous page"),
    })
    .describe("stored events, oldest first, a page at a time"),
  get_status: z.strictObject({ request_id: requestId }).describe("device and camera states now"),
} as const;
export type CommandName = keyof typeof commandSchemas;
export type CommandParams<N extends CommandName> = z.infer<(typeof commandSchemas)[N]>;

export const commandErrorCodes = [
  "too_large",
  "bad_json",
  "not_an_object",
  "unknown_command",
  "invalid_params",
  "unknown_camera",
  "unknown_alarm",
  "not_supported",
  "failed",
] as const;
export type CommandErrorCode = (typeof commandErrorCodes)[number];

export const commandReplySchema = z
  .union([
    z.looseObject({
      command: z.string(),
      request_id: z.string().nullable(),
      ok: z.literal(true),
      result: z.looseObject({}),
    }),
    z.looseObject({
      command: z.string(),
      request_id: z.string().nullable(),
      ok: z.literal(false),
      error: z.looseObject({ code: z.enum(commandErrorCodes), message: z.string() }),
    }),
  ])
  .describe("the reply to a command: on the request's MQTT v5 response topic with its correlation data, else on cmd/<name>/result");
export type CommandReply = z.infer<typeof commandReplySchema>;

const configProblemSchema = z.strictObject({
  file: z.string(),
  line: z.number().int(),
  col: z.number().int(),
  path: z.string().describe("dotted key path; empty for the whole file"),
  message: z.string(),
});

export const configReportSchema = z
  .discriminatedUnion("result", [
    z.strictObject({
      result: z.literal("applied"),
      hash: z.string().describe("SHA-256 of the config text now running"),
      changed: z.array(z.string()).describe("key paths that changed; empty when the text was the same"),
    }),
    z.strictObject({
      result: z.literal("rejected"),
      hash: z.string().nullable().describe("SHA-256 of the rejected text; null when it could not be read"),
      errors: z.array(configProblemSchema).min(1),
    }),
  ])
  .describe("the outcome of each live config reload (file edit, SIGHUP or the reload command)");

/**
 * Every published message kind with its schema that is no record kind's, for the AsyncAPI document and the
 * tests; the record kinds' payloads (crossings, occupancy, count reports, …) are declared in agent/records.
 */
export const publishedSchemas = {
  status: deviceStatusSchema,
  camera_status: cameraStatusSchema,
  deepstream_events: deepStreamEventSchema,
  snapshot: snapshotPayloadSchema,
  stats: statsSchema,
  config: configReportSchema,
  command_result: commandReplySchema,
} as const;

/** JSON Schema (draft-07) of a payload schema; date-times keep `format` and lose zod's long regex. */
export function toJsonSchema(schema: z.ZodType): Record<string, unknown> {
  const json = z.toJSONSchema(schema, {
    target: "draft-7",
    io: "input",
    override: (ctx) => {
      const s = ctx.jsonSchema as Record<string, unknown>;
      if (s.format === "date-time") delete s.pattern;
    },
  }) as Record<string, unknown>;
  delete json.$schema;
  return json;
}
