"""Export a train_real.py checkpoint to the agent's detector contract, with 4 category or 43 class outputs.

    /usr/bin/python3 scripts/training/export_real.py work/detector_real_last.pt models/traffic-signs.onnx \\
        --classes 4 --size 672 1152
    /usr/bin/python3 scripts/training/export_real.py models/traffic-signs.onnx /tmp/signs-832.onnx --size 480 832

A .onnx source is re-exported at another input size (same weights, its own labels and metadata).
"""
import argparse
import os
import sys

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from export import export_onnx  # noqa: E402
from gtsdb import CATEGORIES  # noqa: E402
from model import SignDetector, check_input_size  # noqa: E402
from signs import CLASS_NAMES  # noqa: E402
from train_real import narrow_head  # noqa: E402

VERSION = "3.0.0"  # 3 = fine-tuned on real GTSDB frames


def reexport_onnx(src, out, h, w):
    """Another input size from a shipped detector .onnx alone (the net is fully convolutional)."""
    import json
    import onnx
    from import_onnx import load_detector_onnx
    meta = {p.key: p.value for p in onnx.load(src).metadata_props}
    labels = json.loads(meta["labels"])
    net = load_detector_onnx(src, num_classes=len(labels))
    export_onnx(net, out, h, w, int(meta.get("seed", 1)), meta.get("version", VERSION), labels=labels,
                description=meta.get("description"))
    return out


def export_checkpoint(ckpt_path, out, classes, h, w, version=VERSION):
    ck = torch.load(ckpt_path)
    net = SignDetector(**ck["config"])
    net.load_state_dict(ck["model"])
    labels = CATEGORIES if classes == 4 else CLASS_NAMES
    what = ("the 4 GTSDB sign categories (prohibitory, mandatory, danger, other): pair it with "
            "sign-classifier.onnx for the 43 classes" if classes == 4 else "43 GTSRB classes")
    desc = (f"eva traffic-sign detector: {what}. ShuffleNetV2-style backbone, anchor-free stride-8 head; "
            f"pre-trained on rendered scenes, fine-tuned on real GTSDB frames 00000-{'0399' if ck.get('split') == 'train' else '0499'} "
            f"({ck['iters']} steps). Output [1, 4+{classes}, N]: cx, cy, w, h in input pixels, then per-class "
            "sigmoid scores (objectness folded in); no NMS inside.")
    export_onnx(narrow_head(net, classes), out, h, w, ck["seed"], version, labels=labels, description=desc)
    return out


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("checkpoint")
    ap.add_argument("out")
    ap.add_argument("--classes", type=int, choices=[4, 43], default=4)
    ap.add_argument("--size", type=int, nargs=2, default=[576, 1024], metavar=("H", "W"))
    ap.add_argument("--version", default=VERSION)
    a = ap.parse_args()
    try:
        check_input_size(*a.size)
    except ValueError as e:
        ap.error(str(e))
    if a.checkpoint.endswith(".onnx"):  # e.g. models/traffic-signs.onnx -> a cheaper 832x480 export
        reexport_onnx(a.checkpoint, a.out, a.size[0], a.size[1])
    else:
        export_checkpoint(a.checkpoint, a.out, a.classes, a.size[0], a.size[1], a.version)
    print(f"{a.out}: {a.classes} classes, input {a.size[0]}x{a.size[1]} ({os.path.getsize(a.out) / 1e6:.2f} MB)")
