import { spawn } from "node:child_process";
import { existsSync } from "node:fs";

// Prometheus' own linter for the exposition format and naming conventions (`promtool check metrics`: counters
// end in _total, base units, no `_ms`, help text on every metric). Debian ships it in the `prometheus` package;
// .ci/run extracts just the promtool binary from it (no server installed or started).

const CANDIDATES = [process.env.PROMTOOL_BIN, "/usr/local/bin/promtool", "/usr/bin/promtool"].filter((p): p is string => !!p);

export function promtoolPath(): string {
  const found = CANDIDATES.find((p) => existsSync(p));
  if (!found) throw new Error("promtool not found (bash .ci/run installs it from Debian's prometheus package, or set PROMTOOL_BIN)");
  return found;
}

/** Runs `promtool check metrics` on an exposition text; resolves with its exit code and what it printed. */
export function promtoolCheckMetrics(text: string): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(promtoolPath(), ["check", "metrics"], { stdio: ["pipe", "pipe", "pipe"] });
    let output = "";
    child.stdout.on("data", (d: Buffer) => (output += d.toString()));
    child.stderr.on("data", (d: Buffer) => (output += d.toString()));
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, output }));
    child.stdin.end(text);
  });
}

/** One sample line's value by metric name and exact labels, from an exposition text. */
export function sampleValue(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  for (const line of text.split("\n")) {
    if (line.startsWith("#")) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)/.exec(line);
    if (!m || m[1] !== name) continue;
    const got = Object.fromEntries([...(m[3] ?? "").matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)].map((x) => [x[1], x[2]]));
    if (Object.keys(got).length === Object.keys(labels).length && Object.entries(labels).every(([k, v]) => got[k] === v)) return Number(m[4]);
  }
  return undefined;
}
