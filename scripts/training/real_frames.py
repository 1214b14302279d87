"""Inference and scoring of a detector (+ classifier) on real GTSDB frames, in PyTorch, for development.

Frames are letterboxed exactly as the agent does (scale to fit, pad bottom/right with 114, bilinear at
pixel centres = cv2.INTER_LINEAR); boxes come back in frame pixels. The shipped .onnx files are scored
through the agent itself by scripts/evaluate-signs.mjs; this copy exists to pick checkpoints and settings
on the validation split while training runs.
"""
import cv2
import numpy as np
import torch
from torchvision.ops import batched_nms, nms

from evaluate import iou_matrix, match, mean_ap, voc_ap
from gtsdb import CATEGORY_OF
from model import decode


def letterbox(img, h, w):
    fh, fw = img.shape[:2]
    s = min(w / fw, h / fh)
    cw, ch = min(w, max(1, round(fw * s))), min(h, max(1, round(fh * s)))
    out = np.full((h, w, 3), 114, np.uint8)
    out[:ch, :cw] = cv2.resize(img, (cw, ch), interpolation=cv2.INTER_LINEAR)
    return out, cw / fw, ch / fh


@torch.no_grad()
def detect(net, img, h, w, n_cat, min_score=0.05, iou=0.5, agnostic=True):
    """-> [n, 6] x1 y1 x2 y2 score category in frame pixels (NMS across classes when agnostic)."""
    x, sx, sy = letterbox(img, h, w)
    raw = net(torch.from_numpy(x).permute(2, 0, 1)[None].float() / 255)
    obj, cls, boxes = decode(raw)
    scores = torch.sigmoid(obj[0])[:, None] * torch.sigmoid(cls[0, :, :n_cat])
    best, lab = scores.max(1)
    keep = best >= min_score
    b, s, l = boxes[0][keep], best[keep], lab[keep]
    k = nms(b, s, iou) if agnostic else batched_nms(b, s, l, iou)
    k = k[:100]
    b = b[k].numpy() / np.array([sx, sy, sx, sy], np.float32)
    return np.concatenate([b, s[k, None].numpy(), l[k, None].float().numpy()], 1)


def crops(img, boxes, pad, size):
    from classifier import cut
    return np.stack([cut(img, b, pad, None, False, out=size) for b in boxes]) if len(boxes) else \
        np.zeros((0, size, size, 3), np.uint8)


@torch.no_grad()
def classify(clf, img, dets, pad, size):
    if len(dets) == 0:
        return np.zeros((0, 43), np.float32)
    x = torch.from_numpy(crops(img, dets[:, :4], pad, size)).permute(0, 3, 1, 2).float() / 255
    return torch.softmax(clf(x), 1).numpy()


def scores(dets, gts, n_images):
    """The issue's table from per-frame detections with 43-class labels: dets [n,6] (.., score, class)."""
    rows, hits = match(dets, gts)
    map43, per_class = mean_ap(rows, gts)
    cat = lambda a: np.concatenate([a[:, :-1], CATEGORY_OF[a[:, -1].astype(int)][:, None].astype(a.dtype)], 1)
    cat_d, cat_g = [cat(d) for d in dets], [cat(g) for g in gts]
    map4 = mean_ap(match(cat_d, cat_g)[0], cat_g)[0]
    zero = lambda a: np.concatenate([a[:, :-1], np.zeros((len(a), 1), a.dtype)], 1)
    ag_d, ag_g = [zero(d) for d in dets], [zero(g) for g in gts]
    ag_rows, ag_hits = match(ag_d, ag_g)
    ap_ag = mean_ap(ag_rows, ag_g)[0]
    rows = rows[np.argsort(-rows[:, 0], kind="stable")]
    fp = np.cumsum(1 - rows[:, 2])
    ok = np.where(fp <= 0.1 * n_images)[0]
    thr = rows[ok[-1], 0] if len(ok) else 1.0
    n_gt = sum(len(g) for g in gts)
    rec = float(rows[: ok[-1] + 1, 2].sum() / n_gt) if len(ok) else 0.0
    # recall by size at that threshold, and classification accuracy of found signs (class-agnostic match)
    kept = [d[d[:, 4] >= thr] for d in dets]
    _, hk = match(kept, gts)
    sizes = np.concatenate([np.maximum(g[:, 2] - g[:, 0], g[:, 3] - g[:, 1]) for g in gts])
    found_right = np.concatenate(hk)
    by_size = {}
    for lo, hi in [(0, 24), (24, 32), (32, 48), (48, 1e9)]:
        m = (sizes >= lo) & (sizes < hi)
        by_size[f"{lo}-{int(hi) if hi < 1e9 else ''}"] = (float(found_right[m].mean()) if m.any() else float("nan"),
                                                           int(m.sum()))
    n_found = n_ok = 0
    for d, g in zip(kept, gts):
        if len(d) == 0 or len(g) == 0:
            continue
        iou = iou_matrix(d[:, :4], g[:, :4])
        for j in range(len(g)):
            i = int(np.argmax(iou[:, j]))
            if iou[i, j] >= 0.5:
                n_found += 1
                n_ok += int(d[i, 5] == g[j, 4])
    return {"ap_agnostic": ap_ag, "map43": map43, "map4": map4, "recall_fp01": rec, "threshold": float(thr),
            "recall_by_size": by_size, "cls_acc_found": n_ok / max(1, n_found), "n_found": n_found,
            "n_gt": n_gt, "n_images": n_images, "per_class": per_class}
