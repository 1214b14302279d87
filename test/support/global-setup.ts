import { execFileSync } from "node:child_process";
import path from "node:path";
import { repoRoot as root } from "./paths.js";

export default function setup(): void {
  // the agent, then the web console's page (its own browser program)
  for (const project of ["tsconfig.json", "agent/console/web/tsconfig.json"]) {
    execFileSync(process.execPath, [path.join(root, "node_modules/typescript/bin/tsc"), "-p", path.join(root, project)], {
      cwd: root,
      stdio: "inherit",
    });
  }
}
