import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { notifyLine, watchdogIntervalMs } from "../../agent/health/service-watchdog.js";
import { eva, logLines, writeTestConfig } from "../support/agent.js";
import { fileBroker } from "../support/broker.js";
import { emptyClip } from "../support/clips.js";

describe("sd_notify pieces (pure)", () => {
  it("feeds at half of WATCHDOG_USEC, only when the watchdog is this process's", () => {
    expect(watchdogIntervalMs({ WATCHDOG_USEC: "30000000" }, 42)).toBe(15_000);
    expect(watchdogIntervalMs({ WATCHDOG_USEC: "30000000", WATCHDOG_PID: "42" }, 42)).toBe(15_000);
    expect(watchdogIntervalMs({ WATCHDOG_USEC: "30000000", WATCHDOG_PID: "7" }, 42)).toBeNull();
    expect(watchdogIntervalMs({}, 42)).toBeNull();
    expect(watchdogIntervalMs({ WATCHDOG_USEC: "nonsense" }, 42)).toBeNull();
  });
  it("keeps a status text on one line", () => {
    expect(notifyLine({ READY: 1, STATUS: "running:\n2 cameras" })).toEqual(["READY=1", "STATUS=running: 2 cameras"]);
  });
});

// systemd's side of the protocol: a unix datagram socket (Node cannot open one, python3 can), one line per message.
const RECEIVER = `
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
print("bound", flush=True)
while True:
    print(s.recv(4096).decode().replace("\\n", "|"), flush=True)
`;

const broker = await fileBroker();

describe("eva run under a notify socket (real CLI, real datagrams)", () => {
  let dir: string;
  let receiver: ChildProcess;
  const messages: string[] = [];
  beforeAll(async () => {
    dir = mkdtempSync(path.join(tmpdir(), "eva-notify-"));
    receiver = spawn("/usr/bin/python3", ["-u", "-c", RECEIVER, path.join(dir, "notify.sock")], { stdio: ["ignore", "pipe", "inherit"] });
    await new Promise<void>((resolve) => {
      let buf = "";
      receiver.stdout!.on("data", (d: Buffer) => {
        buf += d.toString();
        const lines = buf.split("\n");
        buf = lines.pop()!;
        for (const l of lines)
          if (l === "bound") resolve();
          else messages.push(l);
      });
    });
  });
  afterAll(async () => {
    receiver?.kill();
    rmSync(dir, { recursive: true, force: true });
  });

  it("says READY once cameras run, feeds the watchdog, says STOPPING on SIGTERM and exits cleanly in bounded time", async () => {
    const clip = await emptyClip(3, 10);
    const { file } = writeTestConfig({ brokerUrl: broker.url, model: "fastestdet", cameras: { gate: { source: clip, extra: "    loop: true\n" } } });
    let termAt = 0;
    const waitFor = async (cond: () => boolean, ms: number) => {
      const end = Date.now() + ms;
      while (!cond() && Date.now() < end) await new Promise((r) => setTimeout(r, 50));
      return cond();
    };
    const run = eva(["run", "--config", file], {
      timeoutMs: 90_000,
      env: { NOTIFY_SOCKET: path.join(dir, "notify.sock"), WATCHDOG_USEC: "400000", EVA_STOP_TIMEOUT_SECONDS: "15" },
      onSpawn: (kill) => {
        void (async () => {
          const ready = await waitFor(() => messages.some((m) => m.startsWith("READY=1")), 60_000);
          const fed = ready && (await waitFor(() => messages.filter((m) => m === "WATCHDOG=1").length >= 4, 20_000));
          if (!fed) return;
          termAt = Date.now();
          kill("SIGTERM");
        })();
      },
    });
    const result = await run;
    const stopMs = Date.now() - termAt;
    expect(termAt, `no READY/WATCHDOG seen: ${messages.join(", ")}\n${result.stderr.slice(-2000)}`).toBeGreaterThan(0);
    expect(result.code).toBe(0);
    // Well inside systemd's TimeoutStopSec (30 s in scripts/jetson/eva.service) on a loaded 2-core machine.
    expect(stopMs).toBeLessThan(15_000);
    expect(messages.find((m) => m.startsWith("READY=1"))).toMatch(/STATUS=running: 1 cameras, cpu/);
    expect(messages.indexOf(messages.find((m) => m.startsWith("STATUS=starting"))!)).toBeLessThan(messages.findIndex((m) => m.startsWith("READY=1")));
    expect(messages.some((m) => m.startsWith("STOPPING=1"))).toBe(true);
    const logs = logLines(result.stderr).map((l) => l.msg);
    expect(logs).toContain("systemd watchdog fed");
    expect(logs).toContain("eva stopped");
  });

  it("a stop that overruns EVA_STOP_TIMEOUT_SECONDS ends the process anyway, with an error and exit 1", async () => {
    messages.length = 0;
    const clip = await emptyClip(3, 10);
    const { file } = writeTestConfig({ brokerUrl: broker.url, model: "fastestdet", cameras: { gate: { source: clip, extra: "    loop: true\n" } } });
    const result = await eva(["run", "--config", file], {
      timeoutMs: 90_000,
      // 0 s: shorter than any real stop (ffmpeg has to exit first), so the deadline always wins.
      env: { NOTIFY_SOCKET: path.join(dir, "notify.sock"), EVA_STOP_TIMEOUT_SECONDS: "0" },
      onSpawn: (kill) => {
        const started = setInterval(() => {
          if (!messages.some((m) => m.startsWith("READY=1"))) return;
          clearInterval(started);
          kill("SIGTERM");
        }, 50);
      },
    });
    expect(result.code).toBe(1);
    expect(logLines(result.stderr).map((l) => l.msg)).toContain("stop did not finish in time: exiting");
  });
});
