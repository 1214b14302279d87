import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { ConfigError, loadConfigFile, parseConfig } from "../../agent/config/load.js";

const good = `device: {id: box1}
models:
  m: {path: x.onnx}
cameras:
  front:
    source: a.mp4
    detect: {model: m}
`;

function problems(text: string, env: NodeJS.ProcessEnv = {}) {
  try {
    parseConfig(text, "c.yaml", env);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as ConfigError).problems;
  }
  throw new Error("expected a ConfigError");
}

describe("config loader", () => {
  it("fills defaults and resolves paths against the config's folder", () => {
    const cfg = parseConfig(good, "/etc/eva/eva.yaml");
    expect(cfg.models.m!.path).toBe("/etc/eva/x.onnx");
    expect(cfg.cameras.front!.source).toBe("/etc/eva/a.mp4");
    expect(cfg.cameras.front!.fps).toBe(5);
    expect(cfg.cameras.front!.events.min_frames).toBe(3);
    expect(cfg.detector.providers).toEqual(["tensorrt", "cuda", "cpu"]);
    expect(cfg.mqtt.topic_prefix).toBe("eva");
  });

  it("keeps URLs and devices as written", () => {
    const cfg = parseConfig(good.replace("a.mp4", "rtsp://cam/1"), "/etc/eva/eva.yaml");
    expect(cfg.cameras.front!.source).toBe("rtsp://cam/1");
  });

  it("places an unknown key at its own line and column", () => {
    const [p, ...rest] = problems(good.replace("source: a.mp4", "source: a.mp4\n    fsp: 3"));
    expect(rest).toEqual([]);
    expect(p).toMatchObject({ file: "c.yaml", line: 7, col: 5, path: "cameras.front.fsp", message: "unknown key 'fsp'" });
  });

  it("places a wrong type at the value", () => {
    const [p] = problems(good.replace("a.mp4", "a.mp4\n    fps: fast"));
    expect(p).toMatchObject({ line: 7, col: 10, path: "cameras.front.fps" });
    expect(p!.message).toMatch(/number/);
  });

  it("reports every problem, including a camera naming an unknown model", () => {
    const ps = problems(good.replace("{model: m}", "{model: q, min_score: 2}"));
    expect(ps.map((p) => p.path).sort()).toEqual(["cameras.front.detect.min_score", "cameras.front.detect.model"]);
    expect(ps.find((p) => p.path.endsWith("model"))!.message).toContain("unknown model 'q'");
  });

  it("reports a YAML syntax error once, with its place", () => {
    const ps = problems("device: [\nmodels: {}\n");
    expect(ps).toHaveLength(1);
    expect(ps[0]!.message).toMatch(/^YAML syntax/);
    expect(ps[0]!.line).toBeGreaterThan(0);
  });

  it("reports missing top-level keys", () => {
    const ps = problems("device: {id: x}\n");
    expect(ps.map((p) => p.path).sort()).toEqual(["cameras", "models"]);
  });

  it("substitutes ${VAR} and reports unset ones where they are used", () => {
    const withEnv = good.replace("{id: box1}", "\n  id: box1\nmqtt:\n  password: ${PW}");
    expect(parseConfig(withEnv, "c.yaml", { PW: "s3cret" }).mqtt.password).toBe("s3cret");
    const [p] = problems(withEnv);
    expect(p).toMatchObject({ line: 4, path: "mqtt.password", message: "environment variable PW is not set" });
  });

  it("rejects names that cannot be MQTT topic levels", () => {
    const [p] = problems(good.replace("front:", "front door:"));
    expect(p!.path).toBe("cameras.front door");
  });

  it("turns a missing file into a problem naming it", () => {
    const dir = mkdtempSync(path.join(tmpdir(), "eva-cfg-"));
    expect(() => loadConfigFile(path.join(dir, "nope.yaml"))).toThrow(/nope.yaml:1:1 \(file\): file not found/);
    writeFileSync(path.join(dir, "ok.yaml"), good);
    expect(loadConfigFile(path.join(dir, "ok.yaml")).config.device.id).toBe("box1");
  });
});
