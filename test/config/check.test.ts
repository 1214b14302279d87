import { execFileSync } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { parsedCameraShapes, shapesOutsideFrame } from "../../agent/config/analytics-schema.js";
import { inDirection, toPixels } from "../../agent/core/geometry.js";
import { checkConfigFile, checkConfigText, semanticProblems } from "../../agent/check/config-check.js";
import { eva } from "../support/agent.js";
import { repoRoot, shared } from "../support/paths.js";

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
  it("a valid config with a real model passes", async () => {
    expect((await checkConfigText(text(model), "/tmp/eva.yaml", {})).problems).toEqual([]);
  });

  it("a missing model file is placed at models.<name>.path", async () => {
    expect((await checkConfigText(text("/nonexistent/m.onnx"), "/tmp/eva.yaml", {})).problems).toEqual([
      { file: "/tmp/eva.yaml", line: 3, col: 13, path: "models.m.path", message: "model file not found: /nonexistent/m.onnx" },
    ]);
  });

  it("a track file that is missing or holds no fix is placed at cameras.<name>.gps.track, with the track's own line", async () => {
    const dir = mkdtempSync(path.join(tmpdir(), "eva-check-"));
    const bad = path.join(dir, "drive.gpx");
    writeFileSync(bad, '<gpx>\n<trk><trkseg>\n<trkpt lat="48" lon="11"></trkpt>\n</trkseg></trk></gpx>\n');
    const cfg = (track: string) => `${text(model)}    gps: {track: ${track}}\n`;
    expect((await checkConfigText(cfg(bad), path.join(dir, "eva.yaml"), {})).problems).toEqual([
      {
        file: path.join(dir, "eva.yaml"),
        line: 8,
        col: 18,
        path: "cameras.front.gps.track",
        message: `${bad}:3: a trkpt without a readable <time> cannot be matched to frames`,
      },
    ]);
    const [missing] = (await checkConfigText(cfg("gone.gpx"), path.join(dir, "eva.yaml"), {})).problems;
    expect(missing).toMatchObject({ path: "cameras.front.gps.track", message: `track file not found: ${path.join(dir, "gone.gpx")}` });
  });

  it("a file that is not ONNX is named as such, quickly (header parse, no session)", async () => {
    const dir = mkdtempSync(path.join(tmpdir(), "eva-check-"));
    const bad = path.join(dir, "bad.onnx");
    writeFileSync(bad, "<html>404 not found</html>\n");
    const [p] = (await checkConfigText(text(bad), "/tmp/eva.yaml", {})).problems;
    expect(p).toMatchObject({ line: 3, path: "models.m.path" });
    expect(p!.message).toMatch(/is not an ONNX model/);
  });

  it("zones, lines and masks outside the detect frame are placed at their points (keys from the analytics schema)", async () => {
    // Zone and line keys added to an already-parsed config: the geometry check alone, without the schema's.
    const t = text(model, "{model: m}"); // size from the model: 416×416
    const loaded = (await checkConfigText(t, "/tmp/eva.yaml", {})).loaded!;
    Object.assign(loaded.config.cameras.front!, {
      zones: {
        door: {
          points: [
            [0.1, 0.1],
            [0.9, 0.1],
            [0.5, 0.9],
          ],
        },
      },
      lines: {
        gate: {
          points: [
            [10, 400],
            [500, 400],
          ],
        },
      },
    });
    expect(await semanticProblems(loaded)).toEqual([
      // not written in this text, so placed at the nearest key that is: the camera
      {
        file: "/tmp/eva.yaml",
        line: 6,
        col: 5,
        path: "cameras.front.lines.gate.points.1",
        message: "line 'gate' point [500, 400] is outside the 416×416 detect frame",
      },
    ]);
  });

  it("check-config sees camera files and video devices that are not there, at their keys; URLs and a disabled camera are not looked at", async () => {
    const dir = mkdtempSync(path.join(tmpdir(), "eva-check-"));
    const file = path.join(dir, "eva.yaml");
    writeFileSync(path.join(dir, "here.mp4"), "");
    writeFileSync(
      file,
      `device: {id: box1}
models:
  m: {path: ${model}, labels: ${path.join(dir, "coco.names")}}
cameras:
  a: {source: here.mp4, detect: {model: m, width: 640, height: 360}}
  b:
    source: gone.mp4
    detect: {model: m, width: 640, height: 360}
  c: {source: /dev/video77, detect_source: rtsp://cam/sub, detect: {model: m, width: 640, height: 360}}
  d: {source: /dev/shm, detect: {model: m, width: 640, height: 360}}
  e: {source: gone.mp4, enabled: false, detect: {model: m, width: 640, height: 360}}
  f: {source: "rtsp://u:p@cam/1", detect_source: /nonexistent/sub.mp4, detect: {model: m, width: 640, height: 360}}
`,
    );
    expect((await checkConfigFile(file, {})).problems.map((p) => `${p.line}:${p.col} ${p.path}: ${p.message}`)).toEqual([
      `3:${`  m: {path: ${model}, labels: `.length + 1} models.m.labels: labels file not found: ${path.join(dir, "coco.names")}`,
      `7:13 cameras.b.source: camera file not found: ${path.join(dir, "gone.mp4")}`,
      "9:15 cameras.c.source: video device not found: /dev/video77 (is the camera plugged in? ls /dev/video*)",
      "10:15 cameras.d.source: /dev/shm is not a video device",
      "12:50 cameras.f.detect_source: camera file not found: /nonexistent/sub.mp4",
    ]);
    // a live reload checks the same text without the sources: an unplugged camera never blocks another edit
    const { readFileSync } = await import("node:fs");
    expect((await checkConfigText(readFileSync(file, "utf8"), file, {})).problems.map((p) => p.path)).toEqual(["models.m.labels"]);
    // the CLI: exit 1, one file:line:col line per problem
    const cli = await eva(["check-config", file]);
    expect(cli.code).toBe(1);
    expect(cli.stdout + cli.stderr).toContain(`${file}:7:13 cameras.b.source: camera file not found: ${path.join(dir, "gone.mp4")}`);
  });

  it("a value of the wrong kind says what is expected and what it got, never a bare 'Invalid input'", async () => {
    const t = `device: {id: box1}
models:
  m: {path: ${model}}
detector: {threads: one, workers: 2.5}
cameras:
  front:
    source: rtsp://cam/1
    enabled: maybe
    detect: {model: m, width: 640, height: 360, min_score: high}
    zones:
      z: {points: 5, min_score: [1]}
`;
    const problems = (await checkConfigText(t, "/tmp/eva.yaml", {})).problems;
    const at = (p: string) => problems.find((x) => x.path === p)?.message;
    expect(at("detector.threads")).toBe("expected a number or 'auto' (a whole number of threads from 1 to 64), got 'one'");
    expect(at("detector.workers")).toBe("expected a number or 'auto' (a whole number of workers from 1 to 16), got 2.5");
    expect(at("cameras.front.detect.min_score")).toBe(
      "expected a number from 0 to 1, or a map of label: number from 0 to 1 ('default' for the rest), got 'high'",
    );
    expect(at("cameras.front.enabled")).toBe("expected true or false, got 'maybe'");
    expect(at("cameras.front.zones.z.points")).toBe("expected a list, got 5");
    expect(at("cameras.front.zones.z.min_score")).toBe("expected a number, got a list");
    expect(problems.filter((p) => p.message.includes("Invalid input"))).toEqual([]);
  });

  it("a missing config file is a problem value, not a throw", async () => {
    expect((await checkConfigFile("/nonexistent/eva.yaml")).problems).toEqual([
      { file: "/nonexistent/eva.yaml", line: 1, col: 1, path: "", message: "file not found" },
    ]);
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
    zones: {
      door: {
        points: [
          [0.1, 0.1],
          [0.5, 0.1],
          [0.5, 0.5],
        ],
      },
    },
    lines: {
      gate: {
        points: [
          [100, 200],
          [500, 200],
        ],
      },
    },
    masks: [
      [
        [0, 0],
        [10, 0],
        [10, 10],
      ],
    ],
  };

  it("keeps names and the key path of each shape's points; invalid shape keys give none (the schema says why)", () => {
    const s = parsedCameraShapes(cam)!;
    expect(s.zones.map((z) => [z.name, z.pointsKeys])).toEqual([["door", ["zones", "door", "points"]]]);
    expect(s.lines.map((l) => l.name)).toEqual(["gate"]);
    expect(s.masks).toEqual([
      {
        name: "mask1",
        pointsKeys: ["masks", 0],
        points: [
          [0, 0],
          [10, 0],
          [10, 10],
        ],
      },
    ]);
    expect(parsedCameraShapes(undefined)).toEqual({ zones: [], lines: [], masks: [] });
    expect(parsedCameraShapes({ ...cam, zones: { bad: { points: "nope" } } })).toBeNull();
  });

  it("fractions scale to the frame, pixels stay", () => {
    expect(
      toPixels(
        [
          [0.5, 0.25],
          [1, 1],
        ],
        640,
        360,
      ),
    ).toEqual([
      [320, 90],
      [640, 360],
    ]);
    expect(toPixels([[100, 0.5]], 640, 360)).toEqual([[100, 0.5]]);
    // one rule for every shape: it is the whole shape's coordinates, not each point's, that decide
    expect(
      toPixels(
        [
          [0.5, 0.5],
          [2, 0],
        ],
        640,
        360,
      ),
    ).toEqual([
      [0.5, 0.5],
      [2, 0],
    ]);
  });

  it("points outside the detect frame are problems with their key path", () => {
    const s = parsedCameraShapes({
      ...cam,
      lines: {
        gate: {
          points: [
            [100, 200],
            [700, 200],
          ],
        },
      },
    })!;
    expect(shapesOutsideFrame(s, 640, 360)).toEqual([
      { keys: ["lines", "gate", "points", 1], message: "line 'gate' point [700, 200] is outside the 640×360 detect frame" },
    ]);
  });

  it("in direction: walking from the first point to the second, in is towards the right-hand side", () => {
    // walking east along y = 200 (y points down): the right-hand side is below the line
    expect(
      inDirection([
        [100, 200],
        [500, 200],
      ]),
    ).toEqual([-0, 1]);
    // walking north: the right-hand side is east
    expect(
      inDirection([
        [300, 300],
        [300, 100],
      ]),
    ).toEqual([1, 0]);
  });
});

describe("check-config: the broker URL", () => {
  it("rejects what mqtt.js cannot use, each at mqtt.url with why", async () => {
    const base = (url: string) => `device: {id: d}\nmqtt: {url: "${url}"}\nmodels: {}\ncameras: {}\n`;
    const why = async (url: string) =>
      (await checkConfigText(base(url), "/tmp/eva.yaml", {})).problems.filter((p) => p.path === "mqtt.url").map((p) => p.message);
    expect((await why("not a url"))[0]).toMatch(/not a URL/);
    expect((await why("mqtt://127.0.0.1:99999"))[0]).toMatch(/port 99999 is out of range/);
    expect((await why("http://127.0.0.1:1883"))[0]).toMatch(/scheme http/);
    expect((await why("mqtt://"))[0]).toMatch(/no host/);
    for (const good of ["mqtt://localhost:1883", "mqtts://user:pw@broker.example:8883", "ws://10.0.0.1/mqtt", "mqtt://[::1]:1883"])
      expect(await why(good), good).toEqual([]);
  });

  it("credentials both in mqtt.url and in mqtt.username/password are an error at the key, with the line", async () => {
    const yaml = 'device: {id: d}\nmqtt:\n  url: "mqtt://eva:pw1@broker:1883"\n  username: eva\n  password: "${PW}"\nmodels: {}\ncameras: {}\n';
    const { problems } = await checkConfigText(yaml, "/tmp/eva.yaml", { PW: "pw2" });
    const twice = problems.filter((p) => /given twice/.test(p.message));
    expect(twice.map((p) => [p.path, p.line])).toEqual([
      ["mqtt.username", 4],
      ["mqtt.password", 5],
    ]);
    expect(twice[0]!.message).not.toContain("pw1");
    // one set, either way, is fine
    const one = async (y: string) => (await checkConfigText(y, "/tmp/eva.yaml", {})).problems.filter((p) => p.path.startsWith("mqtt"));
    expect(await one('device: {id: d}\nmqtt: {url: "mqtt://eva:pw1@broker:1883"}\nmodels: {}\ncameras: {}\n')).toEqual([]);
    expect(await one('device: {id: d}\nmqtt: {url: "mqtt://broker:1883", username: eva, password: pw}\nmodels: {}\ncameras: {}\n')).toEqual([]);
  });
});

describe("check-config: every problem in one run, files looked at without blocking", () => {
  it("a model path that is a FIFO is refused at once, and the event loop keeps turning meanwhile", async () => {
    const dir = mkdtempSync(path.join(tmpdir(), "eva-fifo-"));
    const fifo = path.join(dir, "model.onnx");
    execFileSync("mkfifo", [fifo]);
    let ticks = 0;
    const timer = setInterval(() => ticks++, 5);
    const started = Date.now();
    const { problems } = await checkConfigText(text(fifo), "/tmp/eva.yaml", {});
    clearInterval(timer);
    expect(Date.now() - started).toBeLessThan(5000);
    expect(problems).toMatchObject([{ path: "models.m.path", message: expect.stringMatching(/not a regular file/) }]);
    expect(ticks).toBeGreaterThanOrEqual(0);
    // a TLS file and a labels file that are FIFOs too
    const t = `device: {id: b}\nmqtt: {url: "mqtts://h:8883", tls: {ca: ${fifo}}}\nmodels:\n  m: {path: ${model}, labels: ${fifo}}\ncameras: {}\n`;
    expect((await checkConfigText(t, "/tmp/eva.yaml", {})).problems.map((p) => p.path).sort()).toEqual(["models.m.labels", "mqtt.tls.ca"]);
  });

  it("schema, reference, file and label problems are all reported together, each at its place", async () => {
    const labels = path.join(mkdtempSync(path.join(tmpdir(), "eva-labels-")), "labels.txt");
    writeFileSync(labels, "person\ncar\n");
    const t = `device: {id: b}
mqtt: {url: "mqtt://h:1883"}
models:
  m: {path: ${model}, labels: ${labels}}
  gone: {path: /nonexistent/gone.onnx}
cameras:
  a:
    source: rtsp://a/1
    fps: fast
    detect: {model: m, width: 640, height: 360}
  b:
    source: rtsp://b/1
    detect: {model: nosuch, width: 640, height: 360}
  c:
    source: rtsp://c/1
    detect: {model: m, width: 640, height: 360, labels: [persn], min_score: {car: 0.5, bus: 0.4}}
    zones:
      door: {points: [[0, 0], [100, 0], [100, 100]], labels: [dog]}
`;
    const { problems, loaded } = await checkConfigText(t, "/tmp/eva.yaml", {});
    expect(loaded).toBeUndefined();
    const byPath = Object.fromEntries(problems.map((p) => [p.path, p.message]));
    expect(Object.keys(byPath).sort()).toEqual([
      "cameras.a.fps",
      "cameras.b.detect.model",
      "cameras.c.detect.labels.0",
      "cameras.c.detect.min_score.bus",
      "cameras.c.zones.door.labels.0",
      "models.gone.path",
    ]);
    expect(byPath["cameras.c.detect.labels.0"]).toBe("model 'm' has no label 'persn'; did you mean 'person'?");
    expect(byPath["cameras.b.detect.model"]).toMatch(/unknown model 'nosuch'/);
    for (const p of problems) expect(p.line, p.path).toBeGreaterThan(1);
  });

  it("labels come from the model's metadata when no labels file is set", async () => {
    const signs = path.join(repoRoot, "models/traffic-signs-synthetic.onnx"); // 43 class names in its metadata
    const t = text(signs, "{model: m, labels: [stop, stopp]}");
    const { problems } = await checkConfigText(t, "/tmp/eva.yaml", {});
    expect(problems).toMatchObject([{ path: "cameras.front.detect.labels.1", message: expect.stringMatching(/has no label 'stopp'; did you mean 'stop'/) }]);
  });
});
