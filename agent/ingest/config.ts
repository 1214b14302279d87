import { readFileSync } from "node:fs";
import { hostname } from "node:os";
import { parse as parseYaml } from "yaml";
import { z } from "zod";

/** A config problem: file and key path with what is wrong. */
export class IngestConfigError extends Error {
  readonly code = "EVA_INGEST_CONFIG";
}

const tlsFile = z.string().min(1).optional();

export const ingestConfigSchema = z.strictObject({
  mqtt: z.strictObject({
    url: z.string().regex(/^(mqtts?|wss?):\/\//, "use mqtt://, mqtts://, ws:// or wss://"),
    username: z.string().optional(),
    password: z.string().optional(),
    /** the password read from a file (a container secret, a systemd credential); trailing newline dropped */
    password_file: z.string().min(1).optional(),
    ca: tlsFile.describe("PEM file of the CA that signed the broker's certificate"),
    cert: tlsFile.describe("client certificate (PEM), for brokers that authenticate clients by certificate"),
    key: tlsFile,
    reject_unauthorized: z.boolean().default(true),
  }),
  postgres: z.strictObject({
    url: z.string().regex(/^postgres(ql)?:\/\//, "use postgres://user:password@host:5432/db"),
    /** instead of one in the url (e.g. `${EVA_PG_PASSWORD}`) */
    password: z.string().optional(),
    /** the password read from a file, so that neither the URL nor the config holds it; trailing newline dropped */
    password_file: z.string().min(1).optional(),
    ssl: z
      .strictObject({
        ca: tlsFile.describe("PEM file of the CA that signed the server's certificate"),
        cert: tlsFile.describe("client certificate (PEM), for servers that authenticate by certificate (hostssl ... cert)"),
        key: tlsFile,
        reject_unauthorized: z.boolean().default(true),
      })
      .optional(),
  }),
  group: z
    .string()
    .regex(/^[^/+#]+$/, "no /, + or #")
    .default("eva-ingest"),
  prefix: z.string().min(1).default("eva"),
  /** lanes are `<client_id>-<n>`: the same id after a restart resumes the same sessions */
  client_id: z.string().min(1).default(`eva-ingest-${hostname()}`),
  lanes: z.number().int().min(1).max(64).default(4),
  /** messages a connection may hold unacknowledged (MQTT 5 Receive Maximum); brokers cap it (mosquitto: max_inflight_messages) */
  receive_maximum: z.number().int().min(1).max(65_535).default(1000),
  session_expiry_seconds: z.number().int().min(60).default(86_400),
  batch: z.strictObject({ max_messages: z.number().int().min(1).max(10_000).default(2000), linger_ms: z.number().int().min(0).default(5) }).prefault({}),
  max_message_bytes: z.number().int().min(1024).default(262_144),
  health: z.strictObject({ port: z.number().int().min(0).max(65535).default(9465), host: z.string().default("127.0.0.1") }).prefault({}),
  log: z.strictObject({ level: z.string().default("info") }).prefault({}),
});
export type IngestConfig = z.infer<typeof ingestConfigSchema>;

/** ${VAR} in every string value, so secrets stay in the environment (or a file the service manager reads). */
function substituteEnv(v: unknown, env: NodeJS.ProcessEnv, path: string, file: string): unknown {
  if (typeof v === "string") {
    return v.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g, (_, name: string) => {
      const value = env[name];
      if (value === undefined) throw new IngestConfigError(`${file}: ${path}: environment variable ${name} is not set`);
      return value;
    });
  }
  if (Array.isArray(v)) return v.map((x, i) => substituteEnv(x, env, `${path}[${i}]`, file));
  if (v && typeof v === "object") return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, substituteEnv(x, env, path ? `${path}.${k}` : k, file)]));
  return v;
}

/**
 * The ingest's settings: the YAML file (optional), then the command line over it. Errors name the file and the
 * key path.
 */
export function loadIngestConfig(file: string | undefined, overrides: Record<string, unknown>, env: NodeJS.ProcessEnv = process.env): IngestConfig {
  let raw: Record<string, unknown> = {};
  const where = file ?? "command line";
  if (file) {
    let text: string;
    try {
      text = readFileSync(file, "utf8");
    } catch (err) {
      throw new IngestConfigError(`${file}: cannot read: ${(err as Error).message}`);
    }
    let doc: unknown;
    try {
      doc = parseYaml(text);
    } catch (err) {
      throw new IngestConfigError(`${file}: YAML: ${(err as Error).message.split("\n")[0]}`);
    }
    const root = (doc ?? {}) as Record<string, unknown>;
    raw = (root.ingest ?? root) as Record<string, unknown>;
    raw = substituteEnv(raw, env, "", file) as Record<string, unknown>;
  }
  const merged = deepMerge(raw, overrides);
  const r = ingestConfigSchema.safeParse(merged);
  if (!r.success) {
    const lines = r.error.issues.map((i) => `${where}: ${i.path.join(".") || "(top)"}: ${i.message}`);
    throw new IngestConfigError(lines.join("\n"));
  }
  const cfg = r.data;
  if (cfg.mqtt.password_file) {
    if (cfg.mqtt.password !== undefined) throw new IngestConfigError(`${where}: mqtt: password and password_file are exclusive`);
    cfg.mqtt.password = readSecret(where, "mqtt.password_file", cfg.mqtt.password_file);
  }
  // node-postgres lets TLS settings in the URL replace the `ssl` object whole: one place only, or a CA is dropped.
  if (cfg.postgres.ssl && /[?&](ssl|sslmode|sslrootcert|sslcert|sslkey)=/.test(cfg.postgres.url))
    throw new IngestConfigError(`${where}: postgres: TLS in both the url (ssl...=) and postgres.ssl; give it in one of them`);
  if (cfg.postgres.password_file) {
    if (cfg.postgres.password !== undefined) throw new IngestConfigError(`${where}: postgres: password and password_file are exclusive`);
    cfg.postgres.password = readSecret(where, "postgres.password_file", cfg.postgres.password_file);
  }
  if (cfg.postgres.password !== undefined && /^postgres(ql)?:\/\/[^/@]*:[^/@]*@/.test(cfg.postgres.url))
    throw new IngestConfigError(`${where}: postgres: a password both in the url and in postgres.password(_file)`);
  return cfg;
}

/**
 * The URL node-postgres connects with: postgres.password goes into it, as node-postgres lets the URL's (even an
 * empty one) win over a `password` option.
 */
export function postgresConnectionString(cfg: IngestConfig): string {
  if (cfg.postgres.password === undefined) return cfg.postgres.url;
  const u = new URL(cfg.postgres.url);
  u.password = encodeURIComponent(cfg.postgres.password);
  return u.toString();
}

function readSecret(where: string, key: string, file: string): string {
  try {
    return readFileSync(file, "utf8").replace(/\r?\n$/, "");
  } catch (err) {
    throw new IngestConfigError(`${where}: ${key}: ${(err as Error).message}`);
  }
}

function deepMerge(a: Record<string, unknown>, b: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...a };
  for (const [k, v] of Object.entries(b)) {
    if (v === undefined) continue;
    const prev = out[k];
    out[k] =
      v && typeof v === "object" && !Array.isArray(v) && prev && typeof prev === "object"
        ? deepMerge(prev as Record<string, unknown>, v as Record<string, unknown>)
        : v;
  }
  return out;
}
