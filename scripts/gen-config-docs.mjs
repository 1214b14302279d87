#!/usr/bin/env node
// Writes config/eva.schema.json and the key table in config/README.md from agent/config/schema.ts.
// Usage: npm run gen:config-docs            (builds dist/ first)
//        node scripts/gen-config-docs.mjs --check   exit 1 when the committed files are stale
import { readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const gen = await import(path.join(root, "dist/agent/config/json-schema.js")).catch(() => {
  console.error("gen-config-docs: dist/ is missing; run `npm run build` first");
  process.exit(1);
});

const schemaFile = path.join(root, "config", gen.SCHEMA_FILE_NAME);
const readmeFile = path.join(root, "config/README.md");
const read = (f) => {
  try {
    return readFileSync(f, "utf8");
  } catch {
    return "";
  }
};
const wanted = [
  [schemaFile, gen.configJsonSchemaText()],
  [readmeFile, gen.withKeyTable(read(readmeFile))],
];

const check = process.argv.includes("--check");
let stale = 0;
for (const [file, text] of wanted) {
  if (read(file) === text) continue;
  stale++;
  if (check) console.error(`${path.relative(root, file)} is stale: run npm run gen:config-docs`);
  else {
    writeFileSync(file, text);
    console.log(`wrote ${path.relative(root, file)}`);
  }
}
process.exit(check && stale ? 1 : 0);
