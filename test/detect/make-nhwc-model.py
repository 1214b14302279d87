"""Writes a tiny model with our own export contract (uint8 NHWC RGB input, YOLOv8-layout output, metadata).

Usage: make-nhwc-model.py OUT.onnx. Input [1,32,32,3] uint8; output [1,4+43,1]: one fixed box
(cx 16, cy 8, w 8, h 8 input pixels) whose class 0, 1, 2 scores are the mean R, G, B of the input / 255, so a
test can tell letterbox from stretch, RGB from BGR and NHWC from NCHW by the scores alone.
"""
import json
import sys

import numpy as np
from onnx import TensorProto, helper, numpy_helper

CLASSES = 43
labels = [f"sign{i}" for i in range(CLASSES)]
nodes = [
    helper.make_node("Cast", ["images"], ["pixels"], to=TensorProto.FLOAT),
    helper.make_node("ReduceMean", ["pixels"], ["mean"], axes=[1, 2], keepdims=0),
    helper.make_node("Mul", ["mean", "inv255"], ["rgb"]),
    helper.make_node("Concat", ["box", "rgb", "rest"], ["row"], axis=1),
    helper.make_node("Unsqueeze", ["row", "last"], ["output0"]),
]
inits = [
    numpy_helper.from_array(np.array([1 / 255], np.float32), "inv255"),
    numpy_helper.from_array(np.array([[16, 8, 8, 8]], np.float32), "box"),
    numpy_helper.from_array(np.zeros((1, CLASSES - 3), np.float32), "rest"),
    numpy_helper.from_array(np.array([2], np.int64), "last"),
]
graph = helper.make_graph(
    nodes,
    "nhwc-contract",
    [helper.make_tensor_value_info("images", TensorProto.UINT8, [1, 32, 32, 3])],
    [helper.make_tensor_value_info("output0", TensorProto.FLOAT, [1, 4 + CLASSES, 1])],
    inits,
)
model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], producer_name="eva-test")
model.ir_version = 8
meta = {
    "format": "yolov8",
    "labels": json.dumps(labels),
    "names": str(dict(enumerate(labels))),
    "imgsz": "[32, 32]",
    "input_layout": "NHWC",
    "input_dtype": "uint8",
    "color": "RGB",
    "resize": "letterbox",
    "pad_value": "114",
}
helper.set_model_props(model, meta)
with open(sys.argv[1], "wb") as f:
    f.write(model.SerializeToString())
