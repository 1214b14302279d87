import { z } from "zod";
import type { FleetSpec, RecordChannel } from "../core/records.js";
import { recordKinds } from "../records/registry.js";

// The tables the ingest keeps come from the agent's record registry: every channel a kind publishes that is a
// stream of records (not retained, no topic parameters) or that declares `fleet`. Its topic, key, revision and
// time come from the declaration; its typed columns from the payload schema's top-level fields. Fields a device
// adds later land in `payload` (jsonb) untouched; only the key is required.

/** A payload that does not fit its kind; the message goes to dead_letters with this reason. */
export class RecordError extends Error {
  readonly code = "EVA_INGEST_RECORD";
}

type Json = Record<string, unknown>;
export type SqlType = "text" | "double precision" | "bigint" | "timestamptz" | "jsonb" | "boolean";

export interface Column {
  type: SqlType;
  /** the value from the record, null when the field is absent or not of the column's type */
  from: (r: Json) => unknown;
}

export interface RecordKind {
  /** the `eva fleet` subcommand: the channel id */
  name: string;
  /** topic suffix after `<prefix>/<device>/` */
  topic: string;
  table: string;
  /** the record inside the message (events wrap it in `{type, event}`) */
  record: (payload: Json) => Json;
  /** unique per device; a redelivery gives the same id */
  id: (r: Json, payload: Json) => string;
  /** a later revision of the same id replaces the row; none: the first copy stays */
  revision?: (r: Json, payload: Json) => number;
  /** the column the control room orders and filters by, and the record's time for lag */
  timeColumn: string;
  columns: Record<string, Column>;
}

/** Columns every record table has, so no payload field may take their names. */
const RESERVED = new Set(["device", "id", "revision", "payload", "received_at", "lat", "lon", "geom"]);

const FROM: Record<SqlType, (key: string) => (r: Json) => unknown> = {
  text: (k) => (r) => (typeof r[k] === "string" ? r[k] : typeof r[k] === "number" && Number.isFinite(r[k]) ? String(r[k]) : null),
  "double precision": (k) => (r) => (typeof r[k] === "number" && Number.isFinite(r[k]) ? r[k] : null),
  bigint: (k) => (r) => (Number.isSafeInteger(r[k]) ? r[k] : null),
  timestamptz: (k) => (r) => (typeof r[k] === "string" && !Number.isNaN(Date.parse(r[k])) ? r[k] : null),
  jsonb: (k) => (r) => (r[k] === undefined ? null : JSON.stringify(r[k])),
  boolean: (k) => (r) => (typeof r[k] === "boolean" ? r[k] : null),
};

interface JsonSchema {
  type?: string | string[];
  format?: string;
  anyOf?: JsonSchema[];
  properties?: Record<string, JsonSchema>;
}

/** The SQL type of one JSON Schema field: mixed numbers and strings are text, anything else mixed is jsonb. */
function sqlType(s: JsonSchema): SqlType {
  const alternatives = (s.anyOf ?? [s]).flatMap((a) => (Array.isArray(a.type) ? a.type.map((type) => ({ ...a, type })) : [a]));
  const kinds = new Set(alternatives.filter((a) => a.type !== "null").map((a) => (a.type === "string" && a.format === "date-time" ? "date-time" : a.type)));
  if (kinds.size === 1) {
    const [only] = kinds;
    if (only === "date-time") return "timestamptz";
    if (only === "string") return "text";
    if (only === "integer") return "bigint";
    if (only === "number") return "double precision";
    if (only === "boolean") return "boolean";
    return "jsonb";
  }
  if ([...kinds].every((k) => k === "string" || k === "number" || k === "integer")) return "text";
  return "jsonb";
}

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

function fleetKind(channel: RecordChannel, spec: FleetSpec): RecordKind {
  const schema = spec.record?.schema ?? channel.schema;
  const fields = (z.toJSONSchema(schema, { io: "input", unrepresentable: "any" }) as JsonSchema).properties ?? {};
  const columns: Record<string, Column> = {};
  for (const [name, field] of Object.entries(fields)) {
    if (RESERVED.has(name) || !/^[a-z_][a-z0-9_]*$/.test(name)) continue;
    const type = sqlType(field);
    columns[name] = { type, from: FROM[type](name) };
  }
  Object.assign(columns, spec.columns ?? {});
  columns.lat = { type: "double precision", from: coord("lat") };
  columns.lon = { type: "double precision", from: coord("lon") };
  const timeColumn =
    spec.time ?? (columns.time?.type === "timestamptz" ? "time" : Object.entries(columns).find(([, c]) => c.type === "timestamptz")?.[0]) ?? "received_at";
  const revision =
    spec.revision === false
      ? undefined
      : (spec.revision ??
        ("revision" in ((z.toJSONSchema(channel.schema, { io: "input", unrepresentable: "any" }) as JsonSchema).properties ?? {})
          ? (_r: Json, m: Json) => (Number.isSafeInteger(m.revision) ? (m.revision as number) : 0)
          : undefined));
  // What `eva fleet` and the metrics call the stream: the channel id in snake case (sign_assets, not signAssets).
  const name = channel.id.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
  return {
    name,
    topic: channel.address,
    table: spec.table ?? name,
    record: spec.record?.from ?? ((m) => m),
    id:
      spec.key ??
      ((r) => {
        if (typeof r.id === "string" && r.id) return r.id;
        throw new RecordError("'id' missing or not a string");
      }),
    revision,
    timeColumn,
    columns,
  };
}

/** Every channel of the registry the control room keeps, in registry order. */
export const RECORD_KINDS: readonly RecordKind[] = recordKinds.flatMap((k) =>
  k.channels.flatMap((c) => {
    if (c.fleet === false) return [];
    if (c.fleet === undefined && (c.retained || c.address.includes("{"))) return [];
    return [fleetKind(c, c.fleet ?? {})];
  }),
);

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
  try {
    const r = kind.record(p);
    const values = Object.values(kind.columns).map((c) => c.from(r));
    const time = kind.columns[kind.timeColumn]?.from(r);
    return {
      kind,
      device,
      id: kind.id(r, p),
      revision: kind.revision?.(r, p) ?? 0,
      time: typeof time === "string" ? time : null,
      values,
      payload: JSON.stringify(r),
    };
  } catch (err) {
    throw err instanceof RecordError ? err : new RecordError((err as Error).message);
  }
}
