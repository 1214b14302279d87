"""Fine-tune the sign detector on real GTSDB frames (00000-00399), starting from the shipped synthetic model.

    nice -n 5 /usr/bin/python3 scripts/training/train_real.py --steps 1500

The head predicts objectness, a box, the 4 GTSDB categories and (as an auxiliary task) the 43 classes;
export.py-style exports keep either set (--classes 4 or 43). Training samples are 320x320 windows of a
frame scaled by 0.9-1.7 (the agent letterboxes an 816x480 frame by 1.0 at 832x480, 1.2 at 1024x576,
1.53 at 1280x736): 60 % around a random sign, 25 % around a false detection of the current model
(tail-lights, red adverts, boards: re-mined every --mine-every steps), 15 % anywhere. The validation
frames 00400-00499 are scored every --val-every steps; 00500-00599 are never read.
"""
import argparse
import math
import os
import sys
import time

import cv2
import numpy as np
import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import gtsdb  # noqa: E402
from gtsdb import CATEGORY_OF  # noqa: E402
from import_onnx import load_detector_onnx  # noqa: E402
from model import SignDetector, decode, grid_centres  # noqa: E402
from real_frames import detect, iou_matrix, scores  # noqa: E402
from train import EMA, assign, giou, photometric  # noqa: E402

N_CAT = 4
WIN = 320


def widen_head(net43):
    """A SignDetector with 4 + 43 class channels: categories start as the mean of their classes' weights."""
    net = SignDetector(num_classes=N_CAT + 43)
    sd = net43.state_dict()
    own = net.state_dict()
    for k, v in sd.items():
        if not k.startswith("pred."):
            own[k] = v
    w, b = sd["pred.weight"], sd["pred.bias"]
    nw, nb = own["pred.weight"], own["pred.bias"]
    nw[:5], nb[:5] = w[:5], b[:5]
    for c in range(N_CAT):
        members = [5 + i for i in range(43) if CATEGORY_OF[i] == c]
        nw[5 + c] = w[members].mean(0)
        nb[5 + c] = b[members].max()
    nw[5 + N_CAT:], nb[5 + N_CAT:] = w[5:], b[5:]
    net.load_state_dict(own)
    return net


def narrow_head(net, classes):
    """The exportable detector: the 4 category channels or the 43 class channels of a widened head."""
    out = SignDetector(num_classes=classes)
    sd = {k: v for k, v in net.state_dict().items() if not k.startswith("pred.")}
    w, b = net.state_dict()["pred.weight"], net.state_dict()["pred.bias"]
    sel = list(range(5)) + (list(range(5, 5 + N_CAT)) if classes == N_CAT else list(range(5 + N_CAT, 5 + N_CAT + 43)))
    sd["pred.weight"], sd["pred.bias"] = w[sel], b[sel]
    out.load_state_dict(sd)
    return out.eval()


def window(img, boxes, s, ox, oy, rng):
    m = np.array([[s, 0, -ox], [0, s, -oy]], np.float32)
    x = cv2.warpAffine(img, m, (WIN, WIN), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT,
                       borderValue=(114, 114, 114))
    t = boxes.copy()
    t[:, [0, 2]] = t[:, [0, 2]] * s - ox
    t[:, [1, 3]] = t[:, [1, 3]] * s - oy
    area = (t[:, 2] - t[:, 0]) * (t[:, 3] - t[:, 1])
    t[:, :4] = t[:, :4].clip(0, WIN)
    vis = (t[:, 2] - t[:, 0]) * (t[:, 3] - t[:, 1])
    t = t[(vis >= 0.5 * area) & (np.minimum(t[:, 2] - t[:, 0], t[:, 3] - t[:, 1]) >= 3)]
    return x, t


def sample(frames, negatives, rng, n):
    xs, ts = [], []
    for _ in range(n):
        s = math.exp(rng.uniform(math.log(0.9), math.log(1.7)))
        r = rng.random()
        fi = int(rng.integers(len(frames)))
        if r < 0.60:
            img, b = frames[fi]
            j = int(rng.integers(len(b)))
            cx, cy = (b[j, 0] + b[j, 2]) / 2 * s, (b[j, 1] + b[j, 3]) / 2 * s
            cx, cy = cx + rng.uniform(-0.4, 0.4) * WIN, cy + rng.uniform(-0.4, 0.4) * WIN
        elif r < 0.85 and len(negatives):
            fi, nx, ny = negatives[int(rng.integers(len(negatives)))]
            img, b = frames[fi]
            cx, cy = nx * s + rng.uniform(-0.3, 0.3) * WIN, ny * s + rng.uniform(-0.3, 0.3) * WIN
        else:
            img, b = frames[fi]
            cx, cy = rng.uniform(0, img.shape[1] * s), rng.uniform(0, img.shape[0] * s)
        ox = float(np.clip(cx - WIN / 2, -32, img.shape[1] * s - WIN + 32))
        oy = float(np.clip(cy - WIN / 2, -32, img.shape[0] * s - WIN + 32))
        x, t = window(img, b, s, ox, oy, rng)
        if rng.random() < 0.15:
            x = cv2.GaussianBlur(x, (3, 3), rng.uniform(0.4, 1.0))
        xs.append(x)
        ts.append(torch.from_numpy(t))
    return np.stack(xs), ts


def loss_fn(raw, targets, pts):
    obj, cls, boxes = decode(raw)
    obj_t = torch.zeros_like(obj)
    pc, pb, pg, pl = [], [], [], []
    for i, t in enumerate(targets):
        own = assign(pts, t)
        m = own >= 0
        if m.any():
            obj_t[i, m] = 1.0
            g = t[own[m]]
            pc.append(cls[i, m])
            pb.append(boxes[i, m])
            pg.append(g[:, :4])
            pl.append(g[:, 4].long())
    num_pos = max(1.0, float(obj_t.sum()))
    l_obj = F.binary_cross_entropy_with_logits(obj, obj_t, reduction="sum") / num_pos
    if pc:
        pc, pb, pg, pl = torch.cat(pc), torch.cat(pb), torch.cat(pg), torch.cat(pl)
        cat = torch.from_numpy(CATEGORY_OF)[pl]
        tgt = torch.cat([F.one_hot(cat, N_CAT), F.one_hot(pl, 43)], 1).float()
        l_cls = F.binary_cross_entropy_with_logits(pc, tgt, reduction="none")
        l_cls = (l_cls[:, :N_CAT].sum() + 0.5 * l_cls[:, N_CAT:].sum()) / num_pos
        l_box = (1 - giou(pb, pg)).sum() / num_pos
    else:
        l_cls = l_box = raw.sum() * 0
    return l_obj + l_cls + 5.0 * l_box, (l_obj.item(), l_cls.item(), l_box.item())


def mine(net, frames, h, w, rng, n_frames, min_score=0.2):
    """Centres (frame index, x, y) of confident detections that overlap no sign: the hard negatives.
    A random n_frames of the training frames are searched each time (a full pass costs minutes here)."""
    neg = []
    for fi in rng.choice(len(frames), min(n_frames, len(frames)), replace=False):
        img, b = frames[fi]
        d = detect(net, img, h, w, N_CAT, min_score=min_score)
        if len(d) == 0:
            continue
        iou = iou_matrix(d[:, :4], b[:, :4]).max(1) if len(b) else np.zeros(len(d))
        for row in d[iou < 0.1]:
            neg.append((int(fi), (row[0] + row[2]) / 2, (row[1] + row[3]) / 2))
    return neg


def val_scores(net, val, h=576, w=1024):
    dets = []
    for img, b in val:
        d = detect(net, img, h, w, N_CAT, min_score=0.05)
        dets.append(d)
    gts = [np.concatenate([b[:, :4], CATEGORY_OF[b[:, 4].astype(int)][:, None].astype(np.float32)], 1)
           for _, b in val]
    # score categories as if they were classes: map43 here is the 4-category mAP
    from real_frames import match, mean_ap
    rows, _ = match(dets, gts)
    map4 = mean_ap(rows, gts)[0]
    ag = lambda a: np.concatenate([a[:, :5], np.zeros((len(a), 1), np.float32)], 1)
    ap_ag = mean_ap(match([ag(d) for d in dets], [ag(g) for g in gts])[0], [ag(g) for g in gts])[0]
    return ap_ag, map4


def train_mode(net):
    """Train, but keep BatchNorm on its running statistics: the imported weights carry their BN folded
    into the convolutions (statistics = identity), and 16 windows a step are too few to re-estimate them."""
    net.train()
    for m in net.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.eval()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--init", default=os.path.join(HERE, "work", "traffic-signs-synthetic-v2.onnx"),
                    help="the synthetic-trained 43-class detector to start from: its .onnx (version 2.0.0, git "
                         "5176c75:models/traffic-signs.onnx), a train.py checkpoint, or a checkpoint of this script")
    ap.add_argument("--steps", type=int, default=1500)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--mine-every", type=int, default=300)
    ap.add_argument("--val-every", type=int, default=250)
    ap.add_argument("--mine-frames", type=int, default=80, help="training frames searched per mining pass")
    ap.add_argument("--split", default="train", help="frames to learn from (train = 00000-00399)")
    ap.add_argument("--threads", type=int, default=1,
                    help="1 on a shared machine: OpenMP threads spin-wait for each other when the cores are busy")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--work", default=os.path.join(HERE, "work"))
    ap.add_argument("--name", default="detector_real")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    rng = np.random.default_rng(a.seed)
    g = torch.Generator().manual_seed(a.seed)
    os.makedirs(a.work, exist_ok=True)
    t0 = time.time()
    load = lambda split: [(cv2.imread(p)[:, :, ::-1].copy(), b) for p, b in gtsdb.frames(split)]
    frames, val = load(a.split), load("val") if a.split == "train" else []
    print(f"[data] {len(frames)} frames, {sum(len(b) for _, b in frames)} signs; val {len(val)} frames", flush=True)
    if a.init.endswith(".onnx"):
        net = widen_head(load_detector_onnx(a.init))
    else:
        ck = torch.load(a.init)
        net = SignDetector(**ck["config"])
        net.load_state_dict(ck["model"])
        if ck["config"]["num_classes"] == 43:  # a train.py (synthetic) checkpoint
            net = widen_head(net)
    ema = EMA(net, decay=0.999, ramp=200)
    decay, no_decay = [], []
    for _, p in net.named_parameters():
        (no_decay if p.ndim <= 1 else decay).append(p)
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 5e-4}, {"params": no_decay, "weight_decay": 0}],
                            lr=a.lr, betas=(0.9, 0.99))
    warm = 100
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda it: (it + 1) / warm if it < warm else
                                              0.02 + 0.98 * 0.5 * (1 + math.cos(math.pi * (it - warm) / max(1, a.steps - warm))))
    pts = grid_centres(WIN // 8, WIN // 8)
    negatives = []
    run = None
    tl = time.time()
    train_mode(net)
    for it in range(a.steps):
        if it and it % a.mine_every == 0:  # the synthetic start finds little at 0.2 on real frames
            tm = time.time()
            negatives = negatives[-400:] + mine(ema.model.eval() if it else net.eval(), frames, 480, 832, rng,
                                                a.mine_frames)
            train_mode(net)
            print(f"[mine] step {it}: {len(negatives)} false detections >= 0.2 on training frames "
                  f"({time.time() - tm:.0f} s)", flush=True)
        xs, ts = sample(frames, negatives, rng, a.batch)
        x = photometric(torch.from_numpy(xs).permute(0, 3, 1, 2).float() / 255, g)
        loss, parts = loss_fn(net(x), ts, pts)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(net.parameters(), 10.0)
        opt.step()
        sched.step()
        ema.update(net)
        v = np.array([loss.item(), *parts])
        run = v if run is None else 0.95 * run + 0.05 * v
        if (it + 1) % 25 == 0:
            el = time.time() - t0
            print(f"[train] it {it + 1}/{a.steps} loss {run[0]:.3f} (obj {run[1]:.3f} cls {run[2]:.3f} box {run[3]:.3f}) "
                  f"lr {sched.get_last_lr()[0]:.2e} {(time.time() - tl) / 25:.2f} s/it elapsed {el / 60:.1f} min", flush=True)
            tl = time.time()
        if (it + 1) % 100 == 0 or it + 1 == a.steps:
            torch.save({"model": ema.model.state_dict(), "config": ema.model.config, "seed": a.seed, "iters": it + 1,
                        "split": a.split}, os.path.join(a.work, f"{a.name}_last.pt"))
        if val and ((it + 1) % a.val_every == 0 or it + 1 == a.steps):
            tv = time.time()
            ap_ag, map4 = val_scores(ema.model.eval(), val)
            torch.save({"model": ema.model.state_dict(), "config": ema.model.config, "seed": a.seed,
                        "iters": it + 1, "split": a.split}, os.path.join(a.work, f"{a.name}_{it + 1}.pt"))
            print(f"[val] it {it + 1}: class-agnostic AP {ap_ag:.3f}, 4-category mAP {map4:.3f} at 1024x576 "
                  f"({time.time() - tv:.0f} s)", flush=True)
            train_mode(net)
            tl = time.time()
    print(f"[done] {(time.time() - t0) / 60:.1f} min", flush=True)


if __name__ == "__main__":
    main()
