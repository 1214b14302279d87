// Every record kind the ingest stores, declared once: the MQTT topic suffix it arrives on, its table, how its key
// and columns come out of the payload. schema.ts builds the tables from these, writer.ts the inserts. Fields a
// device adds later land in `payload` (jsonb) untouched; only the key fields are required.

/** A payload that does not fit its kind; the message goes to dead_letters with this reason. */
export class RecordError extends Error {
  readonly code = "EVA_INGEST_RECORD";
}

type Json = Record<string, unknown>;
type SqlType = "text" | "double precision" | "bigint" | "timestamptz" | "jsonb" | "boolean";

export interface Column {
  type: SqlType;
  /** the value from the record, null when the field is absent */
  from: (r: Json) => unknown;
}

export interface RecordKind {
  /** topic suffix after `<prefix>/<device>/` */
  topic: string;
  table: string;
  /** the record inside the message (events wrap it in `{type, event}`) */
  record: (payload: Json) => Json;
  /** unique per device; a redelivery gives the same id */
  id: (r: Json, payload: Json) => string;
  /** a later revision of the same id replaces the row; none: the first copy stays */
  revision?: (r: Json, payload: Json) => number;
  /** when the record happened, for lag; null when it has no time */
  time: (r: Json) => string | null;
  columns: Record<string, Column>;
}

export function str(r: Json, key: string): string {
  const v = r[key];
  if (typeof v === "string" && v.length > 0) return v;
  if (typeof v === "number" && Number.isFinite(v)) return String(v);
  throw new RecordError(`'${key}' missing or not a string`);
}

const optStr = (key: string) => (r: Json) => (typeof r[key] === "string" ? r[key] : typeof r[key] === "number" ? String(r[key]) : null);
const optNum = (key: string) => (r: Json) => (typeof r[key] === "number" && Number.isFinite(r[key]) ? r[key] : null);
const optTime = (key: string) => (r: Json) => (typeof r[key] === "string" && !Number.isNaN(Date.parse(r[key])) ? r[key] : null);
const optJson = (key: string) => (r: Json) => (r[key] === undefined ? null : JSON.stringify(r[key]));

/** lat/lon as the record carries them (top level or under `position`/`location`); null when absent. */
function coord(axis: "lat" | "lon") {
  return (r: Json): number | null => {
    for (const holder of [r, r.position, r.location] as unknown[]) {
      if (holder && typeof holder === "object") {
        const v = (holder as Json)[axis];
        if (typeof v === "number" && Number.isFinite(v)) return v;
      }
    }
    return null;
  };
}
const position: Record<string, Column> = { lat: { type: "double precision", from: coord("lat") }, lon: { type: "double precision", from: coord("lon") } };

const EVENT_STAGE: Record<string, number> = { new: 0, update: 1, end: 2 };

export const RECORD_KINDS: readonly RecordKind[] = [
  {
    topic: "events",
    table: "events",
    record: (p) => {
      if (!p.event || typeof p.event !== "object") throw new RecordError("'event' missing");
      if (!(String(p.type) in EVENT_STAGE)) throw new RecordError(`'type' is ${JSON.stringify(p.type)}, not new, update or end`);
      return p.event as Json;
    },
    id: (r) => str(r, "id"),
    // Devices that send no revision: the lifecycle stage orders them (an end is never replaced by an update).
    revision: (r, p) => (typeof r.revision === "number" ? r.revision : EVENT_STAGE[String(p.type)]!),
    time: optTime("start_time"),
    columns: {
      camera: { type: "text", from: (r) => str(r, "camera") },
      label: { type: "text", from: optStr("label") },
      start_time: { type: "timestamptz", from: optTime("start_time") },
      end_time: { type: "timestamptz", from: optTime("end_time") },
      top_score: { type: "double precision", from: optNum("top_score") },
      box: { type: "jsonb", from: optJson("box") },
      snapshot: { type: "text", from: optStr("snapshot") },
      ...position,
    },
  },
  {
    topic: "crossings",
    table: "crossings",
    record: (p) => p,
    // Devices from before crossings had ids: camera, line, track and time name one crossing just as well.
    id: (r) => (typeof r.id === "string" && r.id ? r.id : `${str(r, "camera")}/${str(r, "line")}/${str(r, "track_id")}/${str(r, "time")}`),
    time: optTime("time"),
    columns: {
      camera: { type: "text", from: (r) => str(r, "camera") },
      line: { type: "text", from: (r) => str(r, "line") },
      direction: { type: "text", from: optStr("direction") },
      label: { type: "text", from: optStr("label") },
      track_id: { type: "text", from: optStr("track_id") },
      time: { type: "timestamptz", from: optTime("time") },
      ...position,
    },
  },
  {
    topic: "signs",
    table: "signs",
    record: (p) => p,
    id: (r) => str(r, "id"),
    time: optTime("last_seen"),
    columns: {
      camera: { type: "text", from: (r) => str(r, "camera") },
      label: { type: "text", from: optStr("label") },
      score: { type: "double precision", from: optNum("score") },
      first_seen: { type: "timestamptz", from: optTime("first_seen") },
      last_seen: { type: "timestamptz", from: optTime("last_seen") },
      box: { type: "jsonb", from: optJson("box") },
      snapshot: { type: "text", from: optStr("snapshot") },
      ...position,
    },
  },
  {
    topic: "alarms",
    table: "alarms",
    record: (p) => p,
    // One row per state an alarm entered; alarms without an id are named by what raised them and when.
    id: (r) =>
      `${typeof r.id === "string" && r.id ? r.id : `${str(r, "type")}/${str(r, "camera")}/${typeof r.zone === "string" ? r.zone : ""}/${str(r, "time")}`}/${str(r, "state")}`,
    time: optTime("time"),
    columns: {
      alarm_id: { type: "text", from: optStr("id") },
      type: { type: "text", from: (r) => str(r, "type") },
      state: { type: "text", from: (r) => str(r, "state") },
      camera: { type: "text", from: optStr("camera") },
      zone: { type: "text", from: optStr("zone") },
      time: { type: "timestamptz", from: optTime("time") },
      ...position,
    },
  },
];

const byTopic = new Map(RECORD_KINDS.map((k) => [k.topic, k]));

export function recordKind(topic: string): RecordKind | undefined {
  return byTopic.get(topic);
}

/** One row ready for its table: device and id (the unique key), revision, the declared columns, the payload. */
export interface Row {
  kind: RecordKind;
  device: string;
  id: string;
  revision: number;
  time: string | null;
  values: unknown[];
  payload: string;
}

/** The row a message makes; throws RecordError when the payload does not fit its kind. */
export function toRow(kind: RecordKind, device: string, payload: unknown): Row {
  if (!payload || typeof payload !== "object" || Array.isArray(payload)) throw new RecordError("payload is not a JSON object");
  const p = payload as Json;
  const r = kind.record(p);
  const values = Object.values(kind.columns).map((c) => c.from(r));
  return { kind, device, id: kind.id(r, p), revision: kind.revision?.(r, p) ?? 0, time: kind.time(r), values, payload: JSON.stringify(r) };
}
