import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { cameraShapes, inDirection, shapesOutsideFrame, toPixels } from "../../agent/config/camera-shapes.js";
import { checkConfigFile, checkConfigText, semanticProblems } from "../../agent/config/check.js";
import { eva } from "../support/agent.js";
import { shared } from "../support/paths.js";

const model = path.join(shared, "models/yolox_nano.onnx");
const text = (modelPath: string, detect = "{model: m, width: 640, height: 360}") => `device: {id: box1}
models:
  m: {path: ${modelPath}}
cameras:
  front:
    source: rtsp://cam/1
    detect: ${detect}
`;

describe("checks beyond the schema (check-config and every reload)", () => {
  it("a valid config with a real model passes", () => {
    expect(checkConfigText(text(model), "/tmp/eva.yaml", {}).problems).toEqual([]);
  });

  it("a missing model file is placed at models.<name>.path", () => {
    expect(checkConfigText(text("/nonexistent/m.onnx"), "/tmp/eva.yaml", {}).problems).toEqual([
      { file: "/tmp/eva.yaml", line: 3, col: 13, path: "models.m.path", message: "model file not found: /nonexistent/m.onnx" },
    ]);
  });

  it("a file that is not ONNX is named as such, quickly (header parse, no session)", () => {
    const dir = mkdtempSync(path.join(tmpdir(), "eva-check-"));
    const bad = path.join(dir, "bad.onnx");
    writeFileSync(bad, "<html>404 not found</html>\n");
    const [p] = checkConfigText(text(bad), "/tmp/eva.yaml", {}).problems;
    expect(p).toMatchObject({ line: 3, path: "models.m.path" });
    expect(p!.message).toMatch(/is not an ONNX model/);
  });

  it("zones, lines and masks outside the detect frame are placed at their points (keys from the analytics schema)", () => {
    // The zone/line keys arrive with issue 4's schema; here they are added to an already-parsed config.
    const t = text(model, "{model: m}"); // size from the model: 416×416
    const loaded = checkConfigText(t, "/tmp/eva.yaml", {}).loaded!;
    Object.assign(loaded.config.cameras.front!, {
      zones: { door: { points: [[0.1, 0.1], [0.9, 0.1], [0.5, 0.9]] } },
      lines: { gate: { points: [[10, 400], [500, 400]] } },
    });
    expect(semanticProblems(loaded)).toEqual([
      // not written in this text, so placed at the nearest key that is: the camera
      { file: "/tmp/eva.yaml", line: 6, col: 5, path: "cameras.front.lines.gate.points.1", message: "line 'gate' point [500, 400] is outside the 416×416 detect frame" },
    ]);
  });

  it("a missing config file is a problem value, not a throw", () => {
    expect(checkConfigFile("/nonexistent/eva.yaml").problems).toEqual([{ file: "/nonexistent/eva.yaml", line: 1, col: 1, path: "", message: "file not found" }]);
  });

  it("eva check-config prints the semantic problems with their place and exits 1", async () => {
    const dir = mkdtempSync(path.join(tmpdir(), "eva-check-"));
    const file = path.join(dir, "eva.yaml");
    writeFileSync(file, text("missing.onnx"));
    const r = await eva(["check-config", file]);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe(`${file}:3:13 models.m.path: model file not found: ${path.join(dir, "missing.onnx")}\n`);
    writeFileSync(file, text(model));
    expect((await eva(["check-config", file])).code).toBe(0);
  });
});

describe("camera shapes (zones, lines, masks) read from a camera config", () => {
  const cam = {
    zones: { door: { points: [[0.1, 0.1], [0.5, 0.1], [0.5, 0.5]] }, bad: { points: "nope" } },
    lines: { gate: { points: [[100, 200], [500, 200]] }, broken: { points: [[1, 2]] } },
    masks: [[[0, 0], [10, 0], [10, 10]]],
  };

  it("skips malformed entries and keeps names", () => {
    const s = cameraShapes(cam);
    expect(s.zones.map((z) => z.name)).toEqual(["door"]);
    expect(s.lines.map((l) => l.name)).toEqual(["gate"]);
    expect(s.masks).toEqual([{ name: "mask1", keys: ["masks", 0], pointsKeys: ["masks", 0], points: [[0, 0], [10, 0], [10, 10]] }]);
    expect(cameraShapes(undefined)).toEqual({ zones: [], lines: [], masks: [] });
  });

  it("fractions scale to the frame, pixels stay", () => {
    expect(toPixels([[0.5, 0.25], [1, 1]], 640, 360)).toEqual([[320, 90], [640, 360]]);
    expect(toPixels([[100, 0.5]], 640, 360)).toEqual([[100, 0.5]]);
  });

  it("points outside the detect frame are problems with their key path", () => {
    const s = cameraShapes({ ...cam, lines: { gate: { points: [[100, 200], [700, 200]] } } });
    expect(shapesOutsideFrame(s, 640, 360)).toEqual([
      { keys: ["lines", "gate", "points", 1], message: "line 'gate' point [700, 200] is outside the 640×360 detect frame" },
    ]);
  });

  it("in direction: walking from the first point to the second, in is towards the right-hand side", () => {
    // walking east along y = 200 (y points down): the right-hand side is below the line
    expect(inDirection([[100, 200], [500, 200]])).toEqual([-0, 1]);
    // walking north: the right-hand side is east
    expect(inDirection([[300, 300], [300, 100]])).toEqual([1, 0]);
  });
});

describe("check-config: the broker URL", () => {
  it("rejects what mqtt.js cannot use, each at mqtt.url with why", () => {
    const base = (url: string) => `device: {id: d}\nmqtt: {url: "${url}"}\nmodels: {}\ncameras: {}\n`;
    const why = (url: string) => checkConfigText(base(url), "/tmp/eva.yaml", {}).problems.filter((p) => p.path === "mqtt.url").map((p) => p.message);
    expect(why("not a url")[0]).toMatch(/not a URL/);
    expect(why("mqtt://127.0.0.1:99999")[0]).toMatch(/port 99999 is out of range/);
    expect(why("http://127.0.0.1:1883")[0]).toMatch(/scheme http/);
    expect(why("mqtt://")[0]).toMatch(/no host/);
    for (const good of ["mqtt://localhost:1883", "mqtts://user:pw@broker.example:8883", "ws://10.0.0.1/mqtt", "mqtt://[::1]:1883"]) expect(why(good), good).toEqual([]);
  });
});
