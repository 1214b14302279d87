"""Static int8 quantization (QDQ) of a shipped detector .onnx, calibrated on real training frames.

    /usr/bin/python3 scripts/training/quantize.py probe models/traffic-signs.onnx work/probe.onnx work/probe.json
    node scripts/training/calibrate-onnx.mjs --model work/probe.onnx --tensors work/probe.json \\
        --gt ../shared/data/gtsdb-train --frames 0-399 --every 4 --out work/ranges.json
    /usr/bin/python3 scripts/training/quantize.py quantize models/traffic-signs.onnx work/ranges.json out.onnx
    /usr/bin/python3 scripts/training/quantize.py quantize --target tensorrt models/traffic-signs.onnx work/ranges.json out-trt.onnx

`probe` lists the float activations of the backbone and neck and writes a copy of the model that also
outputs them; the calibrator runs that copy over frames through the agent's own pre-processing and records
each tensor's range per frame; `quantize` writes the model with QuantizeLinear/DequantizeLinear pairs:
activations uint8 per tensor (range = the mean over frames of each frame's min and max, so a single hot pixel
does not stretch the scale), weights int8 per output channel, biases int32. ONNX Runtime's CPU provider fuses
DQ -> Conv -> Q into QLinearConv (and drops a ReLU before a zero-point-0 Q). TensorRT builds Q/DQ as int8 only
when activations are signed int8 with zero point 0 (microsoft/onnxruntime#13381, #10743): `--target tensorrt`
writes that form (symmetric activations, float biases) from the same ranges. The input stays uint8 RGB, the
normalisation and the box decoding stay float, the metadata is kept (with `quantization` added). Only the calibration frames are read: never the held-out ones.
"""
import argparse
import json
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper, shape_inference

# Ops whose float outputs carry activations between convolutions. Reshape, Transpose, Slice and Resize only
# move values: their outputs take their input's scale, so ONNX Runtime can drop the Q/DQ around them.
CARRIERS = {"Conv", "Relu", "Concat", "Reshape", "Transpose", "Slice", "Add", "Resize", "Div", "Unsqueeze"}
MOVERS = {"Reshape", "Transpose", "Slice", "Resize", "Unsqueeze"}


def graph_maps(model):
    producer = {o: n for n in model.graph.node for o in n.output}
    consumers = {}
    for n in model.graph.node:
        for i in n.input:
            consumers.setdefault(i, []).append(n)
    return producer, consumers


def pair_shuffles(model):
    """ShuffleNet's channel shuffle, Concat(a, b) -> Reshape [N,2,C/2,H,W] -> Transpose -> Reshape [N,C,H,W],
    rewritten as Concat(a[:, :, None], b[:, :, None], axis=2) -> Reshape: the same channel order without a
    Transpose. In int8, ONNX Runtime runs the convolutions channels-last and merged its layout change into the
    shuffle's 5-D Transpose, a slow generic copy (2.8 ms of 21 at 1024x576); the paired Concat is a plain one."""
    producer, consumers = graph_maps(model)
    drop, count = set(), 0
    axes = "pair_shuffle_axes"
    model.graph.initializer.append(numpy_helper.from_array(np.array([2], np.int64), axes))
    for t in [n for n in model.graph.node if n.op_type == "Transpose"]:
        perm = list(helper.get_attribute_value(t.attribute[0]))
        first = producer.get(t.input[0])
        users = consumers.get(t.output[0], [])
        if perm != [0, 2, 1, 3, 4] or first is None or first.op_type != "Reshape" or len(users) != 1 or users[0].op_type != "Reshape":
            continue
        cat = producer.get(first.input[0])
        if cat is None or cat.op_type != "Concat" or len(cat.input) != 2 or len(consumers[cat.output[0]]) != 1 or len(consumers[first.output[0]]) != 1:
            continue
        if helper.get_attribute_value(cat.attribute[0]) != 1:
            continue
        a, b = cat.input
        pairs = f"{cat.output[0]}_pairs"
        new = [helper.make_node("Unsqueeze", [a, axes], [f"{a}_paired"], name=f"{cat.name}_pair_a"),
               helper.make_node("Unsqueeze", [b, axes], [f"{b}_paired"], name=f"{cat.name}_pair_b"),
               helper.make_node("Concat", [f"{a}_paired", f"{b}_paired"], [pairs], axis=2, name=f"{cat.name}_pairs")]
        users[0].input[0] = pairs
        drop.update({id(cat), id(first), id(t)})
        cat_index = list(model.graph.node).index(cat)
        for k, node in enumerate(new):
            model.graph.node.insert(cat_index + k, node)
        count += 1
    kept = [n for n in model.graph.node if id(n) not in drop]
    used = {i for n in kept for i in n.input}
    kept = [n for n in kept if n.op_type != "Constant" or n.output[0] in used]  # the dropped Reshapes' shapes
    del model.graph.node[:]
    model.graph.node.extend(kept)
    return count


def float_tensors(model):
    inferred = shape_inference.infer_shapes(model)
    kinds = {v.name: v.type.tensor_type.elem_type for v in list(inferred.graph.value_info) + list(inferred.graph.output)}
    return {k for k, t in kinds.items() if t == TensorProto.FLOAT}


def head_conv(model):
    """The prediction conv: the last Conv, whose output is decoded into boxes and scores (stays float)."""
    return [n for n in model.graph.node if n.op_type == "Conv"][-1]


def activations(model):
    """The tensors to quantize, in graph order, and for a mover's output the tensor whose scale it shares."""
    floats = float_tensors(model)
    producer, consumers = graph_maps(model)
    convs = [n for n in model.graph.node if n.op_type == "Conv"]
    first_input = convs[0].input[0]
    pred = head_conv(model)
    # everything from the first conv's input up to the head conv's input
    reachable = set()
    stack = [first_input]
    while stack:
        t = stack.pop()
        if t in reachable or t == pred.output[0]:
            continue
        reachable.add(t)
        for c in consumers.get(t, []):
            if c is not pred and c.op_type in CARRIERS:
                stack.extend(c.output)
    chosen, shares = [], {}
    for n in model.graph.node:
        for t in n.output:
            if t not in reachable or t not in floats:
                continue
            users = consumers.get(t, [])
            # Conv -> Relu: the pair is quantized after the ReLU (ONNX Runtime fuses Conv+ReLU+Q)
            if n.op_type == "Conv" and len(users) == 1 and users[0].op_type == "Relu":
                continue
            chosen.append(t)
            if n.op_type in MOVERS:
                shares[t] = n.input[0]
    if first_input not in chosen:
        chosen.insert(0, first_input)
    return chosen, shares


def probe(src, out, listing):
    model = onnx.load(src)
    pair_shuffles(model)
    chosen, shares = activations(model)
    roots = [t for t in chosen if t not in shares]
    have = {o.name for o in model.graph.output}
    for t in roots:
        if t not in have:
            model.graph.output.append(helper.make_tensor_value_info(t, TensorProto.FLOAT, None))
    onnx.save(model, out)
    json.dump({"tensors": roots}, open(listing, "w"), indent=1)
    print(f"{out}: {len(roots)} activations to calibrate ({len(chosen)} quantized, {len(shares)} share a scale)")


def uint8_params(lo, hi):
    lo, hi = min(lo, 0.0), max(hi, 0.0)
    scale = (hi - lo) / 255.0 if hi > lo else 1.0
    zp = int(round(-lo / scale))
    return np.float32(scale), np.uint8(min(255, max(0, zp)))


def int8_params(lo, hi):
    """Symmetric: zero point 0, the larger side of the range at +-127 (TensorRT reads only this form)."""
    m = max(abs(lo), abs(hi))
    return np.float32(m / 127.0 if m > 0 else 1.0), np.int8(0)


def quantize(src, ranges_file, out, how="mean", target="cpu"):
    model = onnx.load(src)
    shuffles = pair_shuffles(model)
    try:
        calibration = json.load(open(ranges_file))
        ranges = calibration["ranges"]
    except (OSError, ValueError, KeyError, TypeError) as e:
        sys.exit(f"{ranges_file}: not a calibration file from calibrate-onnx.mjs ({e})")
    chosen, shares = activations(model)

    def root(t):
        while t in shares:
            t = shares[t]
        return t

    init = {i.name: i for i in model.graph.initializer}
    new_nodes, new_inits = [], []
    qparams, rename = {}, {}
    for t in chosen:
        r = ranges.get(root(t))
        if not r:
            sys.exit(f"{ranges_file}: no range for {root(t)} (calibrate with the probe this model gives)")
        per_frame = np.array(r, dtype=np.float64)
        lo, hi = (per_frame[:, 0].min(), per_frame[:, 1].max()) if how == "minmax" else per_frame.mean(0)
        scale, zp = qparams[t] = (uint8_params if target == "cpu" else int8_params)(float(lo), float(hi))
        s_name, z_name = f"{t}_qscale", f"{t}_qzero"
        new_inits += [numpy_helper.from_array(np.array(scale, np.float32), s_name), numpy_helper.from_array(np.array(zp), z_name)]
        q, dq = f"{t}_quantized", f"{t}_dequantized"
        new_nodes.append((t, helper.make_node("QuantizeLinear", [t, s_name, z_name], [q], name=f"{t}_Q")))
        new_nodes.append((t, helper.make_node("DequantizeLinear", [q, s_name, z_name], [dq], name=f"{t}_DQ")))
        rename[t] = dq

    quantized_input = {dq: t for t, dq in rename.items()}
    pred = head_conv(model)
    for n in model.graph.node:
        for k, i in enumerate(n.input):
            if i in rename:
                n.input[k] = rename[i]
        if n.op_type != "Conv" or n is pred:
            continue
        x = quantized_input.get(n.input[0])
        if x is None:
            sys.exit(f"conv {n.name}: its input {n.input[0]} is not quantized")
        w = numpy_helper.to_array(init[n.input[1]]).astype(np.float32)
        w_scale = np.maximum(np.abs(w).reshape(w.shape[0], -1).max(1), 1e-12) / 127.0
        wq = np.clip(np.round(w / w_scale.reshape(-1, 1, 1, 1)), -127, 127).astype(np.int8)
        wn = n.input[1]
        new_inits += [numpy_helper.from_array(wq, f"{wn}_int8"), numpy_helper.from_array(w_scale.astype(np.float32), f"{wn}_wscale"),
                      numpy_helper.from_array(np.zeros(w.shape[0], np.int8), f"{wn}_wzero")]
        new_nodes.append((None, helper.make_node("DequantizeLinear", [f"{wn}_int8", f"{wn}_wscale", f"{wn}_wzero"], [f"{wn}_dq"], axis=0, name=f"{wn}_DQ")))
        n.input[1] = f"{wn}_dq"
        # TensorRT takes a conv's bias in float and fuses it itself; an int32 DQ is not a form its parser reads.
        if len(n.input) > 2 and n.input[2] and target == "cpu":
            b = numpy_helper.to_array(init[n.input[2]]).astype(np.float64)
            b_scale = (qparams[x][0] * w_scale).astype(np.float32)
            bq = np.round(b / b_scale).astype(np.int32)
            bn = n.input[2]
            new_inits += [numpy_helper.from_array(bq, f"{bn}_int32"), numpy_helper.from_array(b_scale, f"{bn}_bscale"),
                          numpy_helper.from_array(np.zeros(w.shape[0], np.int32), f"{bn}_bzero")]
            new_nodes.append((None, helper.make_node("DequantizeLinear", [f"{bn}_int32", f"{bn}_bscale", f"{bn}_bzero"], [f"{bn}_dq"], axis=0, name=f"{bn}_DQ")))
            n.input[2] = f"{bn}_dq"

    # Q/DQ of an activation go right after its producer (graph inputs: at the start); weight DQs first.
    ordered = [node for t, node in new_nodes if t is None]
    after = {}
    for t, node in new_nodes:
        if t is not None:
            after.setdefault(t, []).append(node)
    for n in model.graph.node:
        ordered.append(n)
        for o in n.output:
            ordered.extend(after.get(o, []))
    del model.graph.node[:]
    model.graph.node.extend(ordered)
    used = {i for n in model.graph.node for i in n.input}
    keep = [i for i in model.graph.initializer if i.name in used]
    del model.graph.initializer[:]
    model.graph.initializer.extend(keep + new_inits)
    meta = {p.key: p for p in model.metadata_props}
    frames = calibration.get("frames", [])
    span = f"{frames[0][:-4]}-{frames[-1][:-4]}" if frames else "?"
    acts, bias = ("uint8 per tensor", "biases int32") if target == "cpu" else ("int8 per tensor, symmetric (zero point 0)", "biases float")
    note = (f"int8 QDQ, static: {len(chosen)} activations {acts} ({how} range), conv weights int8 per output "
            f"channel, {bias}; calibrated on {len(frames)} GTSDB training frames {span}")
    if "quantization" in meta:
        meta["quantization"].value = note
    else:
        model.metadata_props.append(onnx.StringStringEntryProto(key="quantization", value=note))
    onnx.checker.check_model(model)
    onnx.save(model, out)
    print(f"{out}: {len(chosen)} activations, {sum(1 for n in model.graph.node if n.op_type == 'Conv') - 1} convs int8, {shuffles} shuffles paired")


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("probe")
    p.add_argument("model")
    p.add_argument("out")
    p.add_argument("listing")
    q = sub.add_parser("quantize")
    q.add_argument("model")
    q.add_argument("ranges")
    q.add_argument("out")
    q.add_argument("--range", choices=["mean", "minmax"], default="mean",
                   help="an activation's range: the mean over frames of each frame's min and max (default), or the extremes of all frames")
    q.add_argument("--target", choices=["cpu", "tensorrt"], default="cpu",
                   help="cpu: uint8 activations and int32 biases, what ONNX Runtime's CPU provider fuses into QLinearConv (default); "
                        "tensorrt: signed int8 activations with zero point 0 and float biases, the only Q/DQ form TensorRT builds as int8")
    a = ap.parse_args()
    if a.cmd == "probe":
        probe(a.model, a.out, a.listing)
    else:
        quantize(a.model, a.ranges, a.out, a.range, a.target)
