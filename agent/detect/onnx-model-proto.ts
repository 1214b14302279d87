// onnxruntime-node exposes neither metadata_props nor the declared input shapes before a session exists, so
// the few ModelProto fields the detector needs are read here straight from the protobuf wire format
// (https://github.com/onnx/onnx/blob/main/onnx/onnx.proto). Everything else, weights included, is skipped.

export interface OnnxValueInfo {
  name: string;
  /** TensorProto.DataType number: 1 float, 2 uint8, 10 float16 … (0 when not a tensor) */
  elemType: number;
  /** dims; a symbolic or unknown dim is -1 */
  dims: number[];
}

/**
 * The model's QuantizeLinear/DequantizeLinear nodes, by the element type of their zero point: what decides
 * whether TensorRT can build them as int8 (signed int8, zero point 0, nothing else).
 */
export interface OnnxQdqSummary {
  nodes: number;
  /** nodes per zero-point type ("int8", "uint8", "int32", …); a node without a zero point counts as "uint8" (ONNX's default) */
  zeroPointTypes: Record<string, number>;
  /** nodes whose zero point has a value other than 0 */
  nonZeroZeroPoints: number;
}

export interface OnnxModelDescription {
  irVersion: number;
  producer: string;
  metadata: Record<string, string>;
  inputs: OnnxValueInfo[];
  outputs: OnnxValueInfo[];
  qdq: OnnxQdqSummary;
}

/** Thrown for bytes that are not a ModelProto; the message says what was wrong. */
export class NotOnnxError extends Error {}

const VARINT = 0;
const FIXED64 = 1;
const LEN = 2;
const FIXED32 = 5;

const utf8 = new TextDecoder("utf-8", { fatal: false });

class ProtoReader {
  pos: number;
  constructor(
    readonly bytes: Uint8Array,
    start: number,
    readonly end: number,
  ) {
    this.pos = start;
  }

  done(): boolean {
    return this.pos >= this.end;
  }

  varint(): number {
    let result = 0;
    let mul = 1;
    for (let i = 0; i < 10; i++) {
      if (this.pos >= this.end) throw new NotOnnxError(`truncated varint at byte ${this.pos}`);
      const b = this.bytes[this.pos++];
      result += (b & 0x7f) * mul;
      if (b < 0x80) return result;
      mul *= 128;
    }
    throw new NotOnnxError(`varint longer than 10 bytes at byte ${this.pos}`);
  }

  /** Next field as [field number, wire type]. */
  tag(): [number, number] {
    const at = this.pos;
    const t = this.varint();
    const field = Math.floor(t / 8);
    const wire = t % 8;
    if (field === 0 || (wire !== VARINT && wire !== FIXED64 && wire !== LEN && wire !== FIXED32)) {
      throw new NotOnnxError(`bad field tag 0x${t.toString(16)} at byte ${at}`);
    }
    return [field, wire];
  }

  /** The extent of a length-delimited field, advancing past it. */
  sub(): ProtoReader {
    const len = this.varint();
    const start = this.pos;
    if (start + len > this.end) throw new NotOnnxError(`field of ${len} bytes at byte ${start} runs past its end`);
    this.pos = start + len;
    return new ProtoReader(this.bytes, start, start + len);
  }

  string(): string {
    const r = this.sub();
    return utf8.decode(this.bytes.subarray(r.pos, r.end));
  }

  skip(wire: number): void {
    if (wire === VARINT) this.varint();
    else if (wire === FIXED64) this.advance(8);
    else if (wire === FIXED32) this.advance(4);
    else this.sub();
  }

  private advance(n: number): void {
    if (this.pos + n > this.end) throw new NotOnnxError(`truncated field at byte ${this.pos}`);
    this.pos += n;
  }
}

/** Reads the description of an ONNX model; throws NotOnnxError when the bytes are not a ModelProto. */
export function readOnnxModel(bytes: Uint8Array): OnnxModelDescription {
  const r = new ProtoReader(bytes, 0, bytes.length);
  const model: OnnxModelDescription = {
    irVersion: 0,
    producer: "",
    metadata: {},
    inputs: [],
    outputs: [],
    qdq: { nodes: 0, zeroPointTypes: {}, nonZeroZeroPoints: 0 },
  };
  let graph: ProtoReader | undefined;
  while (!r.done()) {
    const [field, wire] = r.tag();
    if (field === 1 && wire === VARINT) model.irVersion = r.varint();
    else if (field === 2 && wire === LEN) model.producer = r.string();
    else if (field === 7 && wire === LEN) graph = r.sub();
    else if (field === 14 && wire === LEN) {
      const [key, value] = readStringEntry(r.sub());
      model.metadata[key] = value;
    } else r.skip(wire);
  }
  if (model.irVersion === 0) throw new NotOnnxError("no ir_version");
  if (!graph) throw new NotOnnxError("no graph");
  readGraph(graph, model);
  return model;
}

function readStringEntry(r: ProtoReader): [string, string] {
  let key = "";
  let value = "";
  while (!r.done()) {
    const [field, wire] = r.tag();
    if (field === 1 && wire === LEN) key = r.string();
    else if (field === 2 && wire === LEN) value = r.string();
    else r.skip(wire);
  }
  return [key, value];
}

function readGraph(r: ProtoReader, model: OnnxModelDescription): void {
  const inputs: OnnxValueInfo[] = [];
  const initializers = new Map<string, TensorFacts>();
  const zeroPoints: (string | undefined)[] = [];
  while (!r.done()) {
    const [field, wire] = r.tag();
    if (field === 11 && wire === LEN) inputs.push(readValueInfo(r.sub()));
    else if (field === 12 && wire === LEN) model.outputs.push(readValueInfo(r.sub()));
    else if (field === 5 && wire === LEN) {
      const t = readTensorFacts(r.sub());
      initializers.set(t.name, t);
    } else if (field === 1 && wire === LEN) {
      const node = readNode(r.sub());
      if (node.opType === "QuantizeLinear" || node.opType === "DequantizeLinear") zeroPoints.push(node.inputs[2] || undefined);
    } else r.skip(wire);
  }
  // Before IR 4, weights were also listed as graph inputs; only the rest are fed at run time.
  model.inputs = inputs.filter((i) => !initializers.has(i.name));
  const qdq = model.qdq;
  for (const name of zeroPoints) {
    const t = name === undefined ? undefined : initializers.get(name);
    const type = name === undefined ? "uint8" : t ? (TENSOR_TYPES[t.dataType] ?? `type ${t.dataType}`) : "not an initializer";
    qdq.nodes++;
    qdq.zeroPointTypes[type] = (qdq.zeroPointTypes[type] ?? 0) + 1;
    if (t && !t.allZero) qdq.nonZeroZeroPoints++;
  }
}

const TENSOR_TYPES: Record<number, string> = {
  1: "float32",
  2: "uint8",
  3: "int8",
  4: "uint16",
  5: "int16",
  6: "int32",
  7: "int64",
  10: "float16",
  17: "float8e4m3fn",
};

interface TensorFacts {
  name: string;
  dataType: number;
  /** every value stored is 0 (raw_data bytes, or the int32_data varints) */
  allZero: boolean;
}

function readTensorFacts(r: ProtoReader): TensorFacts {
  const t: TensorFacts = { name: "", dataType: 0, allZero: true };
  while (!r.done()) {
    const [field, wire] = r.tag();
    if (field === 8 && wire === LEN) t.name = r.string();
    else if (field === 2 && wire === VARINT) t.dataType = r.varint();
    else if (field === 9 && wire === LEN) {
      const raw = r.sub();
      for (let i = raw.pos; i < raw.end && t.allZero; i++) if (r.bytes[i] !== 0) t.allZero = false;
    } else if (field === 5 && wire === LEN) {
      const packed = r.sub();
      while (!packed.done() && t.allZero) if (packed.varint() !== 0) t.allZero = false;
    } else if (field === 5 && wire === VARINT) {
      if (r.varint() !== 0) t.allZero = false;
    } else r.skip(wire);
  }
  return t;
}

function readNode(r: ProtoReader): { opType: string; inputs: string[] } {
  const node = { opType: "", inputs: [] as string[] };
  while (!r.done()) {
    const [field, wire] = r.tag();
    if (field === 1 && wire === LEN) node.inputs.push(r.string());
    else if (field === 4 && wire === LEN) node.opType = r.string();
    else r.skip(wire);
  }
  return node;
}

function readValueInfo(r: ProtoReader): OnnxValueInfo {
  const info: OnnxValueInfo = { name: "", elemType: 0, dims: [] };
  while (!r.done()) {
    const [field, wire] = r.tag();
    if (field === 1 && wire === LEN) info.name = r.string();
    else if (field === 2 && wire === LEN) readType(r.sub(), info);
    else r.skip(wire);
  }
  return info;
}

function readType(r: ProtoReader, info: OnnxValueInfo): void {
  while (!r.done()) {
    const [field, wire] = r.tag();
    if (field !== 1 || wire !== LEN) {
      r.skip(wire);
      continue;
    }
    const tensor = r.sub();
    while (!tensor.done()) {
      const [tf, tw] = tensor.tag();
      if (tf === 1 && tw === VARINT) info.elemType = tensor.varint();
      else if (tf === 2 && tw === LEN) info.dims = readShape(tensor.sub());
      else tensor.skip(tw);
    }
  }
}

function readShape(r: ProtoReader): number[] {
  const dims: number[] = [];
  while (!r.done()) {
    const [field, wire] = r.tag();
    if (field !== 1 || wire !== LEN) {
      r.skip(wire);
      continue;
    }
    const dim = r.sub();
    let value = -1;
    while (!dim.done()) {
      const [df, dw] = dim.tag();
      // int64 -1 arrives as a 10-byte varint near 2^64: anything that large is "unknown".
      if (df === 1 && dw === VARINT) {
        const v = dim.varint();
        value = v > 0x7fffffff ? -1 : v;
      } else dim.skip(dw);
    }
    dims.push(value);
  }
  return dims;
}
