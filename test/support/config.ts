import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { shared } from "./paths.js";

export type SharedModel = "yolox" | "fastestdet";

/** A `models:` entry for one of the COCO detectors in ../shared/models, as a YAML flow value. */
export function sharedModelEntry(model: SharedModel = "yolox"): string {
  const file = model === "fastestdet" ? "fastestdet.onnx" : "yolox_nano.onnx";
  return `{path: ${path.join(shared, "models", file)}, labels: ${path.join(shared, "models/coco.names")}}`;
}

/**
 * The part every agent test config shares: the device, the test broker (short keepalive and reconnect, so a
 * restarted broker is found again quickly), SQLite and snapshots beside the config, the model `coco` (plus
 * `models`, name → YAML flow value) on one CPU thread. Cameras and other sections follow it.
 */
export function configHead(o: { brokerUrl: string; deviceId: string; model?: SharedModel; models?: Record<string, string> }): string {
  return `device: {id: ${o.deviceId}}
mqtt: {url: "${o.brokerUrl}", topic_prefix: eva, keepalive: 5, reconnect_seconds: 0.5}
storage: {db: eva.db, snapshots: snapshots}
models:
  coco: ${sharedModelEntry(o.model)}
${Object.entries(o.models ?? {})
  .map(([n, v]) => `  ${n}: ${v}\n`)
  .join("")}detector: {providers: [cpu], threads: 1}
`;
}

/** Writes config text as eva.yaml into `dir` (default: a fresh temp dir); returns its path and dir. */
export function writeConfigFile(text: string, dir = mkdtempSync(path.join(tmpdir(), "eva-run-"))): { file: string; dir: string } {
  const file = path.join(dir, "eva.yaml");
  writeFileSync(file, text);
  return { file, dir };
}
