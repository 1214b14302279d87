"""Score an exported detector on a held-out synthetic set, through onnxruntime-node.

    /usr/bin/python3 scripts/training/evaluate.py [--model models/traffic-signs.onnx]

The held-out set uses another seed and background families never used in training
(scenes.HELDOUT_FAMILIES). Reports mAP@0.5 (VOC all-point AP, class-aware NMS at IoU 0.5),
per-class AP, and recall at the score threshold that keeps false positives <= 0.1 per image;
also mAP with signs under 20 px ignored and class-agnostic AP. --dashcam scores 1360x800 frames
with 20-60 px signs letterboxed to the model's own input (any export size); --train-families
renders the set on the training backgrounds.
"""
import argparse
import json
import os
import subprocess
import sys

import numpy as np
import torch
from torchvision.ops import batched_nms

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import dataset  # noqa: E402
import scenes  # noqa: E402
from signs import CLASS_NAMES  # noqa: E402

H, W = 288, 512


def iou_matrix(a, b):
    ix1 = np.maximum(a[:, None, 0], b[None, :, 0])
    iy1 = np.maximum(a[:, None, 1], b[None, :, 1])
    ix2 = np.minimum(a[:, None, 2], b[None, :, 2])
    iy2 = np.minimum(a[:, None, 3], b[None, :, 3])
    inter = np.clip(ix2 - ix1, 0, None) * np.clip(iy2 - iy1, 0, None)
    aa = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    ab = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    return inter / (aa[:, None] + ab[None, :] - inter + 1e-9)


def predict(model, images_path, n, work, min_score, h=H, w=W):
    out = os.path.join(work, "eval_predictions.f32")
    subprocess.run(["node", os.path.join(HERE, "predict-onnx.mjs"), model, images_path, str(n), str(h), str(w),
                    out, str(min_score)], check=True)
    rec = np.fromfile(out, np.float32).reshape(-1, 7)
    return rec


def nms_per_image(rec, n, iou=0.5, max_det=100):
    dets = []
    for i in range(n):
        r = rec[rec[:, 0] == i]
        if len(r) == 0:
            dets.append(np.zeros((0, 6), np.float32))
            continue
        cx, cy, w, h = r[:, 3], r[:, 4], r[:, 5], r[:, 6]
        boxes = np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], 1)
        keep = batched_nms(torch.from_numpy(boxes), torch.from_numpy(r[:, 2]), torch.from_numpy(r[:, 1]).long(), iou)
        keep = keep[:max_det].numpy()
        dets.append(np.concatenate([boxes[keep], r[keep, 2:3], r[keep, 1:2]], 1))  # x1 y1 x2 y2 score cls
    return dets


def sign_sizes(g):
    return np.maximum(g[:, 2] - g[:, 0], g[:, 3] - g[:, 1])


def match(dets, gts, iou_thr=0.5, min_size=0):
    """Greedy by score, class-aware. Returns rows (score, cls, tp, image) and per-GT hit flags.

    Signs smaller than min_size are ignored, COCO-style: a detection that matches one counts as
    neither true nor false positive, and missing one costs nothing.
    """
    rows, hit = [], []
    for i, (d, g) in enumerate(zip(dets, gts)):
        used = np.zeros(len(g), bool)
        ignored = sign_sizes(g) < min_size
        order = np.argsort(-d[:, 4]) if len(d) else []
        ious = iou_matrix(d[:, :4], g[:, :4]) if len(d) and len(g) else None
        for j in order:
            tp = 0
            if ious is not None:
                cand = np.where((g[:, 4] == d[j, 5]) & ~used)[0]
                if len(cand):
                    k = cand[np.argmax(ious[j, cand])]
                    if ious[j, k] >= iou_thr:
                        used[k], tp = True, 1
                        if ignored[k]:
                            continue
            rows.append((d[j, 4], d[j, 5], tp, i))
        hit.append(used)
    return np.array(rows, np.float64).reshape(-1, 4), hit


def mean_ap(rows, gts, min_size=0):
    """VOC AP per class, averaged over the classes that have signs of at least min_size."""
    rows = rows[np.argsort(-rows[:, 0], kind="stable")]
    all_gt = np.concatenate([g for g in gts if len(g)]) if any(len(g) for g in gts) else np.zeros((0, 5))
    all_gt = all_gt[sign_sizes(all_gt) >= min_size]
    per_class = {}
    for c in range(len(CLASS_NAMES)):
        n_gt = int((all_gt[:, 4] == c).sum())
        per_class[c] = {"ap": voc_ap(rows[rows[:, 1] == c][:, 2], n_gt), "n_gt": n_gt}
    aps = [v["ap"] for v in per_class.values() if not np.isnan(v["ap"])]
    return float(np.mean(aps)), per_class


def voc_ap(tp, n_gt):
    if n_gt == 0:
        return float("nan")
    ctp = np.cumsum(tp)
    cfp = np.cumsum(1 - tp)
    rec = ctp / n_gt
    prec = ctp / np.maximum(ctp + cfp, 1e-9)
    mrec = np.concatenate([[0], rec, [1]])
    mpre = np.concatenate([[0], prec, [0]])
    for k in range(len(mpre) - 2, -1, -1):
        mpre[k] = max(mpre[k], mpre[k + 1])
    idx = np.where(mrec[1:] != mrec[:-1])[0]
    return float(np.sum((mrec[idx + 1] - mrec[idx]) * mpre[idx + 1]))


def evaluate(dets, gts, n_images):
    rows, _ = match(dets, gts)
    map50, per_class = mean_ap(rows, gts)
    map50_20, _ = mean_ap(match(dets, gts, min_size=20)[0], gts, min_size=20)
    # one class: is a sign found at all, whatever it is called?
    agnostic = [np.concatenate([d[:, :5], np.zeros((len(d), 1), d.dtype)], 1) for d in dets]
    agnostic_gts = [np.concatenate([g[:, :4], np.zeros((len(g), 1), g.dtype)], 1) for g in gts]
    ap_agnostic = mean_ap(match(agnostic, agnostic_gts)[0], agnostic_gts)[0]
    rows = rows[np.argsort(-rows[:, 0], kind="stable")]
    all_gt = np.concatenate([g for g in gts if len(g)]) if any(len(g) for g in gts) else np.zeros((0, 5))
    # recall at <= 0.1 false positives per image, all classes pooled on one threshold
    fp = np.cumsum(1 - rows[:, 2])
    tp = np.cumsum(rows[:, 2])
    budget = 0.1 * n_images
    ok = np.where(fp <= budget)[0]
    k = ok[-1] if len(ok) else -1
    recall = float(tp[k] / len(all_gt)) if k >= 0 else 0.0
    thr = float(rows[k, 0]) if k >= 0 else 1.0
    # recall by sign size at that operating point
    _, hit = match([d[d[:, 4] >= thr] for d in dets], gts)
    sizes = np.concatenate([sign_sizes(g) for g in gts if len(g)])
    hits = np.concatenate([h for h, g in zip(hit, gts) if len(g)])
    buckets = {}
    for lo, hi in ((0, 20), (20, 30), (30, 60), (60, 1e9)):
        m = (sizes >= lo) & (sizes < hi)
        buckets[f"{lo}-{int(hi) if hi < 1e9 else 'inf'}px"] = {"n": int(m.sum()), "recall": float(hits[m].mean()) if m.any() else None}
    return {
        "map50": map50,
        "map50_min20px": map50_20,
        "ap50_class_agnostic": ap_agnostic,
        "per_class": {CLASS_NAMES[c]: v for c, v in per_class.items()},
        "recall_at_0.1fp": recall,
        "score_threshold_at_0.1fp": thr,
        "fp_at_threshold": int(fp[k]) if k >= 0 else 0,
        "recall_by_size_at_0.1fp": buckets,
        "images": n_images,
        "signs": int(len(all_gt)),
    }


def draw_figure(images, dets, gts, threshold, path, count=8):
    """Contact sheet: ground truth in green, detections at the 0.1 FP/img threshold in
    yellow (right class) or red (wrong class or no sign), labelled with class id and score."""
    import cv2
    tiles = []
    for i in range(count):
        img = cv2.cvtColor(np.array(images[i]), cv2.COLOR_RGB2BGR)
        for x1, y1, x2, y2, c in gts[i]:
            cv2.rectangle(img, (int(x1) - 1, int(y1) - 1), (int(x2) + 1, int(y2) + 1), (0, 200, 0), 1)
        d = dets[i][dets[i][:, 4] >= threshold]
        for x1, y1, x2, y2, sc, c in d:
            ok = len(gts[i]) and (iou_matrix(np.array([[x1, y1, x2, y2]]), gts[i][:, :4])[0] * (gts[i][:, 4] == c)).max() >= 0.5
            col = (0, 220, 255) if ok else (0, 0, 255)
            cv2.rectangle(img, (int(x1), int(y1)), (int(x2), int(y2)), col, 1)
            cv2.putText(img, f"{int(c)} {sc:.2f}", (int(x1), max(8, int(y1) - 2)), cv2.FONT_HERSHEY_SIMPLEX, 0.3, col, 1,
                        cv2.LINE_AA)
        tiles.append(img)
    rows = [np.hstack(tiles[k:k + 2]) for k in range(0, count, 2)]
    cv2.imwrite(path, np.vstack(rows), [cv2.IMWRITE_JPEG_QUALITY, 80])


def model_input_size(path):
    """(height, width) from the model's imgsz metadata; exits with a clear message when it has none."""
    import onnx
    try:
        meta = {p.key: p.value for p in onnx.load(path, load_external_data=False).metadata_props}
    except Exception as e:  # missing file, not ONNX
        sys.exit(f"{path}: cannot read it as an ONNX model ({e})")
    if "imgsz" not in meta:
        sys.exit(f"{path}: no 'imgsz' in its metadata_props; export it with scripts/training/export.py")
    h, w = json.loads(meta["imgsz"])
    return int(h), int(w)


def letterboxed(images, h, w, path):
    """The agent's letterbox (keep aspect, pad bottom/right with 114) of every image, cached."""
    import cv2
    n, ih, iw = images.shape[:3]
    k = min(h / ih, w / iw)
    if not os.path.exists(path):
        out = np.memmap(path + ".part", np.uint8, "w+", shape=(n, h, w, 3))
        out[:] = scenes.PAD_VALUE
        sw, sh = round(iw * k), round(ih * k)
        for i in range(n):
            out[i, :sh, :sw] = cv2.resize(np.asarray(images[i]), (sw, sh), interpolation=cv2.INTER_AREA)
        out.flush()
        del out
        os.replace(path + ".part", path)
    return k


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default=os.path.join(HERE, "..", "..", "models", "traffic-signs.onnx"))
    ap.add_argument("--seed", type=int, default=1001)
    ap.add_argument("--images", type=int, default=600)
    ap.add_argument("--work", default=os.path.join(HERE, "work"))
    ap.add_argument("--json", default=None, help="write the report here (default work/eval.json)")
    ap.add_argument("--figure", default=None, help="write a contact sheet of held-out detections (JPEG)")
    ap.add_argument("--dashcam", action="store_true",
                    help="score on 1360x800 frames with 20-60 px signs (the setting of real dashcam photos), "
                         "letterboxed to the model's input as the agent does; sizes are reported in frame pixels")
    ap.add_argument("--train-families", action="store_true",
                    help="render the set on the training backgrounds instead (with --seed 1: the training "
                         "distribution, to tell under- from over-fitting)")
    args = ap.parse_args()
    torch.set_num_threads(2)
    families = scenes.TRAIN_FAMILIES if args.train_families else scenes.HELDOUT_FAMILIES
    model = os.path.abspath(args.model)
    mh, mw = model_input_size(model)
    if args.dashcam:
        fh, fw = 800, 1360
        name = "dashcam" + ("_trainfam" if args.train_families else "")
        images, gts = dataset.build(args.work, name, args.seed, args.images, fh, fw, families, 2,
                                    mode="dashcam")
        path = os.path.join(args.work, "data", f"{name}_s{args.seed}_n{args.images}_{fh}x{fw}_lb{mh}x{mw}.u8")
        k = letterboxed(images, mh, mw, path)
        rec = predict(model, path, args.images, args.work, 0.01, mh, mw)
        rec[:, 3:7] /= k  # back to frame pixels
    else:
        if (mh, mw) != (H, W):
            sys.exit(f"{args.model}: input {mh}x{mw}; the held-out set is {H}x{W} (use --dashcam for other sizes)")
        name = "trainfam" if args.train_families else "heldout"
        images, gts = dataset.build(args.work, name, args.seed, args.images, H, W, families, 2)
        path = os.path.join(args.work, "data", f"{name}_s{args.seed}_n{args.images}_{H}x{W}.u8")
        rec = predict(model, path, args.images, args.work, 0.01)
    dets = nms_per_image(rec, args.images)
    report = evaluate(dets, gts, args.images)
    report.update({"model": os.path.basename(args.model), "seed": args.seed, "set": name, "input": [mh, mw],
                   "families": sorted(set(families))})
    if args.figure:
        draw_figure(images, dets, gts, report["score_threshold_at_0.1fp"], args.figure)
    out = args.json or os.path.join(args.work, "eval.json")
    json.dump(report, open(out, "w"), indent=1)
    print(f"{name} set: {args.images} images, {report['signs']} signs, seed {args.seed}, "
          f"families {', '.join(report['families'])}")
    print(f"mAP@0.5 {report['map50']:.4f} (signs >= 20 px, smaller ones ignored: {report['map50_min20px']:.4f}); "
          f"class-agnostic AP@0.5 {report['ap50_class_agnostic']:.4f}")
    print(f"recall at <=0.1 FP/img {report['recall_at_0.1fp']:.4f} (score >= {report['score_threshold_at_0.1fp']:.3f}, "
          f"{report['fp_at_threshold']} FP)")
    for k, v in report["recall_by_size_at_0.1fp"].items():
        print(f"  recall {k:>9}: {v['recall'] if v['recall'] is not None else float('nan'):.3f} (n={v['n']})")
    print("| id | class | AP@0.5 | signs |\n|---:|---|---:|---:|")
    for c, name in enumerate(CLASS_NAMES):
        v = report["per_class"][name]
        print(f"| {c} | {name} | {v['ap']:.3f} | {v['n_gt']} |")
    print(f"report: {out}")


if __name__ == "__main__":
    main()
