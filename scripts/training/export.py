"""Export a trained SignDetector to the agent's ONNX contract (uint8 NHWC RGB in, YOLOv8 out)."""
import json
import os

import onnx
import torch

from model import ExportWrapper, check_input_size
from signs import CLASS_NAMES

OPSET = 13


VERSION = "2.0.0"  # of the shipped model: 2 = crops-then-scenes recipe, 1 = seven-stage recipe


def export_onnx(net, path, h, w, seed, version=VERSION, labels=None, description=None):
    check_input_size(h, w)
    net = net.eval()
    wrapper = ExportWrapper(net, h, w).eval()
    dummy = torch.zeros(1, h, w, 3, dtype=torch.uint8)
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    torch.onnx.export(wrapper, dummy, path, opset_version=OPSET, input_names=["images"],
                      output_names=["output0"], do_constant_folding=True)
    m = onnx.load(path)
    labels = labels or CLASS_NAMES
    names = "{" + ", ".join(f"{i}: {n!r}" for i, n in enumerate(labels)) + "}"
    meta = {
        "format": "yolov8",
        "labels": json.dumps(labels),
        "names": names,
        "imgsz": json.dumps([h, w]),
        "input_layout": "NHWC",
        "input_dtype": "uint8",
        "color": "RGB",
        "resize": "letterbox",
        "pad_value": "114",
        "seed": str(seed),
        "description": description or ("eva traffic-sign detector: 43 GTSRB classes, ShuffleNetV2-style backbone, "
                        "anchor-free stride-8 head, trained only on procedurally rendered scenes. "
                        "Output [1, 4+43, N]: cx, cy, w, h in input pixels, then per-class sigmoid "
                        "scores (objectness folded in); no NMS inside."),
        "license": "Apache-2.0",
        "version": version,
        "author": "eva project",
    }
    save_with_metadata(m, meta, path)
    return path


def save_with_metadata(m, meta, path):
    """Replaces the model's metadata_props with `meta` (the agent reads labels, imgsz, ... from them), checks, saves."""
    del m.metadata_props[:]
    for k, v in meta.items():
        p = m.metadata_props.add()
        p.key, p.value = k, v
    m.producer_name = "eva scripts/training"
    onnx.checker.check_model(m)
    onnx.save(m, path)


if __name__ == "__main__":
    import argparse
    import sys
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from model import SignDetector
    ap = argparse.ArgumentParser(description="re-export a checkpoint from scripts/training/work")
    ap.add_argument("checkpoint")
    ap.add_argument("out")
    ap.add_argument("--version", default=VERSION)
    ap.add_argument("--size", type=int, nargs=2, default=[288, 512], metavar=("H", "W"),
                    help="input height and width (multiples of 32): the network is fully convolutional, so the "
                         "same weights run at 576 1024 for 1360x800 dashcam frames, where signs keep 72 %% of their pixels")
    a = ap.parse_args()
    try:
        check_input_size(*a.size)
    except ValueError as e:
        ap.error(str(e))
    ck = torch.load(a.checkpoint)
    net = SignDetector(**ck.get("config", {}))
    net.load_state_dict(ck["model"])
    export_onnx(net, a.out, a.size[0], a.size[1], ck["seed"], a.version)
    print(f"{a.out}: input {a.size[0]}x{a.size[1]} ({os.path.getsize(a.out) / 1e6:.2f} MB)")
