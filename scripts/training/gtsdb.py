"""The real data in ../shared/data: GTSDB frames with boxes, GTSRB crops, and the splits used here.

Splits of gtsdb-train (by frame number, never by sign, so a frame's neighbours stay together):
  train      00000-00399  everything the models learn from
  val        00400-00499  every choice (steps, thresholds, input size) is made on this
  holdout    00500-00599  reported only; nothing is tuned on it
"""
import csv
import os

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.normpath(os.path.join(HERE, "..", "..", "..", "shared", "data"))
GTSDB = os.path.join(DATA, "gtsdb-train")
GTSRB = os.path.join(DATA, "gtsrb")

SPLITS = {"train": (0, 400), "val": (400, 500), "holdout": (500, 600), "trainval": (0, 500)}

# GTSDB super-categories (Houben et al. 2013), the detector's classes when it is not 43-way
CATEGORIES = ["prohibitory", "mandatory", "danger", "other"]
_CAT_OF = {}
for c in [0, 1, 2, 3, 4, 5, 7, 8, 9, 10, 15, 16]:
    _CAT_OF[c] = 0
for c in range(33, 41):
    _CAT_OF[c] = 1
for c in [11] + list(range(18, 32)):
    _CAT_OF[c] = 2
for c in [6, 12, 13, 14, 17, 32, 41, 42]:
    _CAT_OF[c] = 3
CATEGORY_OF = np.array([_CAT_OF[c] for c in range(43)], np.int64)


def data_dir(root=None):
    d = root or GTSDB
    if not os.path.isfile(os.path.join(d, "gt.csv")):
        raise SystemExit(f"{d}: no gt.csv (expected the shared GTSDB split at ../shared/data/gtsdb-train)")
    return d


def frames(split, root=None):
    """[(frame path, boxes float32 [n,5] x1 y1 x2 y2 class)] for the frames of one split, in frame order."""
    d = data_dir(root)
    lo, hi = SPLITS[split]
    by_file = {}
    with open(os.path.join(d, "gt.csv")) as f:
        for row in csv.DictReader(f):
            by_file.setdefault(row["file"], []).append(
                [float(row["x1"]), float(row["y1"]), float(row["x2"]), float(row["y2"]), float(row["class_id"])])
    out = []
    for name in sorted(by_file):
        num = int(os.path.splitext(os.path.basename(name))[0])
        if lo <= num < hi:
            out.append((os.path.join(d, name), np.array(by_file[name], np.float32)))
    return out


def load_gtsrb(split):
    """GTSRB crops X [N,32,32,3] uint8 RGB, labels y, and the sign box inside each 32x32 crop [N,4]."""
    import sys
    sys.path.insert(0, GTSRB)
    from load_gtsrb import load
    X, y = load(split)
    lab = np.load(os.path.join(GTSRB, "labels.npz"))
    size = lab[f"size_{split}"].astype(np.float32)
    roi = lab[f"roi_{split}"].astype(np.float32)
    roi[:, [0, 2]] *= 32.0 / size[:, :1]
    roi[:, [1, 3]] *= 32.0 / size[:, 1:2]
    roi[:, 2:] += 32.0 / size  # Roi.X2/Y2 are inclusive pixel indices
    tracks = lab["track_train"] if split == "train" else None
    return X, y.astype(np.int64), roi, tracks
