"""Render the README's demo clip: a drive along a country road past German traffic signs.

    /usr/bin/python3 scripts/make-demo-clip.py [--out scripts/demo/traffic-signs.mp4] [--seed 1]

A pinhole camera moves down a straight road; signs on poles stand beside it at fixed distances,
so they grow as the car approaches and leave the frame at the side. Frames are a pure function
of the seed (the sign pictograms come from scripts/training/signs.py) and are piped to ffmpeg
as raw RGB for H.264 encoding.
"""
import argparse
import math
import os
import subprocess
import sys
import time

import cv2
import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "training"))
from signs import CLASS_NAMES, render_sign  # noqa: E402

# Signs a driver meets often; the clip draws its sequence from these with the seed.
COMMON = [1, 2, 3, 4, 12, 13, 14, 17, 18, 25, 28, 33, 34, 35, 38, 40, 11, 9, 23, 27]
CAM_HEIGHT = 1.3     # metres
SIGN_DIAMETER = 0.7  # metres, round and square signs (German size 2: 600 mm, size 3: 750 mm)
TRIANGLE_SIDE = 0.9  # metres, warning and yield triangles (size 2: 900 mm)
TRIANGLES = {11, 13} | set(range(18, 32))
SIGN_HEIGHT = 2.0    # lower edge above the road, metres


def project(f, cx, cy, x, y, z):
    return cx + f * x / z, cy - f * (y - CAM_HEIGHT) / z


def static_background(rng, w, h, horizon):
    img = np.zeros((h, w, 3), np.float32)
    t = np.linspace(0, 1, horizon, dtype=np.float32)[:, None, None]
    img[:horizon] = np.array([95, 145, 215], np.float32) * (1 - t) + np.array([200, 215, 232], np.float32) * t
    # soft clouds
    clouds = cv2.resize(rng.random((6, 16)).astype(np.float32), (w, horizon), interpolation=cv2.INTER_CUBIC)
    k = np.clip((clouds - 0.55) * 2.5, 0, 1)[..., None] * 0.8
    img[:horizon] = img[:horizon] * (1 - k) + 245 * k
    # distant tree line with a ragged top
    edge = cv2.resize(rng.random((1, 40)).astype(np.float32), (w, 1), interpolation=cv2.INTER_CUBIC)[0]
    for x in range(w):
        top = int(horizon - 6 - edge[x] * 22)
        img[top:horizon, x] = (48 + 20 * edge[x], 78 + 25 * edge[x], 42)
    grass = cv2.resize(rng.random((30, 80)).astype(np.float32), (w, h - horizon), interpolation=cv2.INTER_CUBIC)
    img[horizon:] = np.array([70, 105, 45], np.float32) + grass[..., None] * np.array([40, 40, 20], np.float32)
    return img


def draw_road(img, f, cx, cy, cam_z, horizon):
    h, w = img.shape[:2]
    half = 3.6  # two 3.6 m lanes, the camera in the right one
    pts = []
    for x in (-half - 1.8, half - 1.8):
        near = project(f, cx, cy, x, 0, 1.0)
        pts.append(near)
    poly = np.array([[cx, horizon], [cx, horizon], pts[1], pts[0]], np.float32)
    poly[0, 0] -= 1
    poly[1, 0] += 1
    cv2.fillConvexPoly(img, poly.astype(np.int32), (92, 92, 96))
    # edge lines
    for x in (-half - 1.8 + 0.15, half - 1.8 - 0.15):
        a, b = project(f, cx, cy, x, 0, 1.0), project(f, cx, cy, x, 0, 400.0)
        cv2.line(img, (int(a[0]), int(a[1])), (int(b[0]), int(b[1])), (220, 220, 220), 2, cv2.LINE_AA)
    # dashed centre line: 6 m dash, 12 m gap, fixed to the road so it streams past
    start = math.floor(cam_z / 18.0) * 18.0
    for k in range(40):
        z0 = start + k * 18.0 - cam_z
        z1 = z0 + 6.0
        if z1 <= 3.0:  # nearer dashes are below the bonnet line of a real dashcam
            continue
        z0 = max(z0, 3.0)
        a, b = project(f, cx, cy, -1.8, 0, z0), project(f, cx, cy, -1.8, 0, z1)
        wa = max(1, int(f * 0.12 / z0))
        cv2.line(img, (int(a[0]), int(a[1])), (int(b[0]), int(b[1])), (225, 225, 225), wa, cv2.LINE_AA)


def paste_rgba(img, rgba, x0, y0):
    h, w = rgba.shape[:2]
    H, W = img.shape[:2]
    xa, ya, xb, yb = max(0, x0), max(0, y0), min(W, x0 + w), min(H, y0 + h)
    if xb <= xa or yb <= ya:
        return
    patch = rgba[ya - y0:yb - y0, xa - x0:xb - x0]
    a = patch[..., 3:4] / 255.0
    img[ya:yb, xa:xb] = img[ya:yb, xa:xb] * (1 - a) + patch[..., :3] * a


def draw_sign_post(img, f, cx, cy, post, cam_z, sign_cache):
    z = post["z"] - cam_z
    if z < 1.5:
        return
    x = post["x"]
    widths = [TRIANGLE_SIDE if c in TRIANGLES else SIGN_DIAMETER for c in post["classes"]]
    top = SIGN_HEIGHT + sum(widths) + 0.05
    base = project(f, cx, cy, x, 0, z)
    head = project(f, cx, cy, x, top, z)
    pole_w = max(1, int(round(f * 0.07 / z)))
    cv2.line(img, (int(base[0]), int(base[1])), (int(head[0]), int(head[1])), (150, 150, 150), pole_w)
    # signs face the road: they look narrower as the viewing angle grows
    squeeze = math.cos(math.atan2(abs(x), z) * 0.8)
    y_top = top
    for cls, width in zip(post["classes"], widths):
        size = f * width / z
        px, py = project(f, cx, cy, x, y_top, z)
        y_top -= width + 0.03
        sw, sh = max(2, int(round(size * squeeze))), max(2, int(round(size)))
        key = (cls, sw, sh)
        if key not in sign_cache:
            sign_cache[key] = cv2.resize(np.asarray(render_sign(cls), np.float32), (sw, sh), interpolation=cv2.INTER_AREA)
        paste_rgba(img, sign_cache[key], int(round(px - sw / 2)), int(round(py)))


def draw_tree(img, f, cx, cy, tree, cam_z):
    z = tree["z"] - cam_z
    if z < 1.5:
        return
    bx, by = project(f, cx, cy, tree["x"], 0, z)
    r = f * tree["r"] / z
    trunk_top = project(f, cx, cy, tree["x"], tree["h"] * 0.5, z)
    cv2.line(img, (int(bx), int(by)), (int(trunk_top[0]), int(trunk_top[1])), (60, 45, 32), max(1, int(f * 0.25 / z)))
    crown = project(f, cx, cy, tree["x"], tree["h"] * 0.75, z)
    cv2.ellipse(img, (int(crown[0]), int(crown[1])), (max(1, int(r)), max(1, int(r * 1.2))), 0, 0, 360, tree["color"], -1, cv2.LINE_AA)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default="scripts/demo/traffic-signs.mp4")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--size", default="640x360", help="WxH, e.g. 640x360 or 1280x720")
    ap.add_argument("--fps", type=int, default=12)
    ap.add_argument("--seconds", type=float, default=14.0)
    ap.add_argument("--speed", type=float, default=12.0, help="m/s (12 m/s = 43 km/h)")
    args = ap.parse_args()
    w, h = (int(v) for v in args.size.split("x"))
    rng = np.random.default_rng(args.seed)
    f = w * 0.85  # ~61 degree horizontal field of view, like a wide dashcam
    cx, cy = w / 2, h * 0.45
    horizon = int(cy)
    frames = int(round(args.seconds * args.fps))
    distance = args.speed * args.seconds

    posts, z = [], 30.0
    while z < distance + 20:
        n = 2 if rng.random() < 0.25 else 1
        classes = [int(c) for c in rng.choice(COMMON, n, replace=False)]
        side = 1 if rng.random() < 0.75 else -1  # German signs stand mostly on the right
        posts.append({"z": z, "x": 2.9 if side > 0 else -6.6, "classes": classes})
        z += rng.uniform(18, 30)
    trees = [{"z": float(rng.uniform(5, distance + 120)), "x": float(rng.choice([-1, 1]) * rng.uniform(6, 14) - 1.8),
              "r": float(rng.uniform(1.5, 3.0)), "h": float(rng.uniform(5, 9)),
              "color": tuple(int(v) for v in rng.integers([30, 60, 25], [60, 100, 50]))} for _ in range(45)]

    base = static_background(rng, w, h, horizon)
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    cmd = ["ffmpeg", "-v", "error", "-y", "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{w}x{h}",
           "-r", str(args.fps), "-i", "-", "-c:v", "libx264", "-preset", "veryfast", "-crf", "22",
           "-pix_fmt", "yuv420p", "-movflags", "+faststart", args.out]
    enc = subprocess.Popen(cmd, stdin=subprocess.PIPE)
    sign_cache = {}
    t0 = time.time()
    for i in range(frames):
        cam_z = args.speed * i / args.fps
        img = base.copy()
        draw_road(img, f, cx, cy, cam_z, horizon)
        objects = [("tree", t) for t in trees] + [("post", p) for p in posts]
        objects.sort(key=lambda o: -(o[1]["z"] - cam_z))  # painter's algorithm: far first
        for kind, o in objects:
            if o["z"] - cam_z > 150:
                continue
            if kind == "tree":
                draw_tree(img, f, cx, cy, o, cam_z)
            else:
                draw_sign_post(img, f, cx, cy, o, cam_z, sign_cache)
        # a little sensor noise so the encoder and the detector see a camera-like image
        img += rng.normal(0, 2.0, img.shape).astype(np.float32)
        enc.stdin.write(np.clip(img, 0, 255).astype(np.uint8).tobytes())
    enc.stdin.close()
    if enc.wait() != 0:
        sys.exit(f"ffmpeg failed with exit code {enc.returncode}")
    shown = ", ".join(f"{CLASS_NAMES[c]}" for p in posts if p["z"] < distance + 8 for c in p["classes"])
    print(f"wrote {args.out}: {frames} frames {w}x{h} @ {args.fps} fps in {time.time() - t0:.1f}s; signs: {shown}")


if __name__ == "__main__":
    main()
