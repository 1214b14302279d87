// systemd's service protocol (sd_notify): READY=1 once cameras run, WATCHDOG=1 while the event loop turns,
// STOPPING=1 on the way out, STATUS= for `systemctl status`.
//
// sd_notify is one datagram on the AF_UNIX socket in $NOTIFY_SOCKET, and Node has no unix datagram sockets
// without a native addon. `systemd-notify` is a child that exits at once: systemd before v254 attributes a
// message by looking up the sender's cgroup, and drops it when the sender is already gone (a documented race)
// — Ubuntu 22.04 (JetPack 6) ships 249. So the messages go through one long-lived python3 child (python3 is in
// every JetPack and Ubuntu image) that reads lines on stdin and sends each as a datagram; the unit says
// NotifyAccess=all. Without python3, `systemd-notify` per message is the fallback (warned about).
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import type { Logger } from "pino";

/** sd_watchdog_enabled(): half of WATCHDOG_USEC in ms when the watchdog is meant for this process, else null. */
export function watchdogIntervalMs(env: NodeJS.ProcessEnv, pid: number): number | null {
  const usec = Number(env.WATCHDOG_USEC);
  if (!env.WATCHDOG_USEC || !Number.isFinite(usec) || usec <= 0) return null;
  if (env.WATCHDOG_PID && Number(env.WATCHDOG_PID) !== pid) return null;
  return Math.max(50, Math.floor(usec / 2000));
}

/** One datagram's text; newlines would split it into other assignments, so they are flattened. */
export function notifyLine(fields: Record<string, string | number>): string[] {
  return Object.entries(fields).map(([k, v]) => `${k}=${String(v).replace(/[\r\n]+/g, " ")}`);
}

const SENDER = `
import os, socket, sys
addr = os.environ["NOTIFY_SOCKET"]
if addr.startswith("@"):
    addr = "\\0" + addr[1:]
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
for line in sys.stdin:
    try:
        s.sendto(line.rstrip("\\n").replace("\\x1f", "\\n").encode(), addr)
    except OSError as e:
        sys.stderr.write("sd_notify: %s\\n" % e)
        sys.stderr.flush()
`;

export interface ServiceNotifierOptions {
  env?: NodeJS.ProcessEnv;
  log: Logger;
  /** python3 to run the sender with (tests point it at /usr/bin/python3) */
  python?: string;
}

export class ServiceNotifier {
  private child: ChildProcess | null = null;
  private timer: NodeJS.Timeout | null = null;
  private warned = false;

  private constructor(
    private readonly env: NodeJS.ProcessEnv,
    private readonly log: Logger,
    private readonly python: string | null,
  ) {}

  /** null when not started by systemd with Type=notify (no NOTIFY_SOCKET): every call is then skipped. */
  static fromEnv(o: ServiceNotifierOptions): ServiceNotifier | null {
    const env = o.env ?? process.env;
    if (!env.NOTIFY_SOCKET) return null;
    const python = o.python ?? "python3";
    const ok = spawnSync(python, ["-c", "import socket"], { stdio: "ignore", timeout: 10_000 }).status === 0;
    if (!ok) o.log.warn("python3 not found: sd_notify falls back to systemd-notify, whose messages systemd < 254 may drop");
    return new ServiceNotifier(env, o.log, ok ? python : null);
  }

  /** Feeds systemd's watchdog every WATCHDOG_USEC/2 from the event loop: a blocked loop stops the feeding. */
  startWatchdog(): void {
    const every = watchdogIntervalMs(this.env, process.pid);
    if (every === null || this.timer) return;
    this.send({ WATCHDOG: 1 });
    this.timer = setInterval(() => this.send({ WATCHDOG: 1 }), every);
    this.timer.unref();
    this.log.info({ interval_ms: every }, "systemd watchdog fed");
  }

  ready(status: string): void {
    this.send({ READY: 1, STATUS: status });
  }

  status(status: string): void {
    this.send({ STATUS: status });
  }

  /** Says the stop has begun; the watchdog keeps being fed until close() so a slow flush is not killed. */
  stopping(status = "stopping"): void {
    this.send({ STOPPING: 1, STATUS: status });
  }

  async close(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    const child = this.child;
    this.child = null;
    if (!child || child.exitCode !== null) return;
    await new Promise<void>((resolve) => {
      child.once("exit", () => resolve());
      child.stdin?.end();
      setTimeout(() => {
        child.kill("SIGKILL");
        resolve();
      }, 2000).unref();
    });
  }

  private send(fields: Record<string, string | number>): void {
    // One datagram per call: its assignments joined by a separator the sender turns back into newlines.
    const line = notifyLine(fields).join("\x1f");
    if (!this.python) {
      const c = spawn("systemd-notify", notifyLine(fields), { stdio: "ignore" });
      c.on("error", (err) => this.warnOnce(`systemd-notify failed: ${err.message}`));
      c.unref();
      return;
    }
    const child = this.sender();
    if (child?.stdin?.writable) child.stdin.write(`${line}\n`);
  }

  private sender(): ChildProcess | null {
    if (this.child && this.child.exitCode === null) return this.child;
    const child = spawn(this.python!, ["-u", "-c", SENDER], { stdio: ["pipe", "ignore", "pipe"], env: this.env });
    child.on("error", (err) => this.warnOnce(`sd_notify sender failed: ${err.message}`));
    child.stderr?.on("data", (d: Buffer) => this.warnOnce(d.toString().trim()));
    child.stdin?.on("error", () => {});
    // Neither the child nor its pipes keep eva alive: they end with it (EOF on stdin ends the sender).
    child.unref();
    (child.stdin as unknown as { unref?: () => void }).unref?.();
    (child.stderr as unknown as { unref?: () => void }).unref?.();
    this.child = child;
    return child;
  }

  private warnOnce(msg: string): void {
    if (this.warned) return;
    this.warned = true;
    this.log.warn({ err: msg }, "sd_notify message not sent");
  }
}
