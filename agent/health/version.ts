import { readFileSync } from "node:fs";

let cached: string | null = null;

/** The agent's version from package.json (from agent/ when run from source, from dist/agent/ when built). */
export function agentVersion(): string {
  if (cached) return cached;
  for (const rel of ["../../package.json", "../../../package.json"]) {
    try {
      const pkg = JSON.parse(readFileSync(new URL(rel, import.meta.url), "utf8")) as { name?: string; version?: string };
      if (pkg.name === "eva" && pkg.version) return (cached = pkg.version);
    } catch {
      // not at this level
    }
  }
  return (cached = "unknown");
}
