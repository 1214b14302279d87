"""Generate and cache synthetic scene sets as a uint8 memmap plus a JSON of boxes."""
import json
import os
import sys
import time
from multiprocessing import Pool

import numpy as np

import scenes

_POOL = None


def _init(work_dir, families):
    global _POOL
    _POOL = scenes.ensure_ffmpeg_frames(work_dir, families)


def _render(args):
    seed, index, h, w, families, mode = args
    return scenes.render_scene(seed, index, h, w, families, _POOL, mode)


def build(work_dir, name, seed, n, h, w, families, workers=2, mode="sparse"):
    """Render n scenes (cached): returns (images memmap [n,h,w,3] uint8, list of [m,5] arrays)."""
    path = os.path.join(work_dir, "data", f"{name}_s{seed}_n{n}_{h}x{w}")
    img_path, box_path = path + ".u8", path + ".json"
    if os.path.exists(box_path):
        images = np.memmap(img_path, np.uint8, "r", shape=(n, h, w, 3))
        return images, [np.array(b, np.float32).reshape(-1, 5) for b in json.load(open(box_path))]
    os.makedirs(os.path.dirname(path), exist_ok=True)
    scenes.ensure_ffmpeg_frames(work_dir, families)  # render once, before the workers start
    images = np.memmap(img_path + ".part", np.uint8, "w+", shape=(n, h, w, 3))
    boxes = []
    t0 = time.time()
    with Pool(workers, initializer=_init, initargs=(work_dir, families)) as pool:
        jobs = ((seed, i, h, w, families, mode) for i in range(n))
        for i, (img, b) in enumerate(pool.imap(_render, jobs, chunksize=16)):
            images[i] = img
            boxes.append(b.tolist())
            if (i + 1) % 500 == 0 or i + 1 == n:
                el = time.time() - t0
                print(f"  {name}: {i + 1}/{n} scenes, {el:.0f}s, eta {el / (i + 1) * (n - i - 1):.0f}s", flush=True)
    images.flush()
    del images
    os.replace(img_path + ".part", img_path)
    json.dump(boxes, open(box_path, "w"))
    return build(work_dir, name, seed, n, h, w, families, workers, mode)


if __name__ == "__main__":
    # quick look: python3 dataset.py work 1 200 -> renders a small preview set
    imgs, bxs = build(sys.argv[1], "preview", int(sys.argv[2]), int(sys.argv[3]), 288, 512, scenes.TRAIN_FAMILIES)
    print(imgs.shape, sum(len(b) for b in bxs), "boxes")
