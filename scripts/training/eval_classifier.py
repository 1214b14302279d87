"""Accuracy of models/sign-classifier.onnx on GTSRB's 12,630 official test crops, through onnxruntime-node.

    /usr/bin/python3 scripts/training/eval_classifier.py [--model models/sign-classifier.onnx] [--json out.json]

Two readings of the same crops: 'recut' cuts each sign from its 32x32 test crop as the agent cuts a
detection (GTSRB's sign box grown by the model's crop_padding, stretched to S x S, edges repeated), and
'as given' feeds the 32x32 crops unchanged (GTSRB's own ~10 % margin), the usual benchmark reading.
"""
import argparse
import json
import os
import subprocess
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import gtsdb  # noqa: E402
from classifier import cut  # noqa: E402
from eval_real import meta  # noqa: E402
from signs import CLASS_NAMES  # noqa: E402


def probs(model, crops, work):
    s = crops.shape[1]
    buf, out = os.path.join(work, "gtsrb_test.u8"), os.path.join(work, "gtsrb_test.f32")
    crops.tofile(buf)
    subprocess.run(["node", os.path.join(HERE, "classify-onnx.mjs"), model, buf, str(len(crops)), str(s), out],
                   check=True, stdout=subprocess.DEVNULL)
    return np.fromfile(out, np.float32).reshape(len(crops), -1)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default=os.path.join(HERE, "..", "..", "models", "sign-classifier.onnx"))
    ap.add_argument("--json", default=None)
    ap.add_argument("--work", default=os.path.join(HERE, "work"))
    a = ap.parse_args()
    if not os.path.isfile(a.model):
        ap.error(f"{a.model}: no such file")
    md = meta(a.model)
    s, pad = json.loads(md["imgsz"])[0], float(md["crop_padding"])
    os.makedirs(a.work, exist_ok=True)
    X, y, roi, _ = gtsdb.load_gtsrb("test")
    recut = np.stack([cut(X[i], roi[i], pad, None, False, out=s) for i in range(len(X))])
    res = {"n": int(len(y)), "crop_padding": pad}
    for name, crops in [("recut", recut), ("as_given", X if s == 32 else None)]:
        if crops is None:
            continue
        p = probs(a.model, np.ascontiguousarray(crops), a.work)
        pred = p.argmax(1)
        acc = float((pred == y).mean())
        per = {CLASS_NAMES[c]: float((pred[y == c] == c).mean()) for c in range(43)}
        worst = sorted(per.items(), key=lambda kv: kv[1])[:5]
        res[name] = {"accuracy": acc, "worst": worst}
        print(f"GTSRB test ({len(y)} crops, {name}): accuracy {acc:.4f}; weakest: " +
              ", ".join(f"{k} {v:.3f}" for k, v in worst))
    if a.json:
        with open(a.json, "w") as f:
            json.dump(res, f, indent=1)


if __name__ == "__main__":
    main()
