import { readFileSync } from "node:fs";
import path from "node:path";
import { isScalar, LineCounter, parseDocument, visit, type Document } from "yaml";
import { configSchema, crossReferenceProblems, type Config } from "./schema.js";

/** One problem in a config file, placed where an installer's editor can jump to it. */
export interface ConfigProblem {
  file: string;
  line: number;
  col: number;
  /** dotted key path, e.g. cameras.front.detect.model ("" for the whole file) */
  path: string;
  message: string;
}

export class ConfigError extends Error {
  readonly code = "EVA_CONFIG";
  constructor(readonly problems: ConfigProblem[]) {
    super(problems.map(formatProblem).join("\n"));
  }
}

export function formatProblem(p: ConfigProblem): string {
  return `${p.file}:${p.line}:${p.col} ${p.path || "(file)"}: ${p.message}`;
}

export interface LoadedConfig {
  config: Config;
  /** absolute path of the file it came from; relative paths inside resolve against its folder */
  file: string;
  /** the text that was parsed, for hashing and reload diffs */
  text: string;
}

export function loadConfigFile(file: string, env: NodeJS.ProcessEnv = process.env): LoadedConfig {
  const text = readConfigText(file);
  if (typeof text !== "string") throw new ConfigError([text]);
  return { config: parseConfig(text, file, env), file: path.resolve(file), text };
}

/** The file's text, or the problem that kept it from being read (placed at its first line). */
export function readConfigText(file: string): string | ConfigProblem {
  try {
    return readFileSync(file, "utf8");
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    const why = e.code === "ENOENT" ? "file not found" : e.code === "EISDIR" ? "is a folder, not a file" : e.message;
    return { file, line: 1, col: 1, path: "", message: why };
  }
}

/** Parses and validates YAML text; throws ConfigError listing every problem with its line and column. */
export function parseConfig(text: string, file: string, env: NodeJS.ProcessEnv = process.env): Config {
  const r = parseConfigLayers(text, file, env);
  if (!r.config) throw new ConfigError(r.problems);
  return r.config;
}

export interface ParsedLayers {
  /** the validated config, when the schema accepts the text */
  config?: Config;
  /** the YAML as plain data with paths resolved against the file's folder, when the YAML itself parses */
  raw?: unknown;
  problems: ConfigProblem[];
}

/**
 * Parses YAML text and validates it, keeping what each layer found: a schema error does not hide the
 * cross-references (an unknown model) the schema could not reach, and the raw data stays for the file checks.
 */
export function parseConfigLayers(text: string, file: string, env: NodeJS.ProcessEnv = process.env): ParsedLayers {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true });
  const at = (offset: number) => {
    const { line, col } = lineCounter.linePos(offset);
    return { line, col };
  };

  const problems: ConfigProblem[] = [];
  // After the first syntax error the parser's later complaints are mostly echoes of it: report that one.
  const syntax = doc.errors[0];
  if (syntax) {
    return { problems: [{ file, ...at(syntax.pos[0]), path: keyPathAt(doc, syntax.pos[0]), message: `YAML syntax: ${firstLine(syntax.message)}` }] };
  }

  substituteEnv(doc, env, (offset, message, keyPath) => problems.push({ file, ...at(offset), path: keyPath, message }));
  if (problems.length) return { problems };

  let raw: unknown;
  try {
    raw = doc.toJS({ maxAliasCount: 1000 }) ?? {};
  } catch (err) {
    // toJS throws for an alias whose anchor is missing or comes later, and for alias bombs.
    return { problems: [{ file, ...aliasProblem(doc, at), message: `YAML: ${firstLine((err as Error).message)}` }] };
  }
  const dir = path.dirname(path.resolve(file));
  const result = configSchema.safeParse(raw);
  if (result.success) return { config: resolvePaths(result.data, dir), raw: resolvePaths(structuredClone(raw) as Config, dir), problems };

  for (const issue of result.error.issues) {
    const keys = issue.path.map(String);
    let keyPath = keys;
    let message = issue.message;
    if (issue.code === "unrecognized_keys") {
      // Point at the unknown key itself, not at its parent mapping.
      for (const k of issue.keys) {
        keyPath = [...keys, k];
        problems.push({ file, ...at(offsetOf(doc, keyPath, true)), path: keyPath.join("."), message: `unknown key '${k}'` });
      }
      continue;
    }
    if (issue.code === "invalid_type" && message.includes("received undefined")) message = "required key is missing";
    else if (message.startsWith("Invalid input")) message = expectedMessage(issue, valueAt(raw, issue.path));
    else if (issue.code === "invalid_union") message = `${message}, got ${shown(valueAt(raw, issue.path))}`;
    problems.push({ file, ...at(offsetOf(doc, keyPath, false)), path: keyPath.join("."), message });
  }
  // The schema's cross-key checks run only on a valid config; run them on the raw data too.
  for (const r of crossReferenceProblems(raw)) {
    const keyPath = r.path.map(String);
    if (problems.some((p) => p.path === keyPath.join(".") && p.message === r.message)) continue;
    problems.push({ file, ...at(offsetOf(doc, keyPath, false)), path: keyPath.join("."), message: r.message });
  }
  let resolved: unknown = raw;
  try {
    resolved = resolvePaths(structuredClone(raw) as Config, dir);
  } catch {
    // a shape too broken to resolve paths in: the file checks skip what they cannot read
  }
  return { raw: resolved, problems };
}

type Issue = { code: string; message: string; expected?: string; values?: unknown[]; errors?: Issue[][]; minimum?: unknown; maximum?: unknown };

const NOUNS: Record<string, string> = {
  number: "a number",
  int: "a whole number",
  string: "text",
  boolean: "true or false",
  array: "a list",
  object: "a mapping",
  record: "a mapping",
  tuple: "a list",
};

/** What a value should have been, in an installer's words: "expected a number or 'auto', got 'one'". */
function expectedMessage(issue: Issue, value: unknown): string {
  const got = `, got ${shown(value)}`;
  if (issue.code === "invalid_type" && issue.expected) return `expected ${NOUNS[issue.expected] ?? issue.expected}${got}`;
  if (issue.code === "invalid_value" && issue.values) return `expected ${issue.values.map(shown).join(" or ")}${got}`;
  if (issue.code === "invalid_union" && issue.errors?.length) {
    const alternatives = issue.errors.map((alt) => {
      const first = alt[0];
      if (first?.code === "invalid_type" && first.expected) return NOUNS[first.expected] ?? first.expected;
      if (first?.code === "invalid_value" && first.values) return first.values.map(shown).join(" or ");
      return null;
    });
    if (alternatives.every((a) => a !== null)) return `expected ${[...new Set(alternatives)].join(" or ")}${got}`;
  }
  return `${issue.message}${got}`;
}

function shown(v: unknown): string {
  if (typeof v === "string") return `'${v}'`;
  if (v === null) return "null";
  if (Array.isArray(v)) return "a list";
  if (typeof v === "object") return "a mapping";
  return String(v);
}

function valueAt(raw: unknown, keys: readonly PropertyKey[]): unknown {
  let v = raw;
  for (const k of keys) v = v && typeof v === "object" ? (v as Record<PropertyKey, unknown>)[k] : undefined;
  return v;
}

/** Line and column of a key path in config text (of its nearest existing ancestor when it is not written). */
export function locate(text: string, keyPath: readonly (string | number)[]): { line: number; col: number } {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: false });
  return lineCounter.linePos(offsetOf(doc, keyPath.map(String), false));
}

/** Dotted path of the deepest key whose entry contains `offset`: where a syntax error sits. */
function keyPathAt(doc: Document, offset: number): string {
  const keys: string[] = [];
  let node = doc.contents as { items?: unknown[] } | null;
  for (let depth = 0; node?.items && depth < 64; depth++) {
    let next: { items?: unknown[] } | null = null;
    node.items.forEach((item, i) => {
      const pair = item as { key?: { value?: unknown; range?: number[] } | null; value?: { range?: number[] } | null; range?: number[] };
      const start = pair.key?.range?.[0] ?? pair.value?.range?.[0] ?? pair.range?.[0];
      const end = pair.value?.range?.[2] ?? pair.key?.range?.[2] ?? pair.range?.[2];
      if (start === undefined || end === undefined || offset < start || offset > end) return;
      keys.push(pair.key ? String(pair.key.value) : String(i));
      next = (pair.key ? pair.value : pair) as { items?: unknown[] } | null;
    });
    node = next;
  }
  return keys.join(".");
}

/** Where the first alias that does not resolve sits (else the first alias): the usual cause of a toJS failure. */
function aliasProblem(doc: Document, at: (offset: number) => { line: number; col: number }): { line: number; col: number; path: string } {
  let found: { line: number; col: number; path: string } | null = null;
  visit(doc, {
    Alias(_key, node, ancestors) {
      let resolves = false;
      try {
        resolves = node.resolve(doc) !== undefined;
      } catch {
        resolves = false;
      }
      if (found && resolves) return;
      found = { ...at(node.range?.[0] ?? 0), path: keyPathOf(ancestors) };
      if (!resolves) return visit.BREAK;
    },
  });
  return found ?? { line: 1, col: 1, path: "" };
}

function firstLine(s: string): string {
  return s.split("\n")[0]!;
}

/** Source offset of the node at keyPath (or of its key), walking up to the nearest existing ancestor. */
function offsetOf(doc: Document, keyPath: string[], wantKey: boolean): number {
  for (let n = keyPath.length; n >= 0; n--) {
    const p = keyPath.slice(0, n);
    if (wantKey && n === keyPath.length && n > 0) {
      const parent = p.length > 1 ? doc.getIn(p.slice(0, -1), true) : doc.contents;
      const pair = (parent as { items?: { key: { value?: unknown; range?: [number, number, number] } }[] } | null)?.items?.find(
        (it) => String(it.key?.value) === p[p.length - 1],
      );
      if (pair?.key?.range) return pair.key.range[0];
      continue;
    }
    const node = (n === 0 ? doc.contents : doc.getIn(p, true)) as { range?: [number, number, number] } | null;
    if (node?.range) return node.range[0];
  }
  return 0;
}

const ENV_REF = /\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g;

/** Replaces ${VAR} in scalar values in place, so secrets stay out of the file and line numbers stay true. */
function substituteEnv(doc: Document, env: NodeJS.ProcessEnv, report: (offset: number, message: string, keyPath: string) => void) {
  visit(doc, {
    Scalar(_key, node, ancestors) {
      if (typeof node.value !== "string" || !node.value.includes("${")) return;
      node.value = node.value.replace(ENV_REF, (_m, name: string) => {
        const v = env[name];
        if (v === undefined) {
          report(node.range?.[0] ?? 0, `environment variable ${name} is not set`, keyPathOf(ancestors));
          return "";
        }
        return v;
      });
    },
  });
}

function keyPathOf(ancestors: readonly unknown[]): string {
  const keys: string[] = [];
  for (const a of ancestors) {
    const key = (a as { key?: unknown }).key;
    if (key && isScalar(key)) keys.push(String(key.value));
  }
  return keys.join(".");
}

/** Relative paths made the config folder's; written defensively, as it also runs on data the schema rejected. */
function resolvePaths(cfg: Config, dir: string): Config {
  const abs = (p: unknown) => (typeof p !== "string" ? p : path.isAbsolute(p) ? p : path.resolve(dir, p)) as string;
  const obj = (v: unknown) => (v && typeof v === "object" && !Array.isArray(v) ? (v as Record<string, unknown>) : null);
  const storage = obj(cfg.storage);
  if (storage) for (const k of ["db", "snapshots", "clips"]) if (storage[k] !== undefined) storage[k] = abs(storage[k]);
  for (const m of Object.values(obj(cfg.models) ?? {})) {
    const model = obj(m);
    if (!model) continue;
    if (model.path !== undefined) model.path = abs(model.path);
    if (model.labels) model.labels = abs(model.labels);
  }
  const tensorrt = obj(obj(cfg.detector)?.tensorrt);
  if (tensorrt?.engine_cache !== undefined) tensorrt.engine_cache = abs(tensorrt.engine_cache);
  const tls = obj(obj(cfg.mqtt)?.tls);
  if (tls) for (const k of ["ca", "cert", "key"]) if (tls[k]) tls[k] = abs(tls[k]);
  const webhookTls = obj(obj(obj(cfg.sinks)?.webhook)?.tls);
  if (webhookTls?.ca) webhookTls.ca = abs(webhookTls.ca);
  for (const c of Object.values(obj(cfg.cameras) ?? {})) {
    const cam = obj(c);
    // A source with a scheme (rtsp://, http://) or a device stays as written; a relative file path is the config's.
    for (const key of ["source", "detect_source"]) {
      const s = cam?.[key];
      if (typeof s === "string" && !/^[a-z][a-z0-9+.-]*:/i.test(s) && !s.startsWith("/")) cam![key] = abs(s);
    }
    const gps = obj(cam?.gps);
    if (gps?.track !== undefined) gps.track = abs(gps.track);
  }
  return cfg;
}
