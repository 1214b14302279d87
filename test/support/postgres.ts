import { execFileSync, spawnSync } from "node:child_process";
import { chmodSync, chownSync, existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort } from "./ports.js";

const BIN = process.env.PG_BIN ?? "/usr/lib/postgresql/15/bin";

/**
 * A throw-away PostgreSQL cluster for one test file: initdb into a temp folder, pg_ctl on a free port on
 * 127.0.0.1 (trust auth, no socket files elsewhere). PostgreSQL refuses to run as root, so as root the cluster
 * belongs to and runs as the `postgres` user.
 */
export class TestPostgres {
  readonly url: string;
  private readonly data: string;
  private readonly logPath: string;

  private constructor(
    private readonly dir: string,
    readonly port: number,
  ) {
    this.data = join(dir, "data");
    this.logPath = join(dir, "postgres.log");
    this.url = `postgres://postgres@127.0.0.1:${port}/postgres`;
  }

  static async start(): Promise<TestPostgres> {
    if (!existsSync(join(BIN, "initdb"))) throw new Error(`initdb not found in ${BIN} (apt-get install postgresql, or set PG_BIN)`);
    const dir = mkdtempSync(join(tmpdir(), "eva-pg-"));
    chmodSync(dir, 0o755);
    if (process.getuid?.() === 0) {
      const ids = execFileSync("id", ["-u", "postgres"]).toString().trim();
      const gid = execFileSync("id", ["-g", "postgres"]).toString().trim();
      chownSync(dir, Number(ids), Number(gid));
    }
    const pg = new TestPostgres(dir, await freePort());
    pg.pg("initdb", ["-D", pg.data, "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync"]);
    await pg.startServer();
    return pg;
  }

  /** Runs a PostgreSQL program, as `postgres` when we are root; throws with its output on failure. */
  private pg(program: string, args: string[]): string {
    const cmd = join(BIN, program);
    const r =
      process.getuid?.() === 0
        ? spawnSync("runuser", ["-u", "postgres", "--", cmd, ...args], { encoding: "utf8" })
        : spawnSync(cmd, args, { encoding: "utf8" });
    if (r.status !== 0) throw new Error(`${program} ${args.join(" ")} failed (${r.status}): ${r.stdout}${r.stderr}${this.log()}`);
    return r.stdout;
  }

  async startServer(): Promise<void> {
    // fsync off: the tests kill processes, not the machine; unix_socket_directories in the temp folder.
    const opts = `-p ${this.port} -c listen_addresses=127.0.0.1 -c unix_socket_directories=${this.dir} -c fsync=off -c max_connections=100`;
    this.pg("pg_ctl", ["-D", this.data, "-l", this.logPath, "-o", opts, "-w", "-t", "60", "start"]);
  }

  /** Fast shutdown: open connections are cut, as when the server goes down under a client. */
  async stopServer(): Promise<void> {
    this.pg("pg_ctl", ["-D", this.data, "-m", "fast", "-w", "-t", "60", "stop"]);
  }

  async restart(): Promise<void> {
    await this.stopServer();
    await this.startServer();
  }

  log(): string {
    try {
      return readFileSync(this.logPath, "utf8").slice(-3000);
    } catch {
      return "";
    }
  }

  async dispose(): Promise<void> {
    try {
      this.pg("pg_ctl", ["-D", this.data, "-m", "immediate", "-w", "stop"]);
    } catch {
      // already stopped
    }
    rmSync(this.dir, { recursive: true, force: true });
  }
}
