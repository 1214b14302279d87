"""Score the exported detector (+ classifier) .onnx files on real GTSDB frames, through onnxruntime-node.

    /usr/bin/python3 scripts/training/eval_real.py --split val --detector models/traffic-signs.onnx \\
        --classifier models/sign-classifier.onnx [--json out.json] [--figure out.jpg]

Frames are letterboxed to the detector's own input as the agent does, NMS is class-agnostic at IoU 0.45 (the agent's default nms_iou),
and with a classifier each box is cropped from the 816x480 frame (padding from the classifier's
metadata), classified, and given the classifier's class with score = detector score x class probability.
Reports the issue-10 table: class-agnostic AP@0.5, 43-class mAP@0.5, 4-category mAP@0.5, recall at
<= 0.1 FP/image with the right class, recall by size, classification accuracy of found signs.
(The figures of record come from scripts/evaluate-signs.mjs, which runs the agent's own code.)
"""
import argparse
import json
import os
import subprocess
import sys

import cv2
import numpy as np
import onnx
import torch
from torchvision.ops import batched_nms, nms

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import gtsdb  # noqa: E402
from classifier import cut  # noqa: E402
from gtsdb import CATEGORIES, CATEGORY_OF  # noqa: E402
from real_frames import letterbox, scores  # noqa: E402
from signs import CLASS_NAMES  # noqa: E402


def meta(path):
    m = onnx.load(path, load_external_data=False)
    return {p.key: p.value for p in m.metadata_props}


def run_detector(path, frames, work, min_score=0.05, iou=0.45):
    md = meta(path)
    h, w = json.loads(md["imgsz"])
    labels = json.loads(md["labels"])
    buf = os.path.join(work, "eval_real_frames.u8")
    scale = []
    with open(buf, "wb") as f:
        for img, _ in frames:
            x, sx, sy = letterbox(img, h, w)
            f.write(x.tobytes())
            scale.append((sx, sy))
    out = os.path.join(work, "eval_real_pred.f32")
    subprocess.run(["node", os.path.join(HERE, "predict-onnx.mjs"), path, buf, str(len(frames)), str(h), str(w), out,
                    str(min_score)], check=True, stdout=subprocess.DEVNULL)
    rec = np.fromfile(out, np.float32).reshape(-1, 7)
    dets = []
    for i, (sx, sy) in enumerate(scale):
        r = rec[rec[:, 0] == i]
        if len(r) == 0:
            dets.append(np.zeros((0, 6), np.float32))
            continue
        # one box per cell: its best class (what the agent's YOLOv8 decoder keeps)
        key = r[:, 3] * 1e4 + r[:, 4]
        order = np.lexsort((-r[:, 2], key))
        r = r[order]
        first = np.concatenate([[True], key[order][1:] != key[order][:-1]])
        r = r[first]
        b = np.stack([r[:, 3] - r[:, 5] / 2, r[:, 4] - r[:, 6] / 2, r[:, 3] + r[:, 5] / 2, r[:, 4] + r[:, 6] / 2], 1)
        k = nms(torch.from_numpy(b), torch.from_numpy(r[:, 2].copy()), iou)[:100].numpy()
        b = b[k] / np.array([sx, sy, sx, sy], np.float32)
        dets.append(np.concatenate([b, r[k, 2:3], r[k, 1:2]], 1).astype(np.float32))
    return dets, labels, (h, w)


def run_classifier(path, frames, dets, work, min_crop=0):
    md = meta(path)
    s = json.loads(md["imgsz"])[0]
    pad = float(md["crop_padding"])
    buf = os.path.join(work, "eval_real_crops.u8")
    n = 0
    with open(buf, "wb") as f:
        for (img, _), d in zip(frames, dets):
            for b in d[:, :4]:
                f.write(cut(img, b, pad, None, False, out=s).tobytes())
                n += 1
    if n == 0:
        return [np.zeros((0, 43), np.float32) for _ in dets]
    out = os.path.join(work, "eval_real_probs.f32")
    subprocess.run(["node", os.path.join(HERE, "classify-onnx.mjs"), path, buf, str(n), str(s), out], check=True,
                   stdout=subprocess.DEVNULL)
    p = np.fromfile(out, np.float32).reshape(n, -1)
    res, k = [], 0
    for d in dets:
        res.append(p[k:k + len(d)])
        k += len(d)
    return res


def labelled(dets, labels, probs=None, score_mode="product"):
    """Detections with 43-class ids: from the classifier if given, else from the 43-class detector."""
    out = []
    for i, d in enumerate(dets):
        d = d.copy()
        if probs is not None:
            p = probs[i]
            if len(d):
                d[:, 5] = p.argmax(1)
                if score_mode == "product":
                    d[:, 4] = d[:, 4] * p.max(1)
        elif len(labels) != 43:
            raise SystemExit("a category detector needs --classifier for 43-class figures")
        out.append(d)
    return out


def figure(frames, dets, gts, thr, path, n=6):
    """A contact sheet: the first two frames, then the ones with the most misses and false detections."""
    def errors(d, g):
        d = d[d[:, 4] >= thr]
        ok_d = [any(b[5] == gg[4] and _iou(b, gg) >= 0.5 for gg in g) for b in d]
        ok_g = [any(b[5] == gg[4] and _iou(b, gg) >= 0.5 for b in d) for gg in g]
        return ok_d.count(False) + ok_g.count(False)
    errs = [errors(d, g) for d, g in zip(dets, gts)]
    rest = sorted(range(2, len(frames)), key=lambda i: (-errs[i], i))
    pick = sorted(list(range(min(2, len(frames)))) + rest[:n - 2])
    tiles = []
    for i in pick:
        (img, _), d, g = frames[i], dets[i], gts[i]
        im = img[:, :, ::-1].copy()
        for b in g:
            cv2.rectangle(im, (int(b[0]), int(b[1])), (int(b[2]), int(b[3])), (0, 200, 0), 1)
        for b in d[d[:, 4] >= thr]:
            ok = any((b[5] == gg[4]) and _iou(b, gg) >= 0.5 for gg in g)
            c = (0, 220, 255) if ok else (0, 0, 255)
            cv2.rectangle(im, (int(b[0]) - 2, int(b[1]) - 2), (int(b[2]) + 2, int(b[3]) + 2), c, 2)
            cv2.putText(im, f"{CLASS_NAMES[int(b[5])][:18]} {b[4]:.2f}", (int(b[0]), max(10, int(b[1]) - 5)),
                        cv2.FONT_HERSHEY_SIMPLEX, 0.4, c, 1, cv2.LINE_AA)
        tiles.append(im)
    if len(tiles) % 2:
        tiles.append(np.zeros_like(tiles[0]))
    rows = [np.concatenate(tiles[i:i + 2], 1) for i in range(0, len(tiles), 2)]
    cv2.imwrite(path, np.concatenate(rows, 0), [cv2.IMWRITE_JPEG_QUALITY, 75])


def _iou(a, b):
    ix = max(0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0, min(a[3], b[3]) - max(a[1], b[1]))
    i = ix * iy
    return i / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - i + 1e-9)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--split", default="val", choices=list(gtsdb.SPLITS))
    ap.add_argument("--data", default=None, help="a folder with gt.csv and frames/ (default ../shared/data/gtsdb-train)")
    ap.add_argument("--synthetic", type=int, default=0, metavar="N",
                    help="instead of real frames: N rendered 1360x800 dashcam scenes (seed 2001, held-out background "
                         "families, 20-60 px signs; scenes.py), the synthetic reading of the same table")
    ap.add_argument("--detector", required=True)
    ap.add_argument("--classifier", default=None)
    ap.add_argument("--score", default="product", choices=["product", "detector"],
                    help="score of a classified box: detector x class probability, or the detector's alone")
    ap.add_argument("--json", default=None)
    ap.add_argument("--figure", default=None)
    ap.add_argument("--work", default=os.path.join(HERE, "work"))
    a = ap.parse_args()
    for p in [a.detector] + ([a.classifier] if a.classifier else []):
        if not os.path.isfile(p):
            ap.error(f"{p}: no such file")
    os.makedirs(a.work, exist_ok=True)
    if a.synthetic:
        import dataset
        import scenes
        images, boxes = dataset.build(a.work, "dashcam", 2001, a.synthetic, 800, 1360, scenes.HELDOUT_FAMILIES, 1,
                                      mode="dashcam")
        frames = [(np.asarray(images[i]), boxes[i]) for i in range(a.synthetic)]
        a.split = f"synthetic dashcam (seed 2001, {a.synthetic} scenes)"
    else:
        frames = [(cv2.imread(p)[:, :, ::-1].copy(), b) for p, b in gtsdb.frames(a.split, a.data)]
    dets, labels, size = run_detector(a.detector, frames, a.work)
    probs = run_classifier(a.classifier, frames, dets, a.work) if a.classifier else None
    d43 = labelled(dets, labels, probs, a.score)
    gts = [b for _, b in frames]
    r = scores(d43, gts, len(frames))
    r.update(split=a.split, detector=os.path.basename(a.detector), input=list(size),
             classifier=os.path.basename(a.classifier) if a.classifier else None, score=a.score)
    if len(labels) == 4:  # the detector's own category calls, before the classifier
        cat_gts = [np.concatenate([g[:, :4], CATEGORY_OF[g[:, 4].astype(int)][:, None].astype(np.float32)], 1) for g in gts]
        from real_frames import match, mean_ap
        r["map4_detector_only"] = mean_ap(match(dets, cat_gts)[0], cat_gts)[0]
    print(f"{a.split}: {len(frames)} frames, {r['n_gt']} signs; {r['detector']} {size[1]}x{size[0]}"
          f"{' + ' + r['classifier'] if a.classifier else ''}")
    print(f"  class-agnostic AP@0.5 {r['ap_agnostic']:.3f}  43-class mAP@0.5 {r['map43']:.3f}  4-category mAP@0.5 "
          f"{r['map4']:.3f}  recall@<=0.1FP/img (right class) {r['recall_fp01']:.3f} (score >= {r['threshold']:.2f})")
    print("  recall by size (max side, frame px): " +
          ", ".join(f"{k}: {v[0]:.2f} (n={v[1]})" for k, v in r["recall_by_size"].items()) +
          f"; classification accuracy of found signs {r['cls_acc_found']:.3f} (n={r['n_found']})")
    if "map4_detector_only" in r:
        print(f"  detector's own 4-category mAP@0.5 {r['map4_detector_only']:.3f}")
    if a.json:
        r["per_class"] = {CLASS_NAMES[c]: v for c, v in r["per_class"].items()}
        with open(a.json, "w") as f:
            json.dump(r, f, indent=1)
    if a.figure:
        figure(frames, d43, gts, r["threshold"], a.figure)


if __name__ == "__main__":
    main()
