"""Train the 43-class sign classifier on real crops and export models/sign-classifier.onnx.

    nice -n 5 /usr/bin/python3 scripts/training/classifier.py [--epochs 8]

Data: GTSRB's 39,209 training crops (tracks split 90/10 into train/validation, never crops) plus
every sign cut from gtsdb-train frames 00000-00399 (oversampled), each re-cut on the fly around its
sign box with the agent's crop padding and a random box error, so the classifier sees what the
detector hands it: a box that is a few pixels off, padded by CROP_PADDING on every side, stretched to
S x S. GTSDB frames 00400-00499 are the validation crops; 00500-00599 are never read.
"""
import argparse
import json
import math
import os
import sys
import time

import cv2
import numpy as np
import onnx
import torch
import torch.nn as nn
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import gtsdb  # noqa: E402
from export import save_with_metadata  # noqa: E402
from signs import CLASS_NAMES  # noqa: E402

S = 32               # GTSRB's crops are 32x32; bigger inputs cost time per crop and add no pixels for 20-40 px signs
CROP_PADDING = 0.15  # GTSRB crops carry a ~10-30 % margin (median 16 %) around the sign
VERSION = "1.1.0"  # 1.1: fine-tuned with no-sign crops from real frames (mine_negatives.py)


def conv_bn(cin, cout, s=1):
    return nn.Sequential(nn.Conv2d(cin, cout, 3, s, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


class SignClassifier(nn.Module):
    """Seven 3x3 convs, 32 -> 4 px; ~11 M multiply-adds a crop, so a frame's few crops cost well under a ms each."""

    def __init__(self, widths=(16, 32, 64, 128), num_classes=43):
        super().__init__()
        a, b, c, d = widths
        self.config = dict(widths=tuple(widths), num_classes=num_classes)
        self.features = nn.Sequential(conv_bn(3, a), conv_bn(a, b, 2), conv_bn(b, b), conv_bn(b, c, 2), conv_bn(c, c),
                                      conv_bn(c, d, 2), conv_bn(d, d))
        self.drop = nn.Dropout(0.3)
        self.fc = nn.Linear(d * (S // 8) ** 2, num_classes)

    def forward(self, x):
        """x float [N,3,S,S] 0..1 -> logits [N,43]."""
        x = (x - 0.45) / 0.25
        return self.fc(self.drop(self.features(x).flatten(1)))


class ExportClassifier(nn.Module):
    def __init__(self, net):
        super().__init__()
        self.net = net

    def forward(self, img):
        x = img.permute(0, 3, 1, 2).float() * (1.0 / 255.0)
        return torch.softmax(self.net(x), 1)


def cut(img, box, pad, rng, jitter, out=S, border=cv2.BORDER_REPLICATE):
    """The crop the agent takes: box padded by `pad` x its size on each side, stretched to out x out
    (bilinear, edge pixels repeated outside the image). With jitter the box is first moved and resized by
    up to ~10 % of its size and the result may lose resolution, as a small far sign does."""
    x1, y1, x2, y2 = [float(v) for v in box[:4]]
    w, h = x2 - x1, y2 - y1
    if jitter:
        e = rng.normal(0, 0.06, 4)
        x1, x2 = x1 + e[0] * w, x2 + e[1] * w
        y1, y2 = y1 + e[2] * h, y2 + e[3] * h
        w, h = max(2.0, x2 - x1), max(2.0, y2 - y1)
    rx1, ry1 = x1 - pad * w, y1 - pad * h
    rw, rh = w * (1 + 2 * pad), h * (1 + 2 * pad)
    side = out
    if jitter and rng.random() < 0.4:
        side = int(rng.integers(12, out))  # resolution loss: a 12-31 px view of the sign, scaled back up
    m = np.array([[side / rw, 0, -rx1 * side / rw], [0, side / rh, -ry1 * side / rh]], np.float32)
    c = cv2.warpAffine(img, m, (side, side), flags=cv2.INTER_LINEAR, borderMode=border)
    if side != out:
        c = cv2.resize(c, (out, out), interpolation=cv2.INTER_LINEAR)
    if jitter and rng.random() < 0.15:
        c = cv2.GaussianBlur(c, (3, 3), rng.uniform(0.5, 1.2))
    return c


def gtsdb_signs(split):
    imgs, boxes = [], []
    for path, b in gtsdb.frames(split):
        img = cv2.imread(path)[:, :, ::-1].copy()
        for row in b:
            imgs.append(img)
            boxes.append(row)
    return imgs, np.array(boxes, np.float32).reshape(-1, 5)


def photometric(x, g):
    b = x.shape[0]
    gain = torch.exp(torch.randn(b, 1, 1, 1, generator=g) * 0.25)
    bias = torch.randn(b, 1, 1, 1, generator=g) * 0.05
    sat = 1 + torch.randn(b, 1, 1, 1, generator=g) * 0.2
    grey = x.mean(1, keepdim=True)
    return ((grey + (x - grey) * sat) * gain + bias).clamp(0, 1)


def batches(items, batch, rng, jitter):
    """items: list of (image, box, label) -> yields uint8 [n,S,S,3], labels."""
    order = rng.permutation(len(items)) if jitter else np.arange(len(items))
    for k in range(0, len(order), batch):
        sel = order[k:k + batch]
        xs = np.stack([cut(items[i][0], items[i][1], CROP_PADDING, rng, jitter) for i in sel])
        yield xs, np.array([items[i][2] for i in sel], np.int64)


def negatives(paths, repeat=1):
    """Items (image, box, -1) from mine_negatives.py lists: crops that are no sign at all."""
    cache, out = {}, []
    for p in paths:
        for r in json.load(open(p)):
            if r["file"] not in cache:
                cache[r["file"]] = cv2.imread(r["file"])[:, :, ::-1].copy()
            out.append((cache[r["file"]], np.array(r["box"], np.float32), -1))
    return out * repeat


def none_scores(net, items, batch=512):
    """Top class probability on crops that are no sign: what the agent's product score multiplies by."""
    net.eval()
    tops = []
    with torch.no_grad():
        for xs, _ in batches(items, batch, np.random.default_rng(0), jitter=False):
            tops.append(torch.softmax(net(torch.from_numpy(xs).permute(0, 3, 1, 2).float() / 255), 1).max(1).values.numpy())
    net.train()
    return np.concatenate(tops) if tops else np.zeros(0)


def accuracy(net, items, batch=512):
    net.eval()
    rng = np.random.default_rng(0)
    ok, n, preds = 0, 0, []
    with torch.no_grad():
        for xs, ys in batches(items, batch, rng, jitter=False):
            p = net(torch.from_numpy(xs).permute(0, 3, 1, 2).float() / 255).argmax(1).numpy()
            preds.append(p)
            ok += int((p == ys).sum())
            n += len(ys)
    net.train()
    return ok / max(1, n), np.concatenate(preds) if preds else np.zeros(0)


def export(net, path, meta_extra=None):
    net = net.eval()
    w = ExportClassifier(net).eval()
    dummy = torch.zeros(2, S, S, 3, dtype=torch.uint8)
    torch.onnx.export(w, dummy, path, opset_version=13, input_names=["images"], output_names=["probs"],
                      dynamic_axes={"images": {0: "n"}, "probs": {0: "n"}}, do_constant_folding=True)
    m = onnx.load(path)
    meta = {
        "kind": "classifier",
        "labels": json.dumps(CLASS_NAMES),
        "imgsz": json.dumps([S, S]),
        "crop_padding": str(CROP_PADDING),
        "input_layout": "NHWC",
        "input_dtype": "uint8",
        "color": "RGB",
        "resize": "stretch",
        "description": ("eva traffic-sign classifier: 43 GTSRB classes from a crop. Input uint8 [N,S,S,3] RGB: the "
                        "detector's box padded by crop_padding x its width/height on each side, stretched (aspect "
                        "not kept, bilinear) to S x S, edge pixels repeated where the padded box leaves the frame. "
                        "Output [N,43] softmax probabilities, spread thin (low top probability) on crops that are no sign. "
                        "Trained on GTSRB crops and GTSDB frames 00000-00399."),
        "license": "Apache-2.0 (weights); trained on GTSRB/GTSDB, research-use data (see models/README.md)",
        "version": VERSION,
        "author": "eva project",
    }
    meta.update(meta_extra or {})
    save_with_metadata(m, meta, path)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--epochs", type=int, default=8)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--lr", type=float, default=3e-3)
    ap.add_argument("--gtsdb-repeat", type=int, default=8, help="times each real GTSDB sign appears per epoch")
    ap.add_argument("--negatives", nargs="*", default=[],
                    help="mine_negatives.py lists (training frames only): crops taught to spread their probability "
                         "over all 43 classes (outlier exposure), so a tail-light's product score stays low")
    ap.add_argument("--neg-repeat", type=int, default=4)
    ap.add_argument("--neg-weight", type=float, default=0.5)
    ap.add_argument("--val-negatives", default=None, help="a mine_negatives.py list from validation frames, to report on")
    ap.add_argument("--init", default=None, help="start from this classifier checkpoint")
    ap.add_argument("--name", default="classifier", help="checkpoint work/<name>_last.pt")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--work", default=os.path.join(HERE, "work"))
    ap.add_argument("--out", default=os.path.join(HERE, "..", "..", "models", "sign-classifier.onnx"))
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    rng = np.random.default_rng(a.seed)
    os.makedirs(a.work, exist_ok=True)
    t0 = time.time()

    X, y, roi, tracks = gtsdb.load_gtsrb("train")
    track_id = y * 1000 + tracks
    uniq = np.unique(track_id)
    val_tracks = set(np.random.default_rng(123).choice(uniq, len(uniq) // 10, replace=False).tolist())
    is_val = np.array([t in val_tracks for t in track_id])
    train = [(X[i], roi[i], int(y[i])) for i in np.where(~is_val)[0]]
    val_rb = [(X[i], roi[i], int(y[i])) for i in np.where(is_val)[0]]
    imgs, bx = gtsdb_signs("train")
    train += [(imgs[i], bx[i], int(bx[i, 4])) for i in range(len(imgs))] * a.gtsdb_repeat
    negs = negatives(a.negatives, a.neg_repeat)
    train += negs
    val_neg = negatives([a.val_negatives]) if a.val_negatives else []
    vimgs, vbx = gtsdb_signs("val")
    val_db = [(vimgs[i], vbx[i], int(vbx[i, 4])) for i in range(len(vimgs))]
    print(f"[data] {len(train)} training crops ({len(imgs)} GTSDB signs x{a.gtsdb_repeat}); validation "
          f"{len(val_rb)} GTSRB crops ({len(val_tracks)} tracks), {len(val_db)} GTSDB signs; {len(negs)} negative "
          f"crops ({len(val_neg)} for validation); "
          f"{time.time() - t0:.0f} s", flush=True)

    net = SignClassifier()
    if a.init:
        net.load_state_dict(torch.load(a.init)["model"])
        print(f"[model] from {a.init}", flush=True)
    print(f"[model] {sum(p.numel() for p in net.parameters()) / 1e6:.3f} M parameters", flush=True)
    opt = torch.optim.AdamW(net.parameters(), lr=a.lr, weight_decay=5e-4)
    steps = a.epochs * math.ceil(len(train) / a.batch)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, a.lr, total_steps=steps, pct_start=0.1)
    g = torch.Generator().manual_seed(a.seed)
    it = 0
    best = None
    for ep in range(a.epochs):
        te = time.time()
        run = 0.0
        for xs, ys in batches(train, a.batch, rng, jitter=True):
            x = photometric(torch.from_numpy(xs).permute(0, 3, 1, 2).float() / 255, g)
            logits = net(x)
            yt = torch.from_numpy(ys)
            pos = yt >= 0
            loss = F.cross_entropy(logits[pos], yt[pos], label_smoothing=0.1) if pos.any() else logits.sum() * 0
            if (~pos).any():  # no sign: cross-entropy to the uniform distribution over the 43 classes
                loss = loss + a.neg_weight * (-F.log_softmax(logits[~pos], 1).mean(1)).sum() / max(1, int(pos.sum()))
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            it += 1
            run = 0.98 * run + 0.02 * loss.item() if it > 1 else loss.item()
            if it % 50 == 0:
                print(f"[train] ep {ep + 1} it {it}/{steps} loss {run:.3f} {time.time() - te:.0f} s", flush=True)
        acc_rb, _ = accuracy(net, val_rb)
        acc_db, _ = accuracy(net, val_db)
        neg_txt = ""
        if val_neg:
            tops = none_scores(net, val_neg)
            neg_txt = f", no-sign crops: top probability median {np.median(tops):.2f}, {(tops >= 0.5).mean():.2f} >= 0.5"
        print(f"[val] ep {ep + 1}: GTSRB val tracks {acc_rb:.4f}, GTSDB val signs {acc_db:.4f}{neg_txt} "
              f"({time.time() - te:.0f} s/epoch)", flush=True)
        ck = {"model": net.state_dict(), "config": net.config, "epoch": ep + 1, "acc_rb": acc_rb, "acc_db": acc_db}
        torch.save(ck, os.path.join(a.work, f"{a.name}_last.pt"))
        export(net, a.out)  # every epoch, so an interrupted run still leaves a usable model
        net.train()
    print(f"[done] {time.time() - t0:.0f} s; {a.out}", flush=True)


if __name__ == "__main__":
    main()
