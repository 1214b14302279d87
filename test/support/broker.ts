import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { connect as tcpConnect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll } from "vitest";
import { freePort } from "./ports.js";

const MOSQUITTO = process.env.MOSQUITTO_BIN ?? "/usr/sbin/mosquitto";

/** A real mosquitto on 127.0.0.1 for one test file; restart() keeps the port and, with persistence, the sessions. */
export class TestBroker {
  readonly url: string;
  private proc: ChildProcess | null = null;
  private readonly dir: string;
  private readonly confPath: string;
  private readonly logPath: string;

  private acl: string | null = null;

  private constructor(readonly port: number) {
    this.url = `mqtt://127.0.0.1:${port}`;
    this.dir = mkdtempSync(join(tmpdir(), "eva-mosquitto-"));
    this.confPath = join(this.dir, "mosquitto.conf");
    this.logPath = join(this.dir, "mosquitto.log");
  }

  /** Mosquitto ACL lines (e.g. `topic read #`) for anonymous clients, or null for none; read at the next start. */
  setAcl(acl: string | null): void {
    this.acl = acl;
  }

  private writeConfig(): void {
    const lines = [
      `listener ${this.port} 127.0.0.1`,
      "allow_anonymous true",
      // Persistence so that a restart keeps the test subscriber's session and the messages queued for it, as a
      // production broker would; without it, messages published while the subscriber reconnects are lost.
      "persistence true",
      `persistence_location ${this.dir}/`,
      "autosave_interval 0",
      // Large, not 0 ("unlimited"): mosquitto 2.0.11 with 0 drops a client right after denying it a QoS 1 publish.
      "max_queued_messages 1000000",
      `log_dest file ${this.logPath}`,
      "log_type error",
      "log_type warning",
      "log_type notice",
      "log_type information",
    ];
    if (this.acl !== null) {
      const aclPath = join(this.dir, "acl");
      writeFileSync(aclPath, `${this.acl}\n`);
      lines.push(`acl_file ${aclPath}`);
    }
    // Run as root, mosquitto drops to the 'mosquitto' user, which cannot write our temp dir.
    if (process.getuid?.() === 0) lines.push("user root");
    writeFileSync(this.confPath, `${lines.join("\n")}\n`);
  }

  /** A broker with a free port reserved in name only: not running until start(). */
  static async create(): Promise<TestBroker> {
    if (!existsSync(MOSQUITTO)) {
      throw new Error(`mosquitto not found at ${MOSQUITTO} (apt-get install mosquitto, or set MOSQUITTO_BIN)`);
    }
    return new TestBroker(await freePort());
  }

  /** create() + start(). */
  static async start(): Promise<TestBroker> {
    const b = await TestBroker.create();
    await b.start();
    return b;
  }

  get running(): boolean {
    return this.proc !== null;
  }

  async start(): Promise<void> {
    if (this.proc) return;
    this.writeConfig();
    const proc = spawn(MOSQUITTO, ["-c", this.confPath], { stdio: ["ignore", "ignore", "pipe"] });
    let stderr = "";
    proc.stderr?.on("data", (d: Buffer) => (stderr += d.toString()));
    let exited = false;
    proc.once("exit", () => (exited = true));
    this.proc = proc;
    const deadline = Date.now() + 5000;
    while (!(await canConnect(this.port))) {
      if (exited || Date.now() > deadline) {
        this.proc = null;
        proc.kill("SIGKILL");
        throw new Error(`mosquitto did not start on port ${this.port}: ${stderr}${this.log()}`);
      }
      await sleep(20);
    }
  }

  /** SIGTERM and wait for the exit (mosquitto saves its persistence file on the way out). */
  async stop(): Promise<void> {
    const proc = this.proc;
    if (!proc) return;
    this.proc = null;
    if (proc.exitCode !== null || proc.signalCode !== null) return;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => proc.kill("SIGKILL"), 3000);
      proc.once("exit", () => {
        clearTimeout(timer);
        resolve();
      });
      proc.kill("SIGTERM");
    });
  }

  /** Rewrites the config and has the running broker reload it (SIGHUP: ACL changes apply, clients stay). */
  async reload(): Promise<void> {
    if (!this.proc) return;
    const before = this.log().length;
    this.writeConfig();
    this.proc.kill("SIGHUP");
    const deadline = Date.now() + 3000;
    while (!this.log().slice(before).includes("Reloading config")) {
      if (Date.now() > deadline) throw new Error(`mosquitto did not reload its config: ${this.log().slice(before)}`);
      await sleep(10);
    }
  }

  /** Stop, then start on the same port. */
  async restart(): Promise<void> {
    await this.stop();
    await this.start();
  }

  /** The broker's log, for failure messages. */
  log(): string {
    try {
      return readFileSync(this.logPath, "utf8");
    } catch {
      return "";
    }
  }

  /** stop() and remove the temp dir. */
  async dispose(): Promise<void> {
    await this.stop();
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/**
 * One broker for the calling test file, removed after its last test: `const broker = await fileBroker();` at the
 * top of the file (vitest awaits a test file's top-level await before it runs the tests).
 */
export async function fileBroker(): Promise<TestBroker> {
  const broker = await TestBroker.start();
  afterAll(() => broker.dispose());
  return broker;
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = tcpConnect({ port, host: "127.0.0.1" });
    s.once("connect", () => {
      s.destroy();
      resolve(true);
    });
    s.once("error", () => resolve(false));
  });
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
