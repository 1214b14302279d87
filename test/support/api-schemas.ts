import { readFileSync } from "node:fs";
import path from "node:path";
import { Ajv, type ValidateFunction } from "ajv";
import addFormatsImport from "ajv-formats";
import { parse } from "yaml";
import { SCHEMA_NAMES } from "../../agent/publish/asyncapi.js";
import { classifyTopic } from "../../agent/publish/topics.js";
import { repoRoot } from "./paths.js";

// Checks published messages against the JSON Schemas of the committed AsyncAPI document (not against the zod
// types the agent builds them with), so a message that passes here is what the document promises.

const addFormats = addFormatsImport as unknown as (ajv: Ajv) => Ajv;

export const asyncApiFile = path.join(repoRoot, "agent/publish/asyncapi.yaml");

interface Doc {
  components: { schemas: Record<string, object> };
}

let cache: { doc: Doc; validators: Map<string, ValidateFunction> } | null = null;

function load(): { doc: Doc; validators: Map<string, ValidateFunction> } {
  if (cache) return cache;
  const doc = parse(readFileSync(asyncApiFile, "utf8")) as Doc;
  const ajv = new Ajv({ strict: false, allErrors: true });
  addFormats(ajv);
  const validators = new Map<string, ValidateFunction>();
  for (const [name, schema] of Object.entries(doc.components.schemas)) validators.set(name, ajv.compile(schema));
  cache = { doc, validators };
  return cache;
}

const SCHEMA_BY_KIND: Record<string, string> = SCHEMA_NAMES;

/** Validates one payload against a named schema of the document; returns the problems (empty when valid). */
export function validateAgainst(schemaName: string, value: unknown): string[] {
  const v = load().validators.get(schemaName);
  if (!v) return [`no schema ${schemaName} in asyncapi.yaml`];
  return v(value) ? [] : (v.errors ?? []).map((e) => `${e.instancePath || "/"} ${e.message ?? ""}`);
}

/**
 * Problems with a message the agent published on `topic` (under `<prefix>/<device>/`), or [] when it matches
 * the document. Replies on a response topic outside the device tree are checked by the caller.
 */
export function checkPublished(base: string, topic: string, payload: Buffer | string): string[] {
  if (!topic.startsWith(`${base}/`)) return [`outside the device prefix: ${topic}`];
  const kind = classifyTopic(topic.slice(base.length + 1));
  if (kind.kind === "snapshot") {
    const b = Buffer.isBuffer(payload) ? payload : Buffer.from(payload, "latin1");
    return b[0] === 0xff && b[1] === 0xd8 ? [] : ["snapshot is not a JPEG"];
  }
  const schema = SCHEMA_BY_KIND[kind.kind];
  if (!schema) return [`not a topic of the document: ${topic}`];
  const text = payload.toString();
  if (kind.kind === "status") return validateAgainst(schema, text).map((p) => `${topic}: ${p}`);
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return [`${topic}: not JSON: ${text.slice(0, 80)}`];
  }
  return validateAgainst(schema, value).map((p) => `${topic}: ${p}`);
}
