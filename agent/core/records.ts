import type Database from "better-sqlite3";
import type { z } from "zod";
import type { Detection } from "./detection.js";
import type { Fix } from "./fix.js";
import type { EvaEvent } from "./event.js";
import type { Box } from "./geometry.js";
import type { Track } from "./track.js";

// A record kind (crossings, occupancy, count reports, …) is declared once, in one module under agent/records:
// its payload schema and topics, its tables and their migrations, how it is written, counted and listed. The
// recorder, the AsyncAPI document, /metrics, the console and Home Assistant discovery loop over the registry.

/** What every stored and published record carries, so that any consumer can de-duplicate and order it. */
export interface RecordEnvelope {
  /** unique per record (ULID); a message sent again after a reconnect has the same one */
  id: string;
  device: string;
  camera: string;
}

/** A message announcing a record, queued in the outbox in the same transaction as its rows. */
export interface RecordMessage {
  /** suffix after `<prefix>/<device>/` */
  topic: string;
  payload: unknown;
  retain: boolean;
}

/** One MQTT channel of a kind, for the AsyncAPI document and topic classification. */
export interface RecordChannel {
  /** channel id in the document, e.g. `lineCounts` */
  id: string;
  /** topic suffix with `{parameters}`, e.g. `lines/{camera}/{line}` */
  address: string;
  /** name of the payload schema in the document, e.g. `LineCounts` */
  schemaName: string;
  schema: z.ZodType;
  title: string;
  description: string;
  retained?: boolean;
  /**
   * How a control room's `eva ingest` keeps this channel's messages, one table row per record. Without it, a
   * channel that is not retained and has no parameters is kept with the defaults of FleetSpec; false: not kept.
   */
  fleet?: FleetSpec | false;
}

type Json = Record<string, unknown>;

/** A control room's table for one channel; every field has a default. */
export interface FleetSpec {
  /** the table (default: the channel id) */
  table?: string;
  /** the record inside the message, and its schema, when the message wraps it (events: `{type, event}`) */
  record?: { from(message: Json): Json; schema: z.ZodType };
  /** the row's key among its device's rows (default: the record's `id`); throws when the record has none */
  key?(record: Json, message: Json): string;
  /** a later revision replaces the row (default: the message's `revision`, where its schema has one); false: the first copy stays */
  revision?: ((record: Json, message: Json) => number) | false;
  /** the record's own time, top-level field or extra column: what the control room orders and filters by (default: `time`, else the first date-time field) */
  time?: string;
  /** columns besides those the schema's top-level fields make (nested values, say) */
  columns?: Record<string, { type: "text" | "bigint" | "double precision" | "timestamptz" | "jsonb" | "boolean"; from(record: Json): unknown }>;
}

/** One schema step of a kind's own tables. Never edit a released one: add the next. */
export interface KindMigration {
  version: number;
  name: string;
  up(db: Database.Database): void;
}

/** Counting hook for /metrics: a counter per kind, its series named by the record. */
export interface RecordCounter<T> {
  name: string;
  help: string;
  labelNames: readonly string[];
  /** the series this record counts in; null counts nothing */
  labels(record: T): Record<string, string> | null;
}

/** Filters of a console or CLI listing. */
export interface RecordQuery {
  camera?: string;
  label?: string;
  /** ms since epoch, inclusive */
  sinceMs?: number;
  /** ms since epoch, exclusive */
  untilMs?: number;
  limit: number;
}

/** Home Assistant discovery entities a kind adds for one camera: [component, object id, config]. */
export type DiscoveryEntity = readonly [component: "sensor" | "binary_sensor", objectId: string, config: Record<string, unknown>];

/** What a camera's config offers a kind's Home Assistant entities and rules: its named lines and zones. */
export interface CameraShapeNames {
  lines: readonly string[];
  zones: readonly string[];
  /** labels the camera detects, when its config names them */
  labels?: readonly string[];
  /** the camera's sign sightings have a place (signs with a location or gps): they feed the sign inventory */
  placesSigns?: boolean;
}

export interface RecordKind<T extends RecordEnvelope = RecordEnvelope, C = never> {
  /** unique; keys the kind's migrations */
  name: string;
  channels: readonly RecordChannel[];
  migrations: readonly KindMigration[];
  /**
   * Writes the record's rows and returns the messages that announce it. Runs inside the recorder's
   * transaction, so the rows and the outbox entries commit together or not at all.
   */
  write(db: Database.Database, record: T): RecordMessage[];
  counter?: RecordCounter<T>;
  /** deletes rows older than `beforeMs` (storage.retention.days) that no snapshot keeps; state rows stay */
  prune?(db: Database.Database, beforeMs: number): void;
  /** the console's listing, newest first */
  list?(db: Database.Database, q: RecordQuery): unknown[];
  /** Home Assistant entities reading this kind's retained topics; `topic` makes a full topic of a suffix */
  discovery?(camera: string, shapes: CameraShapeNames, topic: (suffix: string) => string): DiscoveryEntity[];
  /** an `eva <name> --db FILE [--camera C] [--since ISO] [--limit N] [--json]` command listing the stored records */
  command?: {
    name: string;
    /** one line for `eva --help` */
    help: string;
    /** oldest first */
    rows(db: Database.Database, q: RecordQuery): unknown[];
    /** a row as one line of text */
    line(row: never): string;
  };
  /**
   * a rule per camera that emits this kind's records (and any it owns with them) from the analysed frames; null
   * when the camera has nothing for it (it is asked again after a reload)
   */
  rule?(camera: string, config: C): AnalyticsRule<C> | null;
}

/** A record with the kind that stores and publishes it: what analytics rules emit. */
export interface Emitted {
  kind: RecordKind<never, never>;
  record: object;
  /** a JPEG to write for the record from the frame it kept (RuleFrame.snapshot), box and class drawn */
  picture?: EvaEvent;
}

/** Pairs a kind with a record of its type (without the envelope, which the recorder stamps). */
export function emit<T extends RecordEnvelope, C>(
  kind: RecordKind<T, C>,
  record: Omit<T, keyof RecordEnvelope> & Partial<RecordEnvelope>,
  picture?: EvaEvent,
): Emitted {
  return { kind: kind as unknown as RecordKind<never, never>, record, ...(picture ? { picture } : {}) };
}

/** What a rule sees of one analysed frame. */
export interface RuleFrame {
  /** ms since epoch */
  time: number;
  /** confirmed live tracks with the zones they are in */
  tracks: ReadonlyArray<{ id: number; label: string; zones: readonly string[] }>;
  /** every live track, tentative ones included, in id order */
  live: readonly Track[];
  /** confirmed tracks that died in this frame */
  ended: readonly Track[];
  /** this frame's detections outside the masks */
  detections: readonly Detection[];
  /** the picture is neither dark nor frozen */
  usable: boolean;
  /** where the camera was (its location, or GPS interpolated to the frame's time); null without a fix */
  fix: Fix | null;
  /** how good a view of the object in this box is (larger and sharper is better) */
  quality(box: Box): number;
  /** keeps this frame as a record's best view; returns the file its JPEG will be written to */
  snapshot(record: { id: string; camera: string }): string;
  /**
   * What the rules of the kinds listed before this one (agent/records/registry.ts) emitted for this frame:
   * a rule that reads another's records (count reports read crossings) is listed after it.
   */
  emitted: readonly Emitted[];
}

/** A per-camera analytics rule that turns frames into records; reconfigure and endAll may emit the last ones. */
export interface AnalyticsRule<C = unknown> {
  /** retained state to announce when the camera starts (a zone's empty occupancy, a line's totals) */
  start?(time: number): Emitted[];
  observe(frame: RuleFrame): Emitted[];
  /** the camera's settings changed (a live reload): what the old settings still owed goes out now */
  reconfigure(config: C, time: number): Emitted[];
  /** the camera ended or the agent stops */
  endAll(time: number): Emitted[];
}
