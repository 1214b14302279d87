import { z } from "zod";
import { reloadEffect } from "./diff.js";
import { configSchema, type ReloadEffect } from "./schema.js";

// The config schema is the one source of truth: this module derives from it the JSON Schema editors use
// (config/eva.schema.json) and the key table of config/README.md. `scripts/gen-config-docs.mjs` writes both;
// test/config/generated-docs.test.ts fails when the committed files are older than the schema.

type JsonSchema = {
  type?: string | string[];
  properties?: Record<string, JsonSchema>;
  additionalProperties?: JsonSchema | boolean;
  propertyNames?: JsonSchema;
  items?: JsonSchema | JsonSchema[];
  prefixItems?: JsonSchema[];
  anyOf?: JsonSchema[];
  oneOf?: JsonSchema[];
  enum?: unknown[];
  const?: unknown;
  default?: unknown;
  description?: string;
  required?: string[];
  minimum?: number;
  maximum?: number;
  exclusiveMinimum?: number;
  minItems?: number;
  pattern?: string;
  [k: string]: unknown;
};

export const SCHEMA_FILE_NAME = "eva.schema.json";

/**
 * The config's JSON Schema as an editor sees the file: keys with a default are optional (`io: "input"`), and
 * objects stay closed so a typo is flagged while typing, as the loader flags it.
 */
export function configJsonSchema(): JsonSchema {
  const schema = z.toJSONSchema(configSchema, { io: "input", unrepresentable: "any", target: "draft-2020-12" }) as JsonSchema;
  return {
    $schema: schema.$schema,
    title: "eva agent configuration",
    description: "One YAML file per device; see config/README.md. Generated from agent/config/schema.ts: do not edit.",
    ...Object.fromEntries(Object.entries(schema).filter(([k]) => k !== "$schema")),
  };
}

export interface KeyRow {
  /** dotted key path; `<name>` stands for a key the installer chooses */
  key: string;
  type: string;
  required: boolean;
  default: string;
  meaning: string;
  /** what an edit of the key does to a running agent (from its reload effect in schema.ts) */
  onEdit: string;
}

/** How the key table names each reload effect. */
const ON_EDIT: Record<ReloadEffect, string> = {
  camera_live: "live",
  camera_restart: "restarts the camera",
  model_reload: "reloads the model",
  uplink_restart: "reconnects MQTT",
  sinks_restart: "restarts the sink",
  device_rename: "reconnects MQTT",
  database_move: "moves the database",
  storage_live: "live",
  health_restart: "re-listens",
  log_live: "live",
  console_live: "live",
};

/** One row per key of the config, depth first, in the schema's order. */
export function configKeyRows(schema: JsonSchema = configJsonSchema()): KeyRow[] {
  const rows: KeyRow[] = [];
  walkObject(schema, "", rows);
  return rows;
}

function walkObject(node: JsonSchema, prefix: string, rows: KeyRow[]): void {
  const required = new Set(node.required ?? []);
  for (const [key, child] of Object.entries(node.properties ?? {})) {
    const path = prefix ? `${prefix}.${key}` : key;
    const effect = reloadEffect(
      path
        .replace(/\[\]/g, "")
        .split(".")
        .map((k) => (k === "<name>" ? "x" : k)),
    );
    rows.push({ ...row(path, child, required.has(key)), onEdit: effect ? ON_EDIT[effect] : "" });
    descend(child, path, rows);
  }
}

function descend(node: JsonSchema, path: string, rows: KeyRow[]): void {
  if (node.properties) walkObject(node, path, rows);
  else if (node.type === "array" && node.items && !Array.isArray(node.items) && node.items.properties) walkObject(node.items, `${path}[]`, rows);
  else if (node.type === "object" && typeof node.additionalProperties === "object") {
    const value = node.additionalProperties;
    if (value.properties) walkObject(value, `${path}.<name>`, rows);
  }
}

function row(key: string, node: JsonSchema, required: boolean): Omit<KeyRow, "onEdit"> {
  return {
    key,
    type: typeOf(node),
    required,
    // A section's default is its keys' defaults, listed on their own rows.
    default: node.default === undefined || node.type === "object" ? "" : JSON.stringify(node.default),
    meaning: node.description ?? "",
  };
}

function typeOf(node: JsonSchema): string {
  const alts = node.anyOf ?? node.oneOf;
  if (alts) return alts.map(typeOf).join(" \\| ");
  if (node.enum) return node.enum.map((v) => JSON.stringify(v)).join(" \\| ");
  if (node.const !== undefined) return JSON.stringify(node.const);
  const tuple = node.prefixItems ?? (Array.isArray(node.items) ? node.items : undefined);
  if (node.type === "array" && tuple) return `[${tuple.map(typeOf).join(", ")}]`;
  if (node.type === "array") return `list of ${node.items && !Array.isArray(node.items) ? (node.items.properties ? "mapping" : typeOf(node.items)) : "any"}`;
  if (node.type === "object") {
    if (node.properties) return "mapping";
    const value = node.additionalProperties;
    return typeof value === "object" ? `map name → ${value.properties ? "mapping" : typeOf(value)}` : "mapping";
  }
  let t = Array.isArray(node.type) ? node.type.join(" \\| ") : (node.type ?? "any");
  const min = node.minimum ?? node.exclusiveMinimum;
  if ((t === "number" || t === "integer") && (min !== undefined || node.maximum !== undefined)) {
    const max = node.maximum === Number.MAX_SAFE_INTEGER ? undefined : node.maximum;
    t += ` (${min ?? "…"}–${max ?? "…"})`;
  }
  return t;
}

const cell = (s: string) => s.replace(/\|(?<!\\\|)/g, "\\|").replace(/\n/g, " ");

/** The markdown table of every key: key, type, default, meaning. */
export function configKeyTable(rows: KeyRow[] = configKeyRows()): string {
  const lines = ["| key | type | default | on edit | meaning |", "|---|---|---|---|---|"];
  for (const r of rows) {
    const def = r.default ? `\`${r.default}\`` : r.required ? "**required**" : "";
    lines.push(`| \`${r.key}\` | ${cell(r.type)} | ${cell(def)} | ${r.onEdit} | ${cell(r.meaning)} |`);
  }
  return lines.join("\n");
}

export const TABLE_START = "<!-- generated by scripts/gen-config-docs.mjs from agent/config/schema.ts: do not edit by hand -->";
export const TABLE_END = "<!-- end of generated table -->";

/** Replaces the generated table between the markers in README text (appends the block when missing). */
export function withKeyTable(readme: string, table: string = configKeyTable()): string {
  const block = `${TABLE_START}\n${table}\n${TABLE_END}`;
  const start = readme.indexOf(TABLE_START);
  const end = readme.indexOf(TABLE_END);
  if (start < 0 || end < start) return `${readme.trimEnd()}\n\n${block}\n`;
  return readme.slice(0, start) + block + readme.slice(end + TABLE_END.length);
}

/** The committed schema file's exact text. */
export function configJsonSchemaText(): string {
  return `${JSON.stringify(configJsonSchema(), null, 2)}\n`;
}

/** The first line every example config starts with, so yaml-language-server checks and completes keys. */
export const SCHEMA_HEADER = `# yaml-language-server: $schema=./${SCHEMA_FILE_NAME}`;
