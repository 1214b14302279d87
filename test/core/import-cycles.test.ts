import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { repoRoot } from "../support/paths.js";

// The folders under agent/ are the pipeline's layers: data flows one way, so no folder may import a folder that
// imports it back, directly or through others. Files at agent/'s top (the controller) wire everything and count
// as no folder.

const agent = path.join(repoRoot, "agent");
const IMPORT = /(?:^|[\s;])(?:import|export)\s[^'"]*?from\s*["'](\.[^"']+)["']|import\(\s*["'](\.[^"']+)["']\s*\)/g;

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) return sources(p);
    return /\.ts$/.test(e.name) && !e.name.endsWith(".d.ts") ? [p] : [];
  });
}

/** First-level folder under agent/ of a file, or null for agent/'s own files and anything outside it. */
function folderOf(file: string): string | null {
  const rel = path.relative(agent, file).split(path.sep);
  return rel.length > 1 && rel[0] !== ".." ? rel[0]! : null;
}

/** folder → folders it imports, with one file:import that shows each edge. */
function folderImports(files: readonly string[]): Map<string, Map<string, string>> {
  const edges = new Map<string, Map<string, string>>();
  for (const file of files) {
    const from = folderOf(file);
    if (!from) continue;
    const text = readFileSync(file, "utf8");
    for (const m of text.matchAll(IMPORT)) {
      const spec = (m[1] ?? m[2])!;
      const to = folderOf(path.resolve(path.dirname(file), spec));
      if (!to || to === from) continue;
      const out = edges.get(from) ?? new Map<string, string>();
      if (!out.has(to)) out.set(to, `${path.relative(repoRoot, file)} imports ${spec}`);
      edges.set(from, out);
    }
  }
  return edges;
}

/** Strongly connected components of more than one folder (Tarjan): each is a set of folders in a cycle. */
function cycles(edges: Map<string, Map<string, string>>): string[][] {
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const out: string[][] = [];
  let next = 0;
  const visit = (v: string) => {
    index.set(v, next);
    low.set(v, next++);
    stack.push(v);
    onStack.add(v);
    for (const w of edges.get(v)?.keys() ?? []) {
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, index.get(w)!));
    }
    if (low.get(v) === index.get(v)) {
      const scc: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        onStack.delete(w);
        scc.push(w);
      } while (w !== v);
      if (scc.length > 1) out.push(scc.sort());
    }
  };
  for (const v of edges.keys()) if (!index.has(v)) visit(v);
  return out;
}

/** One edge of a cycle per line, with the import that makes it. */
function describe_(scc: string[], edges: Map<string, Map<string, string>>): string {
  const inside = new Set(scc);
  const lines = scc.flatMap((a) => [...(edges.get(a) ?? [])].filter(([b]) => inside.has(b)).map(([b, why]) => `  ${a} → ${b} (${why})`));
  return `cycle between ${scc.join(", ")}:\n${lines.join("\n")}`;
}

describe("folder layering under agent/", () => {
  it("finds a cycle when there is one (the checker itself)", () => {
    const e = new Map([
      ["a", new Map([["b", "x"]])],
      ["b", new Map([["c", "y"]])],
      ["c", new Map([["a", "z"]])],
      ["d", new Map([["a", "w"]])],
    ]);
    expect(cycles(e)).toEqual([["a", "b", "c"]]);
  });

  it("has no folder-level import cycle", () => {
    const edges = folderImports(sources(agent));
    // The scan must see the real imports, or it passes on nothing.
    expect(edges.get("parts")?.has("events")).toBe(true);
    const found = cycles(edges).map((scc) => describe_(scc, edges));
    expect(found, found.join("\n")).toEqual([]);
  });
});
