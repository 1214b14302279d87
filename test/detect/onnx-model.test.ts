import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseLabelsFile, parseNamesDict, resolveModelInfo, type ModelSources } from "../../agent/detect/model-info.js";
import { NotOnnxError, readOnnxModel } from "../../agent/detect/onnx-model-proto.js";
import { makeNhwcModel, shared, sharedMedia, sharedModel } from "./fixtures.js";

let dir: string;
let nhwcModel: string;
beforeAll(() => {
  dir = mkdtempSync(path.join(tmpdir(), "eva-detect-"));
  nhwcModel = makeNhwcModel(dir);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("readOnnxModel", () => {
  it("reads metadata_props and the graph's input and output", () => {
    const m = readOnnxModel(readFileSync(nhwcModel));
    expect(m.metadata).toMatchObject({ format: "yolov8", input_layout: "NHWC", resize: "letterbox", imgsz: "[32, 32]" });
    expect(JSON.parse(m.metadata.labels)).toHaveLength(43);
    expect(m.inputs).toEqual([{ name: "images", elemType: 2, dims: [1, 32, 32, 3] }]);
    expect(m.outputs).toEqual([{ name: "output0", elemType: 1, dims: [1, 47, 1] }]);
  });

  it("reads a real exported model", () => {
    const m = readOnnxModel(readFileSync(sharedModel("yolox_nano.onnx")));
    expect(m.inputs).toEqual([{ name: "images", elemType: 1, dims: [1, 3, 416, 416] }]);
    expect(m.outputs[0].dims).toEqual([1, 3549, 85]);
  });

  it("rejects text and JPEG bytes", () => {
    expect(() => readOnnxModel(readFileSync(path.join(shared, "README.md")))).toThrow(NotOnnxError);
    expect(() => readOnnxModel(readFileSync(sharedMedia("dog.jpg")))).toThrow(NotOnnxError);
    expect(() => readOnnxModel(new Uint8Array(0))).toThrow(NotOnnxError);
  });
});

describe("labels", () => {
  it("parses a labels file and an Ultralytics names dict", () => {
    expect(parseLabelsFile("person\r\nbicycle\n\n")).toEqual(["person", "bicycle"]);
    expect(parseNamesDict(`{0: 'person', 1: "o'clock", 2: 'traffic light'}`)).toEqual(["person", "o'clock", "traffic light"]);
  });
});

describe("resolveModelInfo", () => {
  const base: ModelSources = {
    file: "m.onnx",
    config: { path: "/m.onnx" },
    metadata: {},
    input: { name: "images", type: "float32", shape: [1, 3, 640, 640] },
    output: { name: "output0", type: "float32", shape: [1, 6, 8400] },
  };

  it("prefers the labels file, then metadata labels, then names, else class<N>", () => {
    const meta = { labels: '["a","b"]', names: "{0: 'x', 1: 'y'}" };
    expect(resolveModelInfo({ ...base, metadata: meta, labelsText: "p\nq\n" }).info.labels).toEqual(["p", "q"]);
    expect(resolveModelInfo({ ...base, metadata: meta }).info.labels).toEqual(["a", "b"]);
    expect(resolveModelInfo({ ...base, metadata: { names: meta.names } }).info.labels).toEqual(["x", "y"]);
    const { info, warnings } = resolveModelInfo({ ...base, metadata: { labels: '["only one"]' } });
    expect(info.labels).toEqual(["only one", "class1"]);
    expect(warnings[0]).toMatch(/1 labels, the model outputs 2 classes/);
  });

  it("defaults per format, and lets metadata and config override", () => {
    const v8 = resolveModelInfo(base).info;
    expect(v8).toMatchObject({ format: "yolov8", color: "RGB", resize: "letterbox", inputWidth: 640, inputLayout: "NCHW", scale: 1 / 255 });
    const own = resolveModelInfo({
      ...base,
      config: { path: "/m.onnx", resize: "stretch" },
      metadata: { format: "yolov8", color: "BGR", resize: "letterbox", pad_value: "0", imgsz: "[320, 480]" },
      input: { name: "images", type: "uint8", shape: [1, "h", "w", 3] },
      output: { name: "output0", type: "float32", shape: [1, 47, "n"] },
    }).info;
    expect(own).toMatchObject({ inputDtype: "uint8", inputLayout: "NHWC", inputHeight: 320, inputWidth: 480, color: "BGR", resize: "stretch", padValue: 0 });
  });

  it("says which key to set when the output shape is unknown", () => {
    expect(() => resolveModelInfo({ ...base, output: { name: "o", type: "float32", shape: [1, 100, 6] } })).toThrow(/set models.<name>.format/);
  });
});
