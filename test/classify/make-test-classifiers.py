"""Writes tiny crop classifiers whose answer a test can predict from the crop's pixels.

Usage: make-test-classifiers.py OUT_DIR. Both name a crop by its dominant colour: class scores are the crop's
mean R, G, B (0-255) x 0.03, then a softmax over the three.
- colour-nhwc.onnx: our contract, uint8 [N,16,16,3], softmax in the graph, kind=classifier, crop_padding 0.1.
- colour-nchw.onnx: torchvision style, float32 [N,3,16,16] fed raw 0-255 (scale 1, mean 0, std 1),
  output logits (softmax left to the agent), labels as Ultralytics 'names'.
The same crops must get the same answers from both: a layout or channel-order mistake changes them.
"""
import json
import os
import sys

import numpy as np
from onnx import TensorProto, helper, numpy_helper

S = 16
LABELS = ["red", "green", "blue"]
out = sys.argv[1]
os.makedirs(out, exist_ok=True)


def save(nodes, inp, outp, inits, meta, name):
    graph = helper.make_graph(nodes, name, [inp], [outp], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], producer_name="eva-test")
    model.ir_version = 8
    helper.set_model_props(model, meta)
    with open(os.path.join(out, name + ".onnx"), "wb") as f:
        f.write(model.SerializeToString())


k = numpy_helper.from_array(np.array([0.03], np.float32), "k")
save(
    [
        helper.make_node("Cast", ["images"], ["pixels"], to=TensorProto.FLOAT),
        helper.make_node("ReduceMean", ["pixels"], ["mean"], axes=[1, 2], keepdims=0),
        helper.make_node("Mul", ["mean", "k"], ["logits"]),
        helper.make_node("Softmax", ["logits"], ["probs"], axis=1),
    ],
    helper.make_tensor_value_info("images", TensorProto.UINT8, ["n", S, S, 3]),
    helper.make_tensor_value_info("probs", TensorProto.FLOAT, ["n", 3]),
    [k],
    {"kind": "classifier", "labels": json.dumps(LABELS), "imgsz": json.dumps([S, S]), "crop_padding": "0.1"},
    "colour-nhwc",
)
save(
    [
        helper.make_node("ReduceMean", ["input"], ["mean"], axes=[2, 3], keepdims=0),
        helper.make_node("Mul", ["mean", "k"], ["logits"]),
    ],
    helper.make_tensor_value_info("input", TensorProto.FLOAT, ["n", 3, S, S]),
    helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["n", 3]),
    [k],
    {"names": str(dict(enumerate(LABELS))), "scale": "1", "mean": "[0, 0, 0]", "std": "[1, 1, 1]", "output": "logits"},
    "colour-nchw",
)
