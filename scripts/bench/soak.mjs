// Soak: runs `eva run` on N looping real-time copies of a clip for a while and samples the agent's RSS (and its
// ffmpeg children's) from /proc, then reports the growth over the last part of the run. A script, not a CI
// test: 45 minutes is the point.
// usage: node scripts/bench/soak.mjs --config eva.yaml --clip CLIP [--cameras 4] [--minutes 45] [--judge-minutes 30]
//        [--every 30]
// Builds a config from the given one's models, detector and first camera (source replaced by the clip, looped),
// prints one line per sample and a JSON summary; exits 1 when RSS grew by 2 % or more over the judged window.
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const { values: a } = parseArgs({
  options: {
    config: { type: "string" },
    clip: { type: "string" },
    cameras: { type: "string", default: "4" },
    minutes: { type: "string", default: "45" },
    "judge-minutes": { type: "string", default: "30" },
    every: { type: "string", default: "30" },
  },
});
if (!a.config || !a.clip) {
  console.error("soak: --config FILE and --clip FILE are required");
  process.exit(2);
}
const { loadConfigFile } = await import(path.join(repoRoot, "dist/agent/config/load.js"));
const { config } = loadConfigFile(a.config);
const [first] = Object.values(config.cameras);
const dir = mkdtempSync(path.join(tmpdir(), "eva-soak-"));
const cameras = {};
for (let i = 1; i <= Number(a.cameras); i++) cameras[`soak${i}`] = { ...first, source: path.resolve(a.clip), loop: true, realtime: true, enabled: true };
const cfg = { ...config, cameras, storage: { db: path.join(dir, "soak.db"), snapshots: path.join(dir, "snapshots") }, health: { ...config.health, port: 0 } };
const file = path.join(dir, "soak.json");
writeFileSync(file, JSON.stringify(cfg)); // YAML is a superset of JSON
const agent = spawn(process.execPath, [path.join(repoRoot, "dist/agent/cli/main.js"), "run", "--config", file], {
  stdio: ["ignore", "ignore", "inherit"],
  env: { ...process.env, EVA_LOG_LEVEL: "warn" },
});

const rssKb = (pid) => {
  try {
    return Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))[1]);
  } catch {
    return NaN;
  }
};
const samples = [];
const start = Date.now();
const end = start + Number(a.minutes) * 60_000;
while (Date.now() < end && agent.exitCode === null) {
  await new Promise((r) => setTimeout(r, Number(a.every) * 1000));
  const s = { minute: (Date.now() - start) / 60_000, rssMb: rssKb(agent.pid) / 1024 };
  samples.push(s);
  console.log(`${s.minute.toFixed(1).padStart(6)} min  RSS ${s.rssMb.toFixed(1)} MB`);
}
const exitedEarly = agent.exitCode !== null;
agent.kill("SIGTERM");
const judged = samples.filter((s) => s.minute >= Number(a.minutes) - Number(a["judge-minutes"]));
const growth = judged.length > 1 ? (judged.at(-1).rssMb - judged[0].rssMb) / judged[0].rssMb : NaN;
console.log(
  JSON.stringify({
    cameras: Number(a.cameras),
    minutes: Number(a.minutes),
    judged_minutes: Number(a["judge-minutes"]),
    rss_start_mb: judged[0]?.rssMb,
    rss_end_mb: judged.at(-1)?.rssMb,
    growth_percent: Math.round(growth * 1000) / 10,
    agent_exited_early: exitedEarly,
  }),
);
process.exit(Number.isFinite(growth) && growth < 0.02 && !exitedEarly ? 0 : 1);
