import { execFileSync, spawnSync } from "node:child_process";
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { repoRoot } from "../support/paths.js";

const hasVerify = spawnSync("systemd-analyze", ["--version"], { stdio: "ignore" }).status === 0;
const unitText = readFileSync(path.join(repoRoot, "scripts/jetson/eva.service"), "utf8");
const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

/** Runs scripts/install-service with DESTDIR from a copy of the app whose unit is `unit`. */
function install(unit: string) {
  const t = mkdtempSync(path.join(tmpdir(), "eva-unit-"));
  dirs.push(t);
  const app = path.join(t, "app");
  mkdirSync(path.join(app, "dist/agent/cli"), { recursive: true });
  writeFileSync(path.join(app, "dist/agent/cli/main.js"), "");
  mkdirSync(path.join(app, "scripts/jetson"), { recursive: true });
  cpSync(path.join(repoRoot, "scripts/install-service"), path.join(app, "scripts/install-service"));
  cpSync(path.join(repoRoot, "config"), path.join(app, "config"), { recursive: true });
  writeFileSync(path.join(app, "scripts/jetson/eva.service"), unit);
  const r = spawnSync(path.join(app, "scripts/install-service"), ["--no-start", "--config", "/etc/eva/site.yaml"], {
    env: { ...process.env, DESTDIR: path.join(t, "dest") },
    encoding: "utf8",
  });
  return { ...r, dest: path.join(t, "dest"), app };
}

describe("the systemd unit and scripts/install-service", () => {
  it("asks for what a months-long deployment needs", () => {
    for (const line of [
      "Type=notify",
      "NotifyAccess=all",
      "Restart=on-failure",
      "User=eva",
      "StateDirectory=eva",
      "StandardError=journal",
      "NoNewPrivileges=yes",
      "ProtectSystem=strict",
      "LimitNOFILE=65536",
      "TasksMax=512",
      "MemoryMax=90%",
    ]) {
      expect(unitText).toContain(`\n${line}\n`);
    }
    // The agent feeds the watchdog every WatchdogSec/2 and stops within 20 s (EVA_STOP_TIMEOUT_SECONDS).
    expect(Number(/\nWatchdogSec=(\d+)s\n/.exec(unitText)?.[1])).toBeGreaterThanOrEqual(30);
    expect(Number(/\nTimeoutStopSec=(\d+)s\n/.exec(unitText)?.[1])).toBeGreaterThan(20);
  });

  it("installs the unit with this machine's node, app folder and config path, and a config to start from", () => {
    const r = install(unitText);
    expect(r.status, r.stderr).toBe(0);
    const unit = readFileSync(path.join(r.dest, "etc/systemd/system/eva.service"), "utf8");
    const node = execFileSync("bash", ["-c", "command -v node"], { encoding: "utf8" }).trim();
    expect(unit).toContain(`\nExecStart=${node} ${r.app}/dist/agent/cli/main.js run --config /etc/eva/site.yaml\n`);
    expect(readFileSync(path.join(r.dest, "etc/eva/site.yaml"), "utf8")).toBe(readFileSync(path.join(repoRoot, "config/example.yaml"), "utf8"));
  });

  it.skipIf(!hasVerify)("passes systemd-analyze verify, and a unit with a mistake does not install", () => {
    expect(install(unitText).status).toBe(0);
    const broken = install(unitText.replace("Restart=on-failure", "Restart=sometimes").replace("NoNewPrivileges=yes", "NoNewPrivilege=yes"));
    expect(broken.status).toBe(1);
    expect(broken.stderr).toMatch(/restart specifier|Unknown key 'NoNewPrivilege'/);
  });
});
