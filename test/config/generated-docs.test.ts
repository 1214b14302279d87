import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import Ajv2020 from "ajv/dist/2020.js";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import { configJsonSchema, configJsonSchemaText, configKeyRows, SCHEMA_HEADER, withKeyTable } from "../../agent/config/json-schema.js";
import { repoRoot } from "../support/paths.js";

const configDir = path.join(repoRoot, "config");
const read = (name: string) => readFileSync(path.join(configDir, name), "utf8");
const examples = readdirSync(configDir).filter((f) => /\.ya?ml$/.test(f));

describe("files generated from the config schema", () => {
  it("config/eva.schema.json and the key table in config/README.md are up to date (npm run gen:config-docs)", () => {
    expect(read("eva.schema.json")).toBe(configJsonSchemaText());
    const readme = read("README.md");
    expect(readme).toBe(withKeyTable(readme));
  });

  it("every example config starts with the yaml-language-server schema line and is valid under the JSON Schema", () => {
    expect(examples.length).toBeGreaterThan(0);
    const ajv = new Ajv2020.default({ strict: false, allErrors: true });
    const validate = ajv.compile(configJsonSchema());
    for (const f of examples) {
      expect(read(f).split("\n")[0], f).toBe(SCHEMA_HEADER);
      expect(validate(parse(read(f))), `${f}: ${JSON.stringify(validate.errors)}`).toBe(true);
    }
  });

  it("the JSON Schema flags what the loader flags: an unknown key, a wrong type", () => {
    const ajv = new Ajv2020.default({ strict: false });
    const validate = ajv.compile(configJsonSchema());
    const base = parse(read(examples[0]!)) as { cameras: Record<string, Record<string, unknown>> };
    const cam = Object.keys(base.cameras)[0]!;
    const typo = structuredClone(base);
    typo.cameras[cam]!.fsp = 5;
    expect(validate(typo)).toBe(false);
    const wrong = structuredClone(base);
    wrong.cameras[cam]!.fps = "fast";
    expect(validate(wrong)).toBe(false);
  });

  it("the table has a row for every key, with type, default and meaning", () => {
    const rows = configKeyRows();
    const byKey = new Map(rows.map((r) => [r.key, r]));
    expect(byKey.get("cameras.<name>.fps")).toMatchObject({ type: "number (0.1–120)", default: "5", meaning: "frames per second decoded and analysed" });
    expect(byKey.get("models.<name>.path")).toMatchObject({ required: true });
    expect(byKey.get("mqtt.password")?.meaning).toContain("ENV_VAR");
    expect(rows.length).toBeGreaterThan(35);
  });
});
