import { execFile } from "node:child_process";
import { writeFileSync } from "node:fs";
import { PassThrough } from "node:stream";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";
import { createLogger, logFormatFromEnv, resolveLogFormat } from "../../agent/health/logger.js";
import { eva, logLines, writeTestConfig } from "../support/agent.js";
import { evaBin } from "../support/paths.js";

const run = promisify(execFile);

function capture(): { stream: PassThrough; text: () => string } {
  const stream = new PassThrough();
  let text = "";
  stream.on("data", (d: Buffer) => (text += d.toString()));
  return { stream, text: () => text };
}

describe("logs for people and for machines", () => {
  it("auto is pretty at a terminal and JSON otherwise; json and pretty are forced; EVA_LOG_FORMAT wins", () => {
    expect(resolveLogFormat("auto", true)).toBe("pretty");
    expect(resolveLogFormat("auto", false)).toBe("json");
    expect(resolveLogFormat("json", true)).toBe("json");
    expect(resolveLogFormat("pretty", false)).toBe("pretty");
    expect(logFormatFromEnv({ EVA_LOG_FORMAT: "pretty" })).toBe("pretty");
    expect(logFormatFromEnv({ EVA_LOG_FORMAT: "yaml" })).toBeUndefined();
  });

  it("json: one object per line with level, time and message; secrets redacted either way", () => {
    const out = capture();
    const log = createLogger({ format: "json", destination: out.stream });
    log.info({ camera: "gate", mqtt: { password: "hunter2" } }, "camera online");
    log.flush();
    const line = JSON.parse(out.text().trim()) as Record<string, unknown>;
    expect(line).toMatchObject({ level: 30, msg: "camera online", camera: "gate", app: "eva", mqtt: { password: "[redacted]" } });
    expect(line.time).toMatch(/^\d{4}-\d\d-\d\dT/);
  });

  it("pretty: a readable line per entry with time, level, message and fields, no colour codes off a terminal", () => {
    const out = capture();
    const log = createLogger({ format: "pretty", destination: out.stream });
    log.warn({ camera: "gate", reason: "Connection refused", password: "hunter2" }, "camera offline");
    const text = out.text();
    expect(text).toMatch(/^\[\d\d:\d\d:\d\d\.\d{3}\] WARN: camera offline \{.*"camera":"gate".*\}\n$/);
    expect(text).not.toContain("hunter2");
    expect(text).not.toContain("\u001b[");
  });

  it("eva run writes JSON to a pipe and readable lines to a terminal (a real pty from script(1))", async () => {
    // a model file that is not there: the agent logs why and exits at once, which is enough to see the format
    const { file } = writeTestConfig({ brokerUrl: "mqtt://127.0.0.1:1", cameras: { gate: { source: "/nonexistent.mp4" } } });
    writeFileSync(file, `${(await import("node:fs")).readFileSync(file, "utf8").replace(/path: [^,]+yolox_nano.onnx/, "path: /nonexistent/model.onnx")}`);
    const piped = await eva(["run", "--config", file]);
    expect(piped.code).toBe(1);
    expect(logLines(piped.stderr).some((l) => l.msg === "model failed to load; its cameras stay off")).toBe(true);

    const { stdout } = await run("script", ["-qec", `${process.execPath} ${evaBin} run --config ${file}`, "/dev/null"], {
      env: { ...process.env, TERM: "xterm" },
    }).catch((e: { stdout: string }) => ({ stdout: e.stdout }));
    // biome-ignore lint/suspicious/noControlCharactersInRegex: strips the terminal colour codes pino-pretty writes
    const plain = stdout.replace(/\u001b\[[0-9;]*m/g, "");
    expect(plain).toMatch(/\[\d\d:\d\d:\d\d\.\d{3}\] ERROR: model failed to load; its cameras stay off/);
    expect(plain).not.toMatch(/^\{"level"/m);
  });
});
