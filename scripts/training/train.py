"""Train the traffic-sign detector from a seed and export models/traffic-signs.onnx.

    /usr/bin/python3 scripts/training/train.py --seed 1

Data is rendered up front and cached in scripts/training/work/ (git-ignored); the schedule is
a fixed number of iterations so the same seed gives the same model on the same machine.
"""
import argparse
import json
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

import dataset  # noqa: E402
import scenes  # noqa: E402
from model import SignDetector, check_input_size, decode, grid_centres  # noqa: E402
from export import VERSION, export_onnx  # noqa: E402

H, W = 288, 512


def assign(pts, gt, max_pos=9):
    """Anchor-free label assignment for one image.

    A cell is a candidate for a box if its centre lies within max(8 px, 30% of the box size)
    of the box centre (so a 12 px sign still gets ~4 cells); each box keeps its max_pos
    nearest candidates, always at least the nearest cell; ties go to the smaller box.
    Returns (gt index per cell or -1).
    """
    n = pts.shape[0]
    owner = torch.full((n,), -1, dtype=torch.long)
    if gt.shape[0] == 0:
        return owner
    cx, cy = (gt[:, 0] + gt[:, 2]) / 2, (gt[:, 1] + gt[:, 3]) / 2
    w, h = gt[:, 2] - gt[:, 0], gt[:, 3] - gt[:, 1]
    dx = (pts[None, :, 0] - cx[:, None]).abs()
    dy = (pts[None, :, 1] - cy[:, None]).abs()
    cand = (dx < torch.clamp(0.3 * w, min=8)[:, None]) & (dy < torch.clamp(0.3 * h, min=8)[:, None])
    dist = dx ** 2 + dy ** 2
    dist_c = torch.where(cand, dist, torch.full_like(dist, 1e9))
    k = min(max_pos, n)
    _, idx = dist_c.topk(k, dim=1, largest=False)
    keep = torch.zeros_like(cand)
    keep.scatter_(1, idx, True)
    keep &= cand
    keep[torch.arange(gt.shape[0]), dist.argmin(1)] = True
    area = (w * h)[:, None].expand_as(dist)
    area = torch.where(keep, area, torch.full_like(area, 1e12))
    best_area, best = area.min(0)
    owner[best_area < 1e12] = best[best_area < 1e12]
    return owner


def giou(a, b):
    ix1, iy1 = torch.max(a[:, 0], b[:, 0]), torch.max(a[:, 1], b[:, 1])
    ix2, iy2 = torch.min(a[:, 2], b[:, 2]), torch.min(a[:, 3], b[:, 3])
    inter = (ix2 - ix1).clamp(min=0) * (iy2 - iy1).clamp(min=0)
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    union = area_a + area_b - inter + 1e-6
    iou = inter / union
    cx1, cy1 = torch.min(a[:, 0], b[:, 0]), torch.min(a[:, 1], b[:, 1])
    cx2, cy2 = torch.max(a[:, 2], b[:, 2]), torch.max(a[:, 3], b[:, 3])
    hull = (cx2 - cx1) * (cy2 - cy1) + 1e-6
    return iou - (hull - union) / hull


def detection_loss(raw, targets, pts, num_classes):
    obj, cls, boxes = decode(raw)
    b = raw.shape[0]
    owners = [assign(pts, t) for t in targets]
    obj_t = torch.zeros_like(obj)
    pos_cls, pos_box, pos_gt, pos_lbl = [], [], [], []
    for i, (t, own) in enumerate(zip(targets, owners)):
        m = own >= 0
        if m.any():
            obj_t[i, m] = 1.0
            g = t[own[m]]
            pos_cls.append(cls[i, m])
            pos_box.append(boxes[i, m])
            pos_gt.append(g[:, :4])
            pos_lbl.append(g[:, 4].long())
    num_pos = max(1.0, float(obj_t.sum()))
    l_obj = F.binary_cross_entropy_with_logits(obj, obj_t, reduction="sum") / num_pos
    if pos_cls:
        pc, pb, pg, pl = torch.cat(pos_cls), torch.cat(pos_box), torch.cat(pos_gt), torch.cat(pos_lbl)
        l_cls = F.binary_cross_entropy_with_logits(pc, F.one_hot(pl, num_classes).float(), reduction="sum") / num_pos
        l_box = (1 - giou(pb, pg)).sum() / num_pos
    else:
        l_cls = l_box = raw.sum() * 0
    return l_obj + l_cls + 5.0 * l_box, (l_obj.item(), l_cls.item(), l_box.item())


def sign_crops(images, boxes, index, g, n, size):
    """n square crops, each around one randomly chosen sign, as a uint8 batch plus their boxes.

    A sign up to 2/3 of the crop keeps its scale (the crop is a window of the scene, placed
    at random so the sign lies wholly inside); a bigger one is cut with a 10-50 % margin and
    shrunk to fit (it still fills 2/3 to 9/10 of the crop). Other signs in the window come
    along while at least half of them is inside.
    A 96 px crop costs 1/16 of a 512x288 scene and carries ~2 signs instead of ~8: four times
    the signs per unit of compute, which is what the 43-way classification needs most.
    """
    hh, ww = images.shape[1:3]
    out = np.empty((n, size, size, 3), np.uint8)
    picks = torch.randint(len(index), (n,), generator=g).numpy()
    r = torch.rand(n, 3, generator=g).numpy()
    targets = []
    for k, p in enumerate(picks):
        i, j = index[p]
        b = boxes[i]
        x1, y1, x2, y2 = b[j, :4]
        s = max(x2 - x1, y2 - y1)
        win = size if s <= size * 2 / 3 else min(hh, ww, int(round(s * (1.1 + 0.4 * r[k, 2]))))
        wx = int(np.clip(x2 - win + r[k, 0] * (win - (x2 - x1)), 0, ww - win))
        wy = int(np.clip(y2 - win + r[k, 1] * (win - (y2 - y1)), 0, hh - win))
        crop = images[i, wy:wy + win, wx:wx + win]
        f = size / win
        out[k] = crop if win == size else cv2.resize(np.asarray(crop), (size, size), interpolation=cv2.INTER_AREA)
        t = b.copy()
        t[:, [0, 2]] = (t[:, [0, 2]] - wx) * f
        t[:, [1, 3]] = (t[:, [1, 3]] - wy) * f
        area = (t[:, 2] - t[:, 0]) * (t[:, 3] - t[:, 1])
        t[:, :4] = t[:, :4].clip(0, size)
        vis = (t[:, 2] - t[:, 0]) * (t[:, 3] - t[:, 1])
        t = t[(vis >= 0.5 * area) & (np.minimum(t[:, 2] - t[:, 0], t[:, 3] - t[:, 1]) >= 4)]
        targets.append(torch.from_numpy(t))
    return out, targets


def photometric(x, g):
    """Cheap per-image brightness/contrast/saturation jitter so epochs are not identical."""
    b = x.shape[0]
    gain = torch.exp(torch.randn(b, 1, 1, 1, generator=g) * 0.15)
    bias = torch.randn(b, 1, 1, 1, generator=g) * 0.04
    sat = 1 + torch.randn(b, 1, 1, 1, generator=g) * 0.15
    grey = x.mean(1, keepdim=True)
    x = grey + (x - grey) * sat
    return (x * gain + bias).clamp(0, 1)


class EMA:
    def __init__(self, model, decay=0.9995, ramp=1000):
        import copy
        self.model = copy.deepcopy(model).eval()
        self.decay, self.updates, self.ramp = decay, 0, ramp
        for p in self.model.parameters():
            p.requires_grad_(False)

    def update(self, model):
        self.updates += 1
        d = self.decay * (1 - math.exp(-self.updates / self.ramp))
        with torch.no_grad():
            msd = model.state_dict()
            for k, v in self.model.state_dict().items():
                if v.dtype.is_floating_point:
                    v.mul_(d).add_(msd[k].detach(), alpha=1 - d)
                else:
                    v.copy_(msd[k])


def fmt_time(s):
    s = int(s)
    return f"{s // 60:d}m{s % 60:02d}s"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seed", type=int, default=1, help="training-data and init seed")
    ap.add_argument("--images", type=int, default=20000, help="synthetic training scenes (dense: ~8 signs each)")
    ap.add_argument("--iters", type=int, default=11200, help="optimizer steps, crop steps included")
    ap.add_argument("--stop-at", type=int, default=0,
                    help="end after this many steps of the --iters schedule (0: run it all)")
    ap.add_argument("--init", default=None,
                    help="start from this checkpoint's EMA weights (second, annealing stage)")
    ap.add_argument("--stage", type=int, default=1, help="offsets the batch-order seed so stages differ")
    ap.add_argument("--warmup", type=int, default=300)
    ap.add_argument("--final-lr", type=float, default=0.02, help="end of the cosine, as a fraction of --lr")
    ap.add_argument("--ckpt", default=None, help="final EMA checkpoint path (default work/traffic-signs_s<seed>.pt)")
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--crop-steps", type=int, default=9000,
                    help="first steps train on sign-centred crops instead of whole scenes")
    ap.add_argument("--crop", type=int, default=96, help="crop side (multiple of 32)")
    ap.add_argument("--crop-batch", type=int, default=128)
    ap.add_argument("--lr", type=float, default=4e-3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--work", default=os.path.join(HERE, "work"))
    ap.add_argument("--out", default=os.path.join(HERE, "..", "..", "models", "traffic-signs.onnx"))
    ap.add_argument("--version", default=VERSION)
    args = ap.parse_args()
    try:
        check_input_size(args.crop, args.crop)
    except ValueError as e:
        ap.error(f"--crop: {e}")

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    t_start = time.time()
    print(f"[data] rendering {args.images} training scenes (seed {args.seed})", flush=True)
    images, boxes = dataset.build(args.work, "train_dense", args.seed, args.images, H, W, scenes.TRAIN_FAMILIES,
                                  args.threads, mode="dense")
    print(f"[data] ready in {fmt_time(time.time() - t_start)}: {sum(len(b) for b in boxes)} signs", flush=True)

    model = SignDetector()
    if args.init:
        model.load_state_dict(torch.load(args.init)["model"])
        print(f"[model] initialised from {args.init}", flush=True)
    print(f"[model] {sum(p.numel() for p in model.parameters()) / 1e6:.3f} M parameters", flush=True)
    decay, no_decay = [], []
    for n_, p in model.named_parameters():
        (no_decay if p.ndim <= 1 else decay).append(p)
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 5e-4}, {"params": no_decay, "weight_decay": 0}],
                            lr=args.lr, betas=(0.9, 0.99))
    warm, fl = max(1, min(args.warmup, args.iters // 10)), args.final_lr
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda it: (it + 1) / warm if it < warm else
                                              fl + (1 - fl) * 0.5 * (1 + math.cos(math.pi * (it - warm) / max(1, args.iters - warm))))
    ema = EMA(model, ramp=1000 if args.init is None else 100)
    pts = grid_centres(H // 8, W // 8)
    pts_crop = grid_centres(args.crop // 8, args.crop // 8)
    sign_index = [(i, j) for i, b in enumerate(boxes) for j in range(len(b))]
    g = torch.Generator().manual_seed(args.seed + 1000 * (args.stage - 1))
    n = len(boxes)
    order = torch.randperm(n, generator=g)
    cursor = 0
    t0 = time.time()
    run = np.zeros(4)
    model.train()
    steps = min(args.iters, args.stop_at) if args.stop_at > 0 else args.iters
    seen = 0
    crop_cost = (args.crop_batch * args.crop ** 2) / (args.batch * H * W)  # a crop step vs a scene step, by pixels

    def eta(elapsed, done):
        """Remaining time, pricing the steps still to come by their pixels."""
        units = lambda a, b: max(0, min(b, args.crop_steps) - min(a, args.crop_steps)) * crop_cost + \
            max(0, b - max(a, args.crop_steps))
        return elapsed / max(1e-9, units(0, done)) * units(done, steps)

    for it in range(steps):
        if it < args.crop_steps:
            batch, targets = sign_crops(images, boxes, sign_index, g, args.crop_batch, args.crop)
            grid = pts_crop
            seen += len(batch) * (args.crop / W) * (args.crop / H)  # in whole-scene equivalents
        else:
            if cursor + args.batch > n:
                order, cursor = torch.randperm(n, generator=g), 0
            idx = order[cursor:cursor + args.batch].sort().values.numpy()
            cursor += args.batch
            batch = np.ascontiguousarray(images[idx])
            targets = [torch.from_numpy(boxes[i]) for i in idx]
            grid = pts
            seen += len(batch)
        x = torch.from_numpy(batch).permute(0, 3, 1, 2).contiguous().float() / 255.0
        x = photometric(x, g)
        loss, parts = detection_loss(model(x), targets, grid, 43)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 10.0)
        opt.step()
        sched.step()
        ema.update(model)
        run = run * 0.95 + np.array([loss.item(), *parts]) * 0.05 if it else np.array([loss.item(), *parts])
        if (it + 1) % 400 == 0:  # lets evaluate.py look at a long run before it ends
            torch.save({"model": ema.model.state_dict(), "config": model.config, "seed": args.seed, "iters": it + 1},
                       os.path.join(args.work, f"traffic-signs_s{args.seed}_stage{args.stage}_last.pt"))
        if (it + 1) % 25 == 0 or it + 1 == steps:
            el = time.time() - t0
            ips = seen / el
            phase = "crops" if it < args.crop_steps else "scenes"
            print(f"[train] it {it + 1}/{args.iters} {phase} ep {seen / n:.2f} loss {run[0]:.3f} "
                  f"(obj {run[1]:.3f} cls {run[2]:.3f} box {run[3]:.3f}) lr {sched.get_last_lr()[0]:.2e} "
                  f"{ips:.1f} scene-eq/s elapsed {fmt_time(el)} eta {fmt_time(eta(el, it + 1))}",
                  flush=True)
    os.makedirs(args.work, exist_ok=True)
    ckpt = args.ckpt or os.path.join(args.work, f"traffic-signs_s{args.seed}.pt")
    torch.save({"model": ema.model.state_dict(), "config": model.config, "seed": args.seed, "iters": steps}, ckpt)
    print(f"[train] done in {fmt_time(time.time() - t0)}; checkpoint {ckpt}", flush=True)
    export_onnx(ema.model, args.out, H, W, seed=args.seed, version=args.version)
    print(f"[export] {args.out} ({os.path.getsize(args.out) / 1e6:.2f} MB); total {fmt_time(time.time() - t_start)}", flush=True)


if __name__ == "__main__":
    main()
