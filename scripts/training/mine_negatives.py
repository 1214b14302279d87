"""Boxes on real frames that are not signs, for the classifier to learn 'none of the 43' from.

    /usr/bin/python3 scripts/training/mine_negatives.py --detector DET.onnx --split train --out work/negatives_train.json

Two kinds: the detector's own false detections (score >= --min-score, IoU < 0.1 with every sign: tail-lights,
red traffic lights, adverts, boards...) and random sign-sized boxes away from the signs.
"""
import argparse
import json
import os
import sys

import cv2
import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import gtsdb  # noqa: E402
from eval_real import run_detector  # noqa: E402
from real_frames import iou_matrix  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--detector", required=True)
    ap.add_argument("--split", default="train")
    ap.add_argument("--min-score", type=float, default=0.05)
    ap.add_argument("--random", type=int, default=2, help="random boxes per frame")
    ap.add_argument("--out", required=True)
    ap.add_argument("--work", default=os.path.join(HERE, "work"))
    a = ap.parse_args()
    rng = np.random.default_rng(7)
    items = gtsdb.frames(a.split)
    frames = [(cv2.imread(p)[:, :, ::-1].copy(), b) for p, b in items]
    dets, _, _ = run_detector(a.detector, frames, a.work, min_score=a.min_score)
    out, n_false = [], 0
    for (path, b), (img, _), d in zip(items, frames, dets):
        if len(d):
            iou = iou_matrix(d[:, :4], b[:, :4]).max(1)
            for row in d[iou < 0.1]:
                out.append({"file": path, "box": [float(v) for v in row[:4]], "score": float(row[4]), "kind": "false"})
                n_false += 1
        h, w = img.shape[:2]
        for _ in range(a.random):
            for _try in range(20):
                s = float(np.exp(rng.uniform(np.log(10), np.log(60))))
                x, y = rng.uniform(0, w - s), rng.uniform(0, h * 0.85 - s)
                box = np.array([[x, y, x + s, y + s * rng.uniform(0.8, 1.2)]], np.float32)
                if iou_matrix(box, b[:, :4]).max() < 0.05:
                    out.append({"file": path, "box": box[0].tolist(), "score": 0.0, "kind": "random"})
                    break
    json.dump(out, open(a.out, "w"))
    print(f"{a.out}: {n_false} false detections >= {a.min_score}, {len(out) - n_false} random boxes on {len(items)} frames")


if __name__ == "__main__":
    main()
