import { randomBytes } from "node:crypto";
import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { eva } from "../support/agent.js";
import { fileBroker } from "../support/broker.js";
import { configHead, writeConfigFile } from "../support/config.js";
import { MessageCollector } from "../support/mqtt.js";
import { RTSP_PASSWORD, RtspServer } from "../support/rtsp-server.js";

// The agent against GStreamer's RTSP server, as against an IP camera: Basic and Digest auth, TCP and UDP, a main
// stream and a sub-stream, the server gone and back, a wrong password and a stream that stalls.

const broker = await fileBroker();
const PW_ENV = "EVA_TEST_RTSP_PW";

interface Status {
  camera: string;
  state: string;
  reason: string | null;
  since: string;
  restarts: number;
}

/** A camera entry; the password comes from the environment, as a deployment's would. */
function camera(server: RtspServer, o: { transport: "tcp" | "udp"; sub?: boolean; password?: string }): string {
  const url = (mount: string) => server.url(mount, o.password ?? `\${${PW_ENV}}`);
  return `    source: "${url("/main")}"
${o.sub ? `    detect_source: "${url("/sub")}"\n` : ""}    rtsp_transport: ${o.transport}
    fps: 2
    stall_seconds: 5
    detect: {model: coco, width: 320, height: 180, labels: [person]}
`;
}

/** Starts `eva run` on these cameras; `secret` is an extra variable in its environment that ffmpeg must not get. */
async function runAgent(device: string, cameras: Record<string, string>) {
  const secret = randomBytes(8).toString("hex");
  const { file } = writeConfigFile(
    `${configHead({ brokerUrl: broker.url, deviceId: device, model: "fastestdet" })}cameras:\n${Object.entries(cameras)
      .map(([name, c]) => `  ${name}:\n${c}`)
      .join("")}`,
  );
  const sub = await MessageCollector.subscribe(broker.url, `eva/${device}/cameras/+/status`);
  let kill: (s: NodeJS.Signals) => void = () => {};
  const running = eva(["run", "--config", file], {
    timeoutMs: 120_000,
    env: { [PW_ENV]: RTSP_PASSWORD, EVA_TEST_SECRET: secret, EVA_LOG_FORMAT: "json" },
    onSpawn: (k) => (kill = k),
  });
  const statuses = (name: string): Status[] =>
    sub
      .on(`eva/${device}/cameras/${name}/status`)
      .map((m) => JSON.parse(m.payload) as Status)
      .filter((s) => s.camera === name);
  const until = (name: string, what: string, pred: (s: Status) => boolean, ms = 30_000) =>
    sub.until(() => statuses(name).some(pred), ms, `${name}: ${what}`).then(() => statuses(name).findLast(pred)!);
  const stop = async () => {
    kill("SIGTERM");
    const result = await running;
    await sub.close();
    return result;
  };
  return { file, secret, statuses, until, stop };
}

/** Every process's command line, and the environment of each ffmpeg started by a process whose environment holds `secret`. */
function processes(secret: string): { cmdlines: string[]; ffmpegEnvs: string[] } {
  const cmdlines: string[] = [];
  const ffmpegEnvs: string[] = [];
  const read = (file: string) => {
    try {
      return readFileSync(file, "utf8").split("\0").join(" ").trim();
    } catch {
      return ""; // the process has exited, or is not ours to read
    }
  };
  for (const pid of readdirSync("/proc").filter((p) => /^\d+$/.test(p))) {
    const cmdline = read(`/proc/${pid}/cmdline`);
    cmdlines.push(cmdline);
    if (!/^(\S*\/)?ffmpeg$/.test(cmdline.split(" ")[0]!)) continue;
    const ppid = read(`/proc/${pid}/stat`).split(") ")[1]?.split(" ")[1];
    if (ppid && read(`/proc/${ppid}/environ`).includes(secret)) ffmpegEnvs.push(read(`/proc/${pid}/environ`));
  }
  return { cmdlines, ffmpegEnvs };
}

describe("RTSP cameras (GStreamer's RTSP server)", () => {
  it("TCP with Basic auth and a sub-stream, UDP with Digest: online, password nowhere, back within 5 s of the server's return", {
    timeout: 90_000,
  }, async () => {
    const front = await RtspServer.create({ auth: "basic" });
    const yard = await RtspServer.create({ auth: "digest" });
    const agent = await runAgent("dev-rtsp", { front: camera(front, { transport: "tcp", sub: true }), yard: camera(yard, { transport: "udp" }) });
    try {
      await agent.until("front", "online", (s) => s.state === "online");
      await agent.until("yard", "online", (s) => s.state === "online");
      // The detector decodes the sub-stream; the main stream is not opened for it.
      expect(front.count("PLAY", "/sub")).toBeGreaterThanOrEqual(1);
      expect(front.count("PLAY", "/main")).toBe(0);

      const seen = processes(agent.secret);
      expect(seen.ffmpegEnvs.length).toBeGreaterThanOrEqual(2);
      for (const cmdline of seen.cmdlines) expect(cmdline).not.toContain(RTSP_PASSWORD);
      // ffmpeg gets a minimal environment: not the agent's, which holds its secrets
      for (const env of seen.ffmpegEnvs) {
        expect(env).not.toContain(agent.secret);
        expect(env).not.toContain(RTSP_PASSWORD);
        expect(env).toMatch(/(^| )PATH=/);
      }

      // The main stream over RTSP too: `eva preview` grabs its frame from `source`.
      const png = path.join(path.dirname(agent.file), "main.png");
      const preview = await eva(["preview", "--config", agent.file, "--camera", "front", "--out", png], { env: { [PW_ENV]: RTSP_PASSWORD } });
      expect(preview.code, preview.stderr).toBe(0);
      expect(front.count("DESCRIBE", "/main")).toBeGreaterThanOrEqual(1);
      expect(preview.stdout + preview.stderr).not.toContain(RTSP_PASSWORD);

      // Both cameras lose power for 5 s.
      const goneAt = Date.now();
      await Promise.all([front.stop(), yard.stop()]);
      await agent.until("front", "offline", (s) => s.state === "offline" && Date.parse(s.since) >= goneAt);
      await agent.until("yard", "offline", (s) => s.state === "offline" && Date.parse(s.since) >= goneAt);
      await new Promise((r) => setTimeout(r, Math.max(0, goneAt + 5000 - Date.now())));
      await Promise.all([front.start(), yard.start()]);
      const backAt = Date.now();
      const frontOnline = await agent.until("front", "online again", (s) => s.state === "online" && Date.parse(s.since) > goneAt);
      const yardOnline = await agent.until("yard", "online again", (s) => s.state === "online" && Date.parse(s.since) > goneAt);
      const figures = { tcp: Date.parse(frontOnline.since) - backAt, udp: Date.parse(yardOnline.since) - backAt };
      const firstAsk = (s: RtspServer) => (s.requestTimes.find((t) => t >= backAt) ?? Number.POSITIVE_INFINITY) - backAt;
      console.info(
        `RTSP camera online after the server's return: TCP ${figures.tcp} ms, UDP ${figures.udp} ms (first request after ${firstAsk(front)} / ${firstAsk(yard)} ms)`,
      );
      // Judged by the agent's part, not wall time (a loaded machine stretches ffmpeg's start): it asks again
      // without a backoff wait, the port probe having seen the server return.
      expect(firstAsk(front)).toBeLessThan(3000);
      expect(firstAsk(yard)).toBeLessThan(3000);
      // Never online while the server was gone.
      for (const name of ["front", "yard"]) {
        const wrong = agent.statuses(name).filter((s) => s.state === "online" && Date.parse(s.since) >= goneAt && Date.parse(s.since) < backAt);
        expect(wrong, name).toEqual([]);
      }
    } finally {
      const result = await agent.stop();
      expect(result.code, result.stderr.slice(-2000)).toBe(0);
      expect(result.stdout + result.stderr).not.toContain(RTSP_PASSWORD);
      expect(result.stderr).toMatch(/camera online/);
    }
  });

  it("a wrong password is an authentication error, retried slowly; a stalled stream is restarted by the watchdog and recovers", {
    timeout: 90_000,
  }, async () => {
    const locked = await RtspServer.create();
    const hung = await RtspServer.create({ auth: "digest" });
    const agent = await runAgent("dev-rtsp2", {
      locked: camera(locked, { transport: "tcp", password: "not-the-password" }),
      hung: camera(hung, { transport: "tcp" }),
    });
    try {
      const refused = await agent.until("locked", "refused", (s) => s.state === "offline" && /authentication/i.test(s.reason ?? ""));
      expect(refused.reason).not.toContain("not-the-password");
      const refusedAt = Date.now();

      await agent.until("hung", "online", (s) => s.state === "online");
      const pausedAt = Date.now();
      hung.pause();
      const stalled = await agent.until("hung", "stalled", (s) => s.state === "offline" && Date.parse(s.since) >= pausedAt);
      expect(stalled.reason).toMatch(/no frame|timed out/i);
      hung.resume();
      await agent.until("hung", "online again", (s) => s.state === "online" && Date.parse(s.since) > pausedAt);

      // At least 10 s since the refusal: a wrong password is not retried at the 0.5–4 s pace of a lost link.
      await new Promise((r) => setTimeout(r, Math.max(0, refusedAt + 10_000 - Date.now())));
      const attempts = locked.count("CONNECT");
      const window = Date.now() - refusedAt;
      expect(attempts).toBeGreaterThanOrEqual(1);
      expect(attempts).toBeLessThanOrEqual(1 + Math.ceil(window / 15_000));
      expect(agent.statuses("locked").every((s) => s.state === "offline")).toBe(true);
    } finally {
      const result = await agent.stop();
      expect(result.code, result.stderr.slice(-2000)).toBe(0);
      expect(result.stdout + result.stderr).not.toContain(RTSP_PASSWORD);
      expect(result.stderr).toMatch(/authentication/);
    }
  });
});
