import path from "node:path";
import { fileURLToPath } from "node:url";

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
/** read-only models and pictures beside the checkout (never copied into the repo) */
export const shared = path.resolve(repoRoot, "../shared");
export const evaBin = path.join(repoRoot, "dist/agent/cli/main.js");
