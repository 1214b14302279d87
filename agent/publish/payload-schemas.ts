import { z } from "zod";

// The MQTT API's payloads, defined once: the agent builds and parses messages with these types, the commands are
// checked against them, asyncapi.ts turns them into the JSON Schemas of agent/publish/asyncapi.yaml, and the
// tests check every message the agent publishes against that JSON Schema. Objects are loose (extra fields are
// allowed) so that a control room coded against this version keeps working when fields are added.

const time = z.iso.datetime().describe("ISO 8601 UTC");
const cameraName = z.string().min(1).describe("camera name from the config");
const box = z.tuple([z.number(), z.number(), z.number(), z.number()]).describe("[x1, y1, x2, y2] in detect-frame pixels");

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

export const eventSchema = z.looseObject({
  id: z.string().describe("unique, sortable by creation time (ULID)"),
  device: z.string(),
  camera: cameraName,
  label: z.string(),
  start_time: time,
  end_time: time.nullable().describe("null while the event is open"),
  top_score: z.number().min(0).max(1),
  box,
  snapshot: z.string().nullable().describe("path of the best frame's JPEG on the device"),
  track_id: z.union([z.number(), z.string()]).optional(),
  current_zones: z.array(z.string()).optional(),
  entered_zones: z.array(z.string()).optional(),
  stationary: z.boolean().optional(),
});

export const eventMessageSchema = z
  .looseObject({
    type: z.enum(["new", "update", "end"]),
    event: eventSchema,
    reason: z
      .string()
      .optional()
      .describe("on an end the agent did not see happen: why it was ended (e.g. after an unclean stop, at the next start)"),
  })
  .describe("one change of an event's lifecycle, on events; per camera in order, QoS 1 from the durable outbox");
export type EventMessage = z.infer<typeof eventMessageSchema>;

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
      .describe("plus one key named after the label, e.g. {\"person\": {\"confidence\": 0.9}}"),
    event: z.looseObject({ id: z.string().describe("the eva event id"), type: z.enum(["entry", "moving", "exit"]).describe("eva new / update / end") }),
    videoPath: z.string().describe("snapshot path on the device"),
  })
  .describe("payload_format: deepstream — an event in NVIDIA DeepStream nvmsgconv's full schema, on events");

export type DeepStreamEvent = z.infer<typeof deepStreamEventSchema>;

export const crossingSchema = z
  .looseObject({
    line: z.string(),
    direction: z.enum(["in", "out"]),
    label: z.string(),
    track_id: z.union([z.number(), z.string()]),
    camera: cameraName,
    time,
    counts: z.looseObject({ in: z.number().int().min(0), out: z.number().int().min(0) }).describe("totals for this line"),
  })
  .describe("an object crossed a counting line");

export const signSchema = z
  .looseObject({
    id: z.string().describe("sighting id (ULID), also the snapshot's file name"),
    camera: cameraName,
    label: z.string().describe("class by score-weighted vote over the pass"),
    track_id: z.union([z.number(), z.string()]),
    box: box.describe("the best view's box, detect-frame pixels"),
    first_seen: time,
    last_seen: time,
    score: z.number().min(0).max(1),
    snapshot: z.string().nullable(),
  })
  .describe("one sighting of a traffic sign per pass");

export const alarmSchema = z
  .looseObject({
    id: z.string().optional().describe("alarm id, for ack_alarm and clear_alarm"),
    type: z.enum(["loitering", "overcrowding", "sign_missing", "camera_offline"]),
    state: z.enum(["raised", "acknowledged", "cleared"]),
    camera: cameraName,
    zone: z.string().optional(),
    time: time.describe("when this state was entered"),
    reason: z.string().nullable().optional(),
    by: z.enum(["agent", "operator"]).optional().describe("who acknowledged or cleared it"),
    label: z.string().optional().describe("loitering: the object's label; sign_missing: the expected sign"),
    track_id: z.number().optional().describe("loitering: the track that stays"),
    count: z.number().int().optional().describe("overcrowding: objects in the zone"),
    max_objects: z.number().int().optional().describe("overcrowding: the zone's limit"),
    missing_after_seconds: z.number().optional().describe("sign_missing: the configured grace"),
  })
  .describe("an alarm changed state");
export type AlarmPayload = z.infer<typeof alarmSchema>;

export const occupancySchema = z
  .looseObject({
    zone: z.string(),
    camera: cameraName,
    counts: z.record(z.string(), z.number().int().min(0)).describe("objects in the zone now, per label"),
    total: z.number().int().min(0),
  })
  .describe("retained on occupancy/<camera>/<zone> whenever it changes");

export const lineCountsSchema = z
  .looseObject({
    camera: cameraName,
    line: z.string(),
    counts: z.looseObject({ in: z.number().int().min(0), out: z.number().int().min(0) }).describe("totals since the line was first counted (kept in SQLite across restarts)"),
    time: time.describe("the latest crossing, or when the agent started counting when there was none"),
  })
  .describe("retained on lines/<camera>/<line>: the line's running totals, with every crossing and once at start");

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

/** Every published message kind with its schema, for the AsyncAPI document and the tests. */
export const publishedSchemas = {
  status: deviceStatusSchema,
  camera_status: cameraStatusSchema,
  events: eventMessageSchema,
  deepstream_events: deepStreamEventSchema,
  crossings: crossingSchema,
  signs: signSchema,
  alarms: alarmSchema,
  occupancy: occupancySchema,
  line_counts: lineCountsSchema,
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
