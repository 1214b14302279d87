import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import pg from "pg";
import { loadIngestConfig, postgresConnectionString } from "../../agent/ingest/config.js";

const dir = mkdtempSync(path.join(tmpdir(), "eva-ingest-cfg-"));
const file = (name: string, text: string): string => {
  const p = path.join(dir, name);
  writeFileSync(p, text);
  return p;
};

describe("ingest config", () => {
  it("takes secrets from the environment and from a file; the command line wins", () => {
    const pw = file("pw", "s3cret\n");
    const f = file(
      "a.yaml",
      `ingest:\n  mqtt: { url: "mqtts://b:8883", username: u, password_file: ${pw} }\n  postgres: { url: "postgres://eva:\${PGPW}@db/eva" }\n  group: g1\n`,
    );
    const c = loadIngestConfig(f, { group: "g2" }, { PGPW: "pgpw" });
    expect(c.mqtt.password).toBe("s3cret");
    expect(c.postgres.url).toBe("postgres://eva:pgpw@db/eva");
    expect(c.group).toBe("g2");
    expect(c.lanes).toBe(4);
    expect(c.batch).toEqual({ max_messages: 2000, linger_ms: 5 });
  });

  it("reads the PostgreSQL password from a file; TLS settings in one place only", () => {
    const pw = file("pgpw", "pg-secret\n");
    const c = loadIngestConfig(
      undefined,
      { mqtt: { url: "mqtt://b" }, postgres: { url: "postgres://eva@db/eva", password_file: pw, ssl: { ca: "/ca.pem" } } },
      {},
    );
    expect(c.postgres.password).toBe("pg-secret");
    // node-postgres takes the URL's (empty) password over a password option: it goes into the URL, encoded
    const odd = loadIngestConfig(undefined, { mqtt: { url: "mqtt://b" }, postgres: { url: "postgres://eva@db:5432/eva", password: "a:b/c@d%" } }, {});
    expect(new pg.Client({ connectionString: postgresConnectionString(odd) }).password).toBe("a:b/c@d%");
    expect(c.postgres.ssl).toEqual({ ca: "/ca.pem", reject_unauthorized: true });
    expect(() => loadIngestConfig(undefined, { mqtt: { url: "mqtt://b" }, postgres: { url: "postgres://eva:x@db/eva", password_file: pw } }, {})).toThrow(
      /a password both in the url and in postgres\.password/,
    );
    expect(() =>
      loadIngestConfig(undefined, { mqtt: { url: "mqtt://b" }, postgres: { url: "postgres://eva@db/eva?sslmode=verify-full", ssl: { ca: "/ca.pem" } } }, {}),
    ).toThrow(/TLS in both the url/);
  });

  it("names the file and key of what is wrong", () => {
    const f = file("b.yaml", `mqtt: { url: "http://x" }\npostgres: { url: "postgres://\${NOPE}@db/x" }\n`);
    expect(() => loadIngestConfig(f, {}, {})).toThrow(`${f}: postgres.url: environment variable NOPE is not set`);
    const g = file("c.yaml", `mqtt: { url: "http://x" }\npostgres: { url: "postgres://db/x" }\nlanes: 0\n`);
    expect(() => loadIngestConfig(g, {}, {})).toThrow(/c\.yaml: mqtt\.url: use mqtt:\/\/[\s\S]*c\.yaml: lanes:/);
    expect(() => loadIngestConfig(undefined, { mqtt: { url: "mqtt://x" } }, {})).toThrow(/command line: postgres/);
  });
});
