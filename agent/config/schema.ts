import { z } from "zod";
import { formatNames } from "../formats/registry.js";
import { decodeSchema, motionSchema } from "./motion-schema.js";
import { brokerUrlProblem } from "./broker-url.js";
import { cameraAnalyticsKeys, retentionSchema } from "./analytics-schema.js";
import { cameraClassifyKeys } from "./classify-schema.js";
import { cameraRecordKeys } from "./record-schema.js";
import { cameraGeoKeys } from "./geo-schema.js";
import { cudaSchema, hwaccelSchema, tensorrtSchema } from "./gpu-schema.js";
import { tilesSchema } from "./tiles-schema.js";
import { sinksSchema } from "./sinks-schema.js";

// One source of truth for the config: the loader validates against it, `scripts/gen-config-docs` turns it into
// config/eva.schema.json and the key table in config/README.md. Every object is strict: an unknown key is a
// typo an installer must hear about, not something to ignore.

/**
 * What an edit of a key does to a running agent (agent/config/diff.ts plans a reload from it). A key without
 * its own effect has its section's: every section says one, so a new key cannot be forgotten
 * (test/config/diff.test.ts walks every key).
 */
export type ReloadEffect =
  /** applied to that camera from its next frame, ffmpeg untouched */
  | "camera_live"
  /** that camera's ffmpeg starts again (or starts / stops, for `enabled`) */
  | "camera_restart"
  /** the model loads again in the background and is swapped in */
  | "model_reload"
  /** the MQTT link (publisher, outbox bound, control-room API) reconnects */
  | "uplink_restart"
  /** the sinks besides MQTT start again on their cursors; MQTT keeps its connection */
  | "sinks_restart"
  /** the device id: the link reconnects and every camera's events carry the new id */
  | "device_rename"
  /** the database reopens at the new file, undelivered messages move with it, every camera restarts */
  | "database_move"
  /** retention or the snapshot folder, changed in place */
  | "storage_live"
  /** the health server listens again */
  | "health_restart"
  /** the log level, at once */
  | "log_live"
  /** the web console reads it with each request: the next page load shows it */
  | "console_live";

export const reloadEffects = z.registry<{ reload: ReloadEffect }>();

/** Marks what an edit of `schema`'s key does to a running agent. */
function reloads<T extends z.ZodType>(effect: ReloadEffect, schema: T): T {
  reloadEffects.add(schema, { reload: effect });
  return schema;
}

const name = z.string().regex(/^[A-Za-z0-9_-]+$/, "use letters, digits, '_' or '-' (it becomes part of MQTT topics)");

export const providerSchema = z.enum(["tensorrt", "cuda", "cpu"]);
export type Provider = z.infer<typeof providerSchema>;

export const modelFormatSchema = z.enum(formatNames);
export type ModelFormat = z.infer<typeof modelFormatSchema>;

const minScore = z
  .union([z.number().min(0).max(1), z.record(z.string(), z.number().min(0).max(1))], {
    error: "expected a number from 0 to 1, or a map of label: number from 0 to 1 ('default' for the rest)",
  })
  .describe("minimum detection score: one number for every label, or a map label → score ('default' for the rest)");

export const deviceSchema = reloads(
  "uplink_restart",
  z.strictObject({
    id: reloads("device_rename", name.describe("device id, unique per broker; part of every MQTT topic")),
    name: z.string().optional().describe("human-readable name"),
  }),
);

// --- Control-room API (agent/publish): TLS, stats, snapshots, payload format and the outbox bound.
export const mqttTlsSchema = z.strictObject({
  ca: z.string().optional().describe("CA certificate file (PEM) the broker's certificate must chain to; default the system CAs"),
  cert: z.string().optional().describe("client certificate file (PEM), for brokers that require one"),
  key: z.string().optional().describe("client private key file (PEM)"),
  servername: z.string().optional().describe("name the broker's certificate must carry, when it differs from the URL's host"),
  reject_unauthorized: z.boolean().default(true).describe("refuse a broker whose certificate does not check out; false only for tests"),
});

export const outboxBoundSchema = z.strictObject({
  max_rows: z.number().int().min(100).default(100_000).describe("most messages kept while the broker is unreachable; superseded event updates go first"),
  max_age_hours: z.number().min(0.1).default(168).describe("messages older than this are dropped (counted, logged and reported in stats)"),
});

export const mqttSchema = reloads(
  "uplink_restart",
  z.strictObject({
    url: z
      .string()
      .superRefine((url, ctx) => {
        const why = brokerUrlProblem(url);
        if (why) ctx.addIssue({ code: "custom", message: why });
      })
      .default("mqtt://localhost:1883")
      .describe("broker URL: mqtt://, mqtts://, ws:// or wss://"),
    topic_prefix: z
      .string()
      .regex(/^[^#+]+$/, "no MQTT wildcards")
      .default("eva")
      .describe("first topic level"),
    username: z.string().optional().describe("broker user; use ${ENV_VAR} to keep it out of the file"),
    password: z.string().optional().describe("broker password; use ${ENV_VAR}"),
    client_id: z.string().optional().describe("MQTT client id; default eva-<device.id>, stable so the broker keeps the session"),
    keepalive: z.number().int().min(5).max(3600).default(30).describe("seconds between MQTT pings"),
    reconnect_seconds: z.number().min(0.1).max(300).default(2).describe("delay between reconnect attempts"),
    session_expiry_seconds: z
      .number()
      .int()
      .min(0)
      .default(86_400)
      .describe("how long the broker keeps the agent's session (command subscription, queued commands) while it is away"),
    tls: mqttTlsSchema.optional().describe("TLS settings for mqtts:// and wss:// brokers"),
    stats_interval_seconds: z.number().min(1).max(3600).default(60).describe("how often health figures go to <prefix>/<device>/stats"),
    snapshots: z.boolean().default(false).describe("publish each event's JPEG, retained, on <prefix>/<device>/snapshots/<camera>"),
    payload_format: z.enum(["eva", "deepstream"]).default("eva").describe("events as eva's JSON or as NVIDIA DeepStream nvmsgconv's full schema"),
    outbox: outboxBoundSchema.default(() => outboxBoundSchema.parse({})).describe("bound on the queue kept while the broker is unreachable"),
  }),
);
export type MqttConfig = z.infer<typeof mqttSchema>;

export const storageSchema = reloads(
  "storage_live",
  z.strictObject({
    db: reloads("database_move", z.string().default("var/eva.db").describe("SQLite file (relative paths are relative to the config file)")),
    snapshots: z.string().default("var/snapshots").describe("folder for event JPEG snapshots"),
    // The cameras' recorders write there: they start again in the new folder.
    clips: reloads("database_move", z.string().default("var/clips").describe("folder for event clips (MP4) and the recording cameras' segment ring buffers")),
    retention: retentionSchema.optional().describe("deleting old events with their snapshots (oldest first); keep everything when absent"),
  }),
);

export const modelSchema = reloads(
  "model_reload",
  z.strictObject({
    path: z.string().describe("ONNX model file"),
    format: modelFormatSchema.optional().describe("output decoder; detected from the model's metadata or output shape when left out"),
    labels: z.string().optional().describe("labels file, one per line; default: the model's metadata (names/labels)"),
    resize: z.enum(["letterbox", "stretch"]).optional().describe("how frames are fitted to the model input; default per format"),
  }),
);
export type ModelConfig = z.infer<typeof modelSchema>;

export const detectorSchema = reloads(
  "model_reload",
  z.strictObject({
    providers: z.array(providerSchema).min(1).default(["tensorrt", "cuda", "cpu"]).describe("execution providers tried in order"),
    threads: z
      .union([z.number().int().min(1).max(64), z.literal("auto")], { error: "expected a number or 'auto' (a whole number of threads from 1 to 64)" })
      .default("auto")
      .describe("intra-op threads per model session; auto: 1 (more sessions use the cores better than more threads in one)"),
    workers: z
      .union([z.number().int().min(1).max(16), z.literal("auto")], { error: "expected a number or 'auto' (a whole number of workers from 1 to 16)" })
      .default("auto")
      .describe(
        "sessions (worker threads) per model on the CPU provider; auto: the cores shared between the models in use, at most 4; GPU providers always use one",
      ),
    tensorrt: tensorrtSchema
      .default(() => tensorrtSchema.parse({}))
      .describe("TensorRT provider options (used only by a GPU build of onnxruntime, see README, Jetson)"),
    cuda: cudaSchema.default(() => cudaSchema.parse({})).describe("CUDA provider options"),
  }),
);

export const cameraDetectSchema = z.strictObject({
  // The model and the frame size shape what ffmpeg delivers: the camera restarts.
  model: reloads("camera_restart", z.string().describe("key of an entry under models")),
  width: reloads("camera_restart", z.number().int().min(32).max(4096).optional().describe("detect frame width; default the model's input width")),
  height: reloads("camera_restart", z.number().int().min(32).max(4096).optional().describe("detect frame height; default the model's input height")),
  labels: z.array(z.string()).optional().describe("labels that make events; default all"),
  min_score: minScore.default(0.5),
  nms_iou: z.number().min(0).max(1).default(0.45).describe("IoU above which overlapping boxes of one label are merged"),
  nms_class_agnostic: z
    .boolean()
    .default(false)
    .describe("merge overlapping boxes whatever their label (one object, one label: e.g. traffic signs whose classes look alike)"),
  tiles: tilesSchema.optional().describe("run the model on tiles or a region of the frame instead of the whole frame (small objects); one run per tile"),
});

export const cameraEventsSchema = z.strictObject({
  min_frames: z.number().int().min(1).default(3).describe("detections of a tracked object before its event can start"),
  end_after_seconds: z
    .number()
    .min(0)
    .default(5)
    .describe("seconds an object is unseen before its track dies and its event ends (unless tracker.max_age_seconds is set)"),
  update_interval_seconds: z.number().min(0).default(5).describe("at most one 'update' per event this often"),
  threshold: z.number().min(0).max(1).default(0.7).describe("median detection score over the track that confirms an event"),
  stationary_seconds: z.number().min(1).default(30).describe("an object that has not moved for this long is stationary"),
  stationary: z.enum(["end", "keep"]).default("keep").describe("a stationary object's event: end it (a new one opens when it moves) or keep it open"),
});

export const cameraSchema = reloads(
  "camera_live",
  z.strictObject({
    // What ffmpeg is started with: an edit restarts that camera; everything else applies at its next frame.
    source: reloads("camera_restart", z.string().min(1).describe("rtsp://, http(s):// URL, file path or /dev/videoN")),
    enabled: reloads("camera_restart", z.boolean().default(true).describe("false keeps the camera configured but stopped (no ffmpeg, no detection)")),
    fps: reloads("camera_restart", z.number().min(0.1).max(120).default(5).describe("frames per second decoded and analysed")),
    loop: reloads("camera_restart", z.boolean().default(false).describe("file sources: start again at the end instead of ending")),
    realtime: reloads(
      "camera_restart",
      z.boolean().default(true).describe("file sources: deliver frames at the clip's own speed, as a live camera would; false decodes as fast as possible"),
    ),
    stall_seconds: reloads("camera_restart", z.number().min(1).max(600).default(10).describe("no frame for this long → ffmpeg is restarted")),
    rtsp_transport: reloads("camera_restart", z.enum(["tcp", "udp"]).default("tcp").describe("RTSP over TCP survives lossy links; UDP only on a clean LAN")),
    detect_source: reloads(
      "camera_restart",
      z.string().min(1).optional().describe("substream the detector decodes (a low-resolution stream of the same camera); default source"),
    ),
    hwaccel: reloads("camera_restart", hwaccelSchema),
    detect: cameraDetectSchema,
    // Motion settings apply at the camera's next frame; decoder settings are ffmpeg's: a restart.
    motion: motionSchema.default(() => motionSchema.parse({})),
    decode: reloads(
      "camera_restart",
      decodeSchema.default(() => decodeSchema.parse({})),
    ),
    events: cameraEventsSchema.default(() => cameraEventsSchema.parse({})),
    ...cameraAnalyticsKeys,
    ...cameraClassifyKeys,
    // The recorder is a second ffmpeg beside the camera's: it starts again with new settings.
    record: reloads("camera_restart", cameraRecordKeys.record),
    // A new position source replaces the camera's: it restarts with it.
    location: reloads("camera_restart", cameraGeoKeys.location),
    gps: reloads("camera_restart", cameraGeoKeys.gps),
    field_of_view_degrees: cameraGeoKeys.field_of_view_degrees,
  }),
);
export type CameraConfig = z.infer<typeof cameraSchema>;

export const healthSchema = reloads(
  "health_restart",
  z.strictObject({
    port: z.number().int().min(0).max(65535).default(9108).describe("HTTP port for GET /healthz, GET /metrics and the web console (/console/); 0 turns it off"),
    host: z
      .string()
      .default("127.0.0.1")
      .describe("address the health server listens on; 0.0.0.0 for a Prometheus elsewhere (the web console then needs EVA_CONSOLE_TOKEN)"),
  }),
);

// The console's map (agent/console/web/sign-map.ts) loads tiles in the installer's browser, never on the device.
export const consoleSchema = reloads(
  "console_live",
  z.strictObject({
    map_tiles: z
      .string()
      .regex(/^(https?:\/\/[^/\s]+\/\S*\{z\}\S*|)$/, "an http(s) tile URL with {z}, {x} and {y} (and {s} for subdomains), or empty for the plain grid")
      .default("https://tile.openstreetmap.org/{z}/{x}/{y}.png")
      .describe("map tiles for the console's sign map, loaded by the browser when it is online; empty: a plain grid"),
    map_attribution: z.string().default("© OpenStreetMap contributors").describe("the tiles' attribution, shown on the map (OpenStreetMap's tiles require it)"),
  }),
);

export const logSchema = reloads(
  "log_live",
  z.strictObject({
    level: z.enum(["fatal", "error", "warn", "info", "debug", "trace"]).default("info").describe("log level (EVA_LOG_LEVEL in the environment wins at start)"),
    // The logger's destination is chosen once, at start; a reload that changes it says so in the log.
    format: z
      .enum(["auto", "json", "pretty"])
      .default("auto")
      .describe(
        "auto: readable lines when stderr is a terminal, JSON lines otherwise (journald, Docker); EVA_LOG_FORMAT in the environment wins; takes effect at the next start",
      ),
  }),
);

// --- Home Assistant MQTT discovery (agent/publish/home-assistant.ts): entities for zones, lines, snapshots and health.
// An edit reconnects the uplink (snapshot publishing follows `enabled`); the entities themselves follow every
// reload, zones and lines included.
export const homeAssistantSchema = reloads(
  "uplink_restart",
  z.strictObject({
    enabled: z
      .boolean()
      .default(false)
      .describe("announce this device's zones, lines, snapshots and health to Home Assistant over MQTT discovery (turns on snapshot publishing)"),
    discovery_prefix: z
      .string()
      .regex(/^[^#+]+$/, "no MQTT wildcards")
      .default("homeassistant")
      .describe("Home Assistant's discovery prefix (its MQTT integration setting); its birth message is read on <prefix>/status"),
  }),
);
export type HomeAssistantConfig = z.infer<typeof homeAssistantSchema>;

export const configSchema = z
  .strictObject({
    device: deviceSchema,
    mqtt: mqttSchema.default(() => mqttSchema.parse({})),
    storage: storageSchema.default(() => storageSchema.parse({})),
    models: reloads("model_reload", z.record(name, modelSchema)),
    detector: detectorSchema.default(() => detectorSchema.parse({})),
    cameras: reloads("camera_live", z.record(name, cameraSchema)),
    log: logSchema.default(() => logSchema.parse({})),
    health: healthSchema.default(() => healthSchema.parse({ port: 0 })),
    console: consoleSchema.default(() => consoleSchema.parse({})),
    homeassistant: homeAssistantSchema.default(() => homeAssistantSchema.parse({})),
    sinks: reloads("sinks_restart", sinksSchema)
      .default(() => sinksSchema.parse({}))
      .describe("where records go besides MQTT, each with its own place in the outbox"),
  })
  .superRefine((cfg, ctx) => {
    for (const r of crossReferenceProblems(cfg)) ctx.addIssue({ code: "custom", path: r.path, message: r.message });
  });

/**
 * Keys that must name another key (a camera's model and classify models, a sign watch's zone), and keys that must
 * not both be set (broker credentials in mqtt.url and beside it). Read defensively, so the same check
 * runs on data the schema rejected for another reason (check-config reports both in one run).
 */
export function crossReferenceProblems(cfg: unknown): Array<{ path: (string | number)[]; message: string }> {
  const obj = (v: unknown) => (v && typeof v === "object" && !Array.isArray(v) ? (v as Record<string, unknown>) : null);
  const root = obj(cfg);
  const models = Object.keys(obj(root?.models) ?? {});
  const out: Array<{ path: (string | number)[]; message: string }> = [];
  for (const [cam, c] of Object.entries(obj(root?.cameras) ?? {})) {
    const model = obj(obj(c)?.detect)?.model;
    if (typeof model === "string" && !models.includes(model)) {
      out.push({ path: ["cameras", cam, "detect", "model"], message: `unknown model '${model}'; defined: ${models.join(", ") || "none"}` });
    }
    const rules = obj(c)?.classify;
    if (Array.isArray(rules)) {
      rules.forEach((r, i) => {
        const m = obj(r)?.model;
        if (typeof m === "string" && !models.includes(m)) {
          out.push({ path: ["cameras", cam, "classify", i, "model"], message: `unknown model '${m}'; defined: ${models.join(", ") || "none"}` });
        }
      });
    }
    if (obj(c)?.location !== undefined && obj(c)?.gps !== undefined) {
      out.push({ path: ["cameras", cam, "gps"], message: "a camera has either a fixed location or gps, not both" });
    }
    const zones = Object.keys(obj(obj(c)?.zones) ?? {});
    const watch = obj(obj(c)?.signs)?.watch;
    if (Array.isArray(watch)) {
      watch.forEach((w, i) => {
        const zone = obj(w)?.zone;
        if (typeof zone === "string" && !zones.includes(zone)) {
          out.push({ path: ["cameras", cam, "signs", "watch", i, "zone"], message: `unknown zone '${zone}'; defined: ${zones.join(", ") || "none"}` });
        }
      });
    }
  }
  out.push(...twiceGivenCredentials(obj(root?.mqtt)));
  return out;
}

/** Broker credentials in mqtt.url and in mqtt.username/password: mqtt.js would silently use the URL's. */
function twiceGivenCredentials(mqtt: Record<string, unknown> | null): Array<{ path: (string | number)[]; message: string }> {
  if (typeof mqtt?.url !== "string" || !/^[a-z][a-z0-9+.-]*:\/\/[^/@]*@/i.test(mqtt.url)) return [];
  return (["username", "password"] as const)
    .filter((key) => mqtt[key] !== undefined)
    .map((key) => ({ path: ["mqtt", key], message: `credentials are given twice: mqtt.url has user:password@ and mqtt.${key} is set; keep one` }));
}

export type Config = z.infer<typeof configSchema>;
