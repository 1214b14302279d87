import { spawn } from "node:child_process";
import { configHead, type SharedModel, writeConfigFile } from "./config.js";
import { evaBin } from "./paths.js";

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs the compiled `eva` CLI (dist/ is built by the test global setup). */
export function eva(
  args: string[],
  opts: { timeoutMs?: number; env?: NodeJS.ProcessEnv; onSpawn?: (kill: (sig: NodeJS.Signals) => void) => void } = {},
): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [evaBin, ...args], { env: { ...process.env, ...opts.env }, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`eva ${args.join(" ")} timed out\nstdout: ${stdout}\nstderr: ${stderr.slice(-3000)}`));
    }, opts.timeoutMs ?? 60_000);
    opts.onSpawn?.((sig) => child.kill(sig));
    child.on("error", reject);
    child.on("close", (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/** Parsed pino lines from a run's stderr. */
export function logLines(stderr: string): Array<Record<string, unknown> & { msg: string }> {
  return stderr
    .split("\n")
    .filter((l) => l.startsWith("{"))
    .map((l) => JSON.parse(l) as Record<string, unknown> & { msg: string });
}

export interface TestConfigOptions {
  brokerUrl: string;
  deviceId?: string;
  /** realtime: false reads a file source with backpressure: every frame analysed, dated by its place in the clip */
  cameras: Record<string, { source: string; fps?: number; labels?: string[]; extra?: string; realtime?: boolean }>;
  model?: SharedModel;
  /** more entries under models (name → YAML flow value), e.g. a crop classifier for a camera's classify rules */
  models?: Record<string, string>;
}

/** Writes a config for a shared COCO model (YOLOX-Nano unless `model`) into a fresh temp dir; returns its path and dir. */
export function writeTestConfig(o: TestConfigOptions): { file: string; dir: string } {
  const cams = Object.entries(o.cameras)
    .map(
      ([name, c]) => `  ${name}:
    source: ${c.source}
    fps: ${c.fps ?? 5}
${c.realtime === false ? "    realtime: false\n" : ""}    stall_seconds: 5
    detect: {model: coco, width: 640, height: 360, labels: [${(c.labels ?? ["person"]).join(", ")}], min_score: 0.4}
    events: {min_frames: 2, end_after_seconds: 1, update_interval_seconds: 1}
${c.extra ?? ""}`,
    )
    .join("\n");
  return writeConfigFile(`${configHead({ brokerUrl: o.brokerUrl, deviceId: o.deviceId ?? "test-dev", model: o.model, models: o.models })}cameras:
${cams}
`);
}
