import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import pino from "pino";
import { checkConfigText } from "../../agent/check/config-check.js";
import type { LoadedConfig } from "../../agent/config/load.js";
import { Agent } from "../../agent/controller.js";
import { configHead, writeConfigFile } from "./config.js";

/**
 * A config for an agent run inside the test process, with the shared YOLOX-Nano model. The default camera's
 * source refuses at once: for tests of reload and persistence, not of the pictures.
 */
export function agentConfigText(o: { brokerUrl: string; extraTop?: string; camera?: string }): string {
  return `${configHead({ brokerUrl: o.brokerUrl, deviceId: "dev-p" })}${o.extraTop ?? ""}
cameras:
  a:
${
  o.camera ??
  `    source: rtsp://127.0.0.1:9/none
    detect: {model: coco, width: 320, height: 192, labels: [person]}`
}
`;
}

/** Checks config text as the reloader does and returns what it loads; throws with the problems otherwise. */
export async function loadText(text: string, file: string): Promise<LoadedConfig> {
  const r = await checkConfigText(text, file, {});
  if (!r.loaded) throw new Error(r.problems.map((p) => `${p.path}: ${p.message}`).join("; "));
  return r.loaded;
}

/** Starts an Agent in-process on a fresh temp dir (or `dir`, where an earlier run left its database); `stop` ends it. */
export async function startAgent(
  text: string,
  dir = mkdtempSync(path.join(tmpdir(), "eva-agent-")),
): Promise<{ agent: Agent; dir: string; file: string; stop: () => Promise<void> }> {
  const { file } = writeConfigFile(text, dir);
  const agent = new Agent(await loadText(text, file), pino({ level: process.env.EVA_TEST_LOG ?? "silent" }));
  await agent.start();
  return { agent, dir, file, stop: () => agent.stop(0) };
}
