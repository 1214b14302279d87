"""Synthetic road scenes with German-style traffic signs, rendered at the model's input size.

A scene is background -> distractors -> signs on poles -> occluders -> camera effects. Every
random choice comes from one numpy Generator seeded by (seed, index), so a data set is a pure
function of its seed, whatever the number of worker processes.
"""
import math
import os
import subprocess

import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageFont

from signs import BLUE, FONT_DIR, NUM_CLASSES, RED, WHITE, render_sign

# Background families. Held-out evaluation uses families never seen in training.
TRAIN_FAMILIES = ["road", "road", "road", "sky", "foliage", "buildings", "noise", "mandelbrot", "testsrc2"]
HELDOUT_FAMILIES = ["rural", "rural", "plasma", "life", "cellauto"]
FFMPEG_SOURCES = {
    "mandelbrot": "mandelbrot=s=640x360",
    "testsrc2": "testsrc2=s=640x360",
    "life": "life=s=640x360:mold=10:ratio=0.3:death_color=#203020:life_color=#b0c090",
    "cellauto": "cellauto=s=640x360:rule=110:random_fill_ratio=0.4",
}
PAD_VALUE = 114


# ------------------------------------------------------------------ ffmpeg texture pool
def ensure_ffmpeg_frames(work_dir, families):
    """Render 30 frames of each lavfi test source once (cached under work_dir/bg)."""
    pool = {}
    for fam in families:
        if fam not in FFMPEG_SOURCES:
            continue
        d = os.path.join(work_dir, "bg", fam)
        if not os.path.isdir(d) or len(os.listdir(d)) < 30:
            os.makedirs(d, exist_ok=True)
            subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", FFMPEG_SOURCES[fam],
                            "-t", "30", "-vf", "fps=1", os.path.join(d, "%03d.png")], check=True)
        pool[fam] = [cv2.cvtColor(cv2.imread(os.path.join(d, f)), cv2.COLOR_BGR2RGB)
                     for f in sorted(os.listdir(d))[:30]]
    return pool


# ------------------------------------------------------------------ texture helpers
def _noise(rng, h, w, octaves=4, base=4):
    """Fractal value noise in [0, 1]."""
    out = np.zeros((h, w), np.float32)
    amp, total = 1.0, 0.0
    for o in range(octaves):
        gh, gw = max(2, base * 2 ** o * h // max(h, w)), max(2, base * 2 ** o * w // max(h, w))
        g = rng.random((gh + 1, gw + 1)).astype(np.float32)
        out += amp * cv2.resize(g, (w, h), interpolation=cv2.INTER_CUBIC)
        total += amp
        amp *= 0.5
    out /= total
    return np.clip((out - out.min()) / (np.ptp(out) + 1e-6), 0, 1)


def _colorize(n, c0, c1):
    c0, c1 = np.array(c0, np.float32), np.array(c1, np.float32)
    return (c0 + n[..., None] * (c1 - c0)).clip(0, 255)


def _jitter_color(rng, c, amount=25):
    return tuple(int(np.clip(v + rng.normal(0, amount), 0, 255)) for v in c)


def _sky(rng, h, w):
    if rng.random() < 0.6:
        top, bot = _jitter_color(rng, (90, 140, 210)), _jitter_color(rng, (190, 210, 230))
    else:  # overcast
        g = rng.uniform(150, 225)
        top, bot = _jitter_color(rng, (g, g, g + 5), 10), _jitter_color(rng, (g + 15, g + 15, g + 15), 10)
    t = np.linspace(0, 1, h, dtype=np.float32)[:, None, None]
    img = np.array(top, np.float32) * (1 - t) + np.array(bot, np.float32) * t
    img = np.broadcast_to(img, (h, w, 3)).copy()
    clouds = _noise(rng, h, w, 4, 3)
    k = np.clip((clouds - rng.uniform(0.4, 0.7)) * 3, 0, 1)[..., None] * rng.uniform(0.3, 0.9)
    return img * (1 - k) + 240 * k


def _foliage_tex(rng, h, w):
    n1, n2 = _noise(rng, h, w, 5, 8), _noise(rng, h, w, 3, 20)
    dark, light = _jitter_color(rng, (25, 45, 20), 12), _jitter_color(rng, (95, 140, 60), 25)
    img = _colorize(n1 * 0.7 + n2 * 0.3, dark, light)
    spots = (rng.random((h, w)) < 0.01).astype(np.float32)
    spots = cv2.GaussianBlur(spots, (0, 0), 1.2)[..., None] * 900
    return np.clip(img + spots, 0, 255)


def _buildings_tex(rng, h, w):
    img = np.zeros((h, w, 3), np.float32)
    x = 0
    while x < w:
        bw = int(rng.uniform(0.15, 0.5) * w)
        wall = _jitter_color(rng, rng.choice([(180, 170, 150), (150, 90, 70), (200, 200, 195), (120, 120, 125), (210, 190, 140)]), 20)
        img[:, x:x + bw] = wall
        top = int(rng.uniform(0, 0.4) * h)
        img[:top, x:x + bw] = -1  # sky marker
        win = _jitter_color(rng, (60, 70, 80), 25)
        cw, chh = int(rng.uniform(8, 22)), int(rng.uniform(10, 26))
        for yy in range(top + 6, h - chh, chh + int(rng.uniform(6, 14))):
            for xx in range(x + 5, x + bw - cw, cw + int(rng.uniform(5, 14))):
                img[yy:yy + chh, xx:xx + cw] = win if rng.random() < 0.85 else _jitter_color(rng, (230, 210, 150))
        x += bw
    tex = _noise(rng, h, w, 3, 30)[..., None] * 30 - 15
    sky = _sky(rng, h, w)
    mask = img[..., :1] < 0
    return np.where(mask, sky, np.clip(img + tex, 0, 255))


def _road_scene(rng, h, w, side_tex=None):
    """Sky, roadside band (trees/buildings/texture), asphalt in perspective, verges."""
    hy = int(h * rng.uniform(0.3, 0.6))
    img = _sky(rng, h, w)
    band_h = int(h * rng.uniform(0.1, 0.35))
    y0 = max(0, hy - band_h)
    r = rng.random()
    if side_tex is not None and r < 0.4:
        band = cv2.resize(side_tex, (w, hy - y0 + 1))
    elif r < 0.7:
        band = _foliage_tex(rng, hy - y0 + 1, w)
    else:
        band = _buildings_tex(rng, hy - y0 + 1, w)
    # ragged top edge of the tree line / roofs
    edge = (_noise(rng, 1, w, 3, 6)[0] * band_h * 0.6).astype(int)
    for xx in range(0, w, 4):
        top = edge[xx]
        img[y0 + top:hy + 1, xx:xx + 4] = band[top:, xx:xx + 4]
    grass = _colorize(_noise(rng, h - hy, w, 5, 10), _jitter_color(rng, (60, 80, 35)), _jitter_color(rng, (140, 150, 80)))
    img[hy:] = grass
    vx = w * rng.uniform(0.25, 0.75)
    half_bottom = w * rng.uniform(0.5, 1.2)
    ys = np.arange(hy, h)
    t = (ys - hy) / max(1, h - hy)
    asphalt = _jitter_color(rng, (95, 95, 98), 18)
    tex = _noise(rng, h - hy, w, 4, 40) * 40 - 20
    xs = np.arange(w)[None, :]
    left = vx - t[:, None] * half_bottom
    right = vx + t[:, None] * half_bottom
    road = (xs >= left) & (xs <= right)
    img[hy:][road] = (np.array(asphalt, np.float32) + tex[..., None])[road]
    # dashed centre line and solid edge lines
    phase = rng.uniform(0, 1)
    for frac, dashed in ((0.0, True), (-0.9, False), (0.9, False)):
        cx = vx + frac * t * half_bottom
        lw = np.maximum(1, t * w * 0.012)
        on = ((np.log1p(t * 20) * 3 + phase) % 1.0) < 0.5 if dashed else np.ones_like(t, bool)
        m = (np.abs(xs - cx[:, None]) < lw[:, None]) & on[:, None]
        img[hy:][m] = 225
    # roadside trees
    for _ in range(int(rng.integers(0, 5))):
        tx, ty = rng.uniform(0, w), hy + rng.uniform(-5, 20)
        tr = rng.uniform(10, 60)
        cv2.rectangle(img, (int(tx - tr * 0.08), int(ty - tr)), (int(tx + tr * 0.08), int(ty + tr * 0.4)), (60, 45, 35), -1)
        blob = _foliage_tex(rng, int(tr * 2), int(tr * 2))
        m = np.zeros((int(tr * 2), int(tr * 2)), np.uint8)
        cv2.ellipse(m, (int(tr), int(tr)), (int(tr * 0.9), int(tr)), 0, 0, 360, 255, -1)
        _paste(img, blob, m.astype(np.float32) / 255, int(tx - tr), int(ty - tr * 2.2))
    return img


def _rural_scene(rng, h, w):
    """Held-out family: fields in strips, rolling hills, a hedge, a farm track."""
    hy = int(h * rng.uniform(0.35, 0.6))
    img = _sky(rng, h, w)
    hills = (np.sin(np.linspace(0, rng.uniform(2, 6), w) + rng.uniform(0, 6)) * h * 0.05 + hy).astype(int)
    hill_col = _jitter_color(rng, (90, 110, 80), 20)
    for xx in range(w):
        img[hills[xx] - int(h * 0.05):, xx] = hill_col
    palette = [(170, 150, 80), (110, 140, 60), (150, 110, 70), (200, 180, 100), (90, 120, 50)]
    y = hy
    while y < h:
        sh = int(max(3, (y - hy + 4) * rng.uniform(0.3, 0.8)))
        col = _jitter_color(rng, palette[int(rng.integers(len(palette)))], 15)
        img[y:y + sh] = col
        y += sh
    img[hy:] += (_noise(rng, h - hy, w, 4, 30)[..., None] * 40 - 20)
    hedge_y = hy + int(rng.uniform(0, 0.2) * h)
    hedge = _foliage_tex(rng, int(h * 0.08) + 1, w)
    img[hedge_y:hedge_y + hedge.shape[0]] = hedge[: max(0, min(hedge.shape[0], h - hedge_y))]
    vx = w * rng.uniform(0.2, 0.8)
    pts = np.array([[vx - 2, hy], [vx + 2, hy], [vx + w * 0.5, h], [vx - w * 0.5, h]], np.int32)
    cv2.fillPoly(img, [pts], _jitter_color(rng, (130, 120, 105), 15))
    return img


def _plasma(rng, h, w):
    """Held-out family: smooth interference patterns in muted colours."""
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    v = np.zeros((h, w), np.float32)
    for _ in range(4):
        a, f, p = rng.uniform(0, np.pi), rng.uniform(0.005, 0.05), rng.uniform(0, 6)
        v += np.sin((xx * np.cos(a) + yy * np.sin(a)) * f + p)
    v = (v - v.min()) / (np.ptp(v) + 1e-6)
    c0, c1 = _jitter_color(rng, (60, 70, 60), 40), _jitter_color(rng, (190, 180, 160), 40)
    return _colorize(v, c0, c1)


def _ffmpeg_texture(rng, frames, h, w):
    f = frames[int(rng.integers(len(frames)))]
    fh, fw = f.shape[:2]
    ch = int(fh * rng.uniform(0.3, 1.0))
    cw = min(fw, int(ch * w / h * rng.uniform(0.8, 1.25)))
    y0, x0 = int(rng.integers(0, fh - ch + 1)), int(rng.integers(0, fw - cw + 1))
    crop = cv2.resize(f[y0:y0 + ch, x0:x0 + cw], (w, h)).astype(np.float32)
    if rng.random() < 0.5:
        crop = cv2.GaussianBlur(crop, (0, 0), rng.uniform(0.5, 2.5))
    # desaturate towards natural-looking colours half of the time
    if rng.random() < 0.5:
        g = crop.mean(axis=2, keepdims=True)
        crop = g + (crop - g) * rng.uniform(0.2, 0.7)
    return crop


def background(rng, family, h, w, pool):
    if family == "road":
        side = _ffmpeg_texture(rng, pool["testsrc2"], 64, 256) if "testsrc2" in pool and rng.random() < 0.2 else None
        return _road_scene(rng, h, w, side)
    if family == "sky":
        img = _sky(rng, h, w)
        if rng.random() < 0.6:
            cut = int(h * rng.uniform(0.6, 0.95))
            img[cut:] = _foliage_tex(rng, h - cut, w)
        return img
    if family == "foliage":
        return _foliage_tex(rng, h, w)
    if family == "buildings":
        return _buildings_tex(rng, h, w)
    if family == "noise":
        pal = [_jitter_color(rng, (128, 128, 128), 70) for _ in range(2)]
        return _colorize(_noise(rng, h, w, 6, int(rng.integers(3, 30))), *pal)
    if family == "rural":
        return _rural_scene(rng, h, w)
    if family == "plasma":
        return _plasma(rng, h, w)
    tex = _ffmpeg_texture(rng, pool[family], h, w)
    if rng.random() < 0.4:  # texture as the roadside, a real road in front
        road = _road_scene(rng, h, w)
        cut = int(h * rng.uniform(0.45, 0.7))
        tex[cut:] = road[cut:]
    return tex


# ------------------------------------------------------------------ compositing
def _paste(img, patch, alpha, x, y):
    """Alpha-blend patch (h×w×3 float) into img at (x, y), clipped to the image."""
    H, W = img.shape[:2]
    h, w = patch.shape[:2]
    x0, y0, x1, y1 = max(0, x), max(0, y), min(W, x + w), min(H, y + h)
    if x1 <= x0 or y1 <= y0:
        return
    a = alpha[y0 - y:y1 - y, x0 - x:x1 - x, None]
    img[y0:y1, x0:x1] = img[y0:y1, x0:x1] * (1 - a) + patch[y0 - y:y1 - y, x0 - x:x1 - x] * a


def _warp_rgba(rng, rgba, max_yaw=45.0):
    """Random rotation, yaw foreshortening and mild perspective; returns float RGBA cropped."""
    s = rgba.shape[0]
    yaw = math.radians(rng.normal(0, max_yaw / 2.5)) if rng.random() < 0.8 else 0.0
    yaw = max(-math.radians(max_yaw), min(math.radians(max_yaw), yaw))
    rot = math.radians(rng.normal(0, 4))
    pitch = rng.normal(0, 0.04)
    sx = math.cos(yaw)
    persp = math.sin(yaw) * 0.12  # the nearer edge looks taller
    corners = np.array([[-0.5, -0.5], [0.5, -0.5], [0.5, 0.5], [-0.5, 0.5]], np.float32)
    out = []
    for cx, cy in corners:
        x = cx * sx
        y = cy * (1 + persp * (cx * 2)) * (1 + pitch * cy)
        xr = x * math.cos(rot) - y * math.sin(rot)
        yr = x * math.sin(rot) + y * math.cos(rot)
        out.append([xr, yr])
    out = np.array(out, np.float32)
    out = (out - out.min(0)) * s
    dsize = (int(math.ceil(out[:, 0].max())) + 2, int(math.ceil(out[:, 1].max())) + 2)
    src = np.array([[0, 0], [s, 0], [s, s], [0, s]], np.float32)
    m = cv2.getPerspectiveTransform(src, out + 1)
    return cv2.warpPerspective(rgba, m, dsize, flags=cv2.INTER_LINEAR, borderValue=(0, 0, 0, 0))


def _weathered(rng, rgb):
    """Faded paint, dirt and uneven illumination on a sign face (float RGB 0-255)."""
    if rng.random() < 0.35:
        f = rng.uniform(0.1, 0.5)
        g = rgb.mean(axis=2, keepdims=True)
        rgb = rgb * (1 - f) + (g * 0.5 + 200 * 0.5) * f
    h, w = rgb.shape[:2]
    if rng.random() < 0.3:
        dirt = _noise(rng, h, w, 3, 4)[..., None]
        rgb = rgb * (1 - dirt * rng.uniform(0.1, 0.4))
    # directional shading across the face
    a = rng.uniform(0, 2 * np.pi)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    grad = ((xx / w - 0.5) * np.cos(a) + (yy / h - 0.5) * np.sin(a))[..., None]
    rgb = rgb * (1 + grad * rng.uniform(0, 0.5))
    return rgb


def render_sign_patch(rng, cls, size, max_yaw=45.0):
    """Sign of class cls whose larger side is ~size px: (rgb float, alpha float)."""
    rgba = np.asarray(render_sign(cls), dtype=np.uint8)
    warped = _warp_rgba(rng, rgba, max_yaw).astype(np.float32)
    ys, xs = np.nonzero(warped[..., 3] > 8)
    warped = warped[ys.min():ys.max() + 1, xs.min():xs.max() + 1]
    wh, ww = warped.shape[:2]
    k = size / max(wh, ww)
    tw, th = max(3, int(round(ww * k))), max(3, int(round(wh * k)))
    small = cv2.resize(warped, (tw, th), interpolation=cv2.INTER_AREA)
    # premultiplied alpha so resampling does not bleed black into the edge
    alpha = small[..., 3:] / 255.0
    rgb = small[..., :3]
    rgb = np.where(alpha > 1e-3, rgb / np.maximum(alpha, 1e-3) * (warped[..., 3].mean() > 0), rgb)
    rgb = _weathered(rng, np.clip(rgb, 0, 255))
    return rgb, alpha[..., 0]


def _pole(img, rng, x, y_top, y_bottom, width):
    col = _jitter_color(rng, (150, 150, 150), 30)
    x0 = int(x - width / 2)
    x1 = max(x0 + 1, int(x + width / 2))
    img[max(0, int(y_top)):int(y_bottom), max(0, x0):max(0, x1)] = col
    if x1 - x0 >= 3:  # cylinder shading
        img[max(0, int(y_top)):int(y_bottom), max(0, x1 - max(1, (x1 - x0) // 3)):max(0, x1)] *= 0.7


_TEXT_FONTS = ["DejaVuSans-Bold.ttf", "DejaVuSansCondensed.ttf", "DejaVuSans.ttf", "DejaVuSerif-Bold.ttf"]
_WORDS = ["Hauptstr.", "Bahnhof", "Zentrum", "B 27", "Ausfahrt", "Halle 3", "Parken", "Umleitung",
          "A7", "Kassel", "Hotel", "Apotheke", "12", "Werkstatt", "km 4", "Zoll", "Info", "Baustelle"]


def _distractor(rng, size):
    """A sign-like object that is not one of the 43 classes: (rgb float, alpha float)."""
    kind = int(rng.integers(0, 11))
    s = 128
    img = Image.new("RGBA", (s, s), (0, 0, 0, 0))
    d = ImageDraw.Draw(img)
    if kind == 0:  # red disc (brake/tail light, red ball)
        d.ellipse([4, 4, s - 4, s - 4], fill=_jitter_color(rng, RED, 30) + (255,))
    elif kind == 1:  # red ring on a coloured face (advert, logo)
        d.ellipse([2, 2, s - 2, s - 2], fill=_jitter_color(rng, RED, 20) + (255,))
        d.ellipse([22, 22, s - 22, s - 22], fill=_jitter_color(rng, (60, 140, 90), 60) + (255,))
    elif kind == 2:  # round lamp
        c = _jitter_color(rng, (255, 230, 170), 20)
        for r in range(60, 10, -5):
            d.ellipse([64 - r, 64 - r, 64 + r, 64 + r], fill=c + (int(255 * (1 - r / 70)),))
    elif kind in (3, 4):  # text board / direction sign / additional plate
        bg = [(20, 110, 60), (0, 70, 150), (245, 245, 240), (250, 200, 0)][int(rng.integers(4))]
        fg = (20, 20, 20) if sum(bg) > 400 else (245, 245, 245)
        img = Image.new("RGBA", (s * 2, s), bg + (255,))
        d = ImageDraw.Draw(img)
        d.rectangle([3, 3, s * 2 - 4, s - 4], outline=fg, width=4)
        font = ImageFont.truetype(FONT_DIR + _TEXT_FONTS[int(rng.integers(len(_TEXT_FONTS)))], int(rng.integers(28, 48)))
        d.text((14, 30), _WORDS[int(rng.integers(len(_WORDS)))], font=font, fill=fg)
    elif kind == 5:  # no stopping / no parking (real signs outside the 43 classes)
        d.ellipse([2, 2, s - 2, s - 2], fill=RED + (255,))
        d.ellipse([14, 14, s - 14, s - 14], fill=BLUE + (255,))
        d.line([(26, 26), (s - 26, s - 26)], fill=RED, width=14)
        if rng.random() < 0.5:
            d.line([(s - 26, 26), (26, s - 26)], fill=RED, width=14)
    elif kind == 6:  # parking / crossing: blue square
        d.rectangle([2, 2, s - 2, s - 2], fill=BLUE + (255,), outline=WHITE, width=4)
        if rng.random() < 0.5:
            font = ImageFont.truetype(FONT_DIR + "DejaVuSans-Bold.ttf", 90)
            d.text((30, 8), "P", font=font, fill=WHITE)
        else:
            d.polygon([(64, 16), (116, 110), (12, 110)], fill=WHITE)
    elif kind == 7:  # back of a sign
        g = _jitter_color(rng, (150, 150, 150), 25) + (255,)
        shape = int(rng.integers(3))
        if shape == 0:
            d.ellipse([2, 2, s - 2, s - 2], fill=g)
        elif shape == 1:
            d.polygon([(64, 6), (124, 116), (4, 116)], fill=g)
        else:
            d.rectangle([2, 20, s - 2, s - 20], fill=g)
    elif kind == 8:  # orange/white diamond or triangle without the red border
        col = _jitter_color(rng, (240, 130, 20), 20) + (255,)
        if rng.random() < 0.5:
            d.polygon([(64, 2), (126, 64), (64, 126), (2, 64)], fill=col)
        else:
            d.polygon([(64, 6), (124, 116), (4, 116)], fill=(240, 240, 235, 255), outline=col[:3], width=6)
    elif kind == 9:  # house number / company plate
        img = Image.new("RGBA", (s, int(s * 0.7)), _jitter_color(rng, (40, 60, 120), 60) + (255,))
        d = ImageDraw.Draw(img)
        font = ImageFont.truetype(FONT_DIR + "DejaVuSans-Bold.ttf", 60)
        d.text((14, 6), str(int(rng.integers(1, 99))), font=font, fill=(240, 240, 240))
    else:  # white disc with black ring (mirror, clock)
        d.ellipse([2, 2, s - 2, s - 2], fill=(30, 30, 30, 255))
        d.ellipse([12, 12, s - 12, s - 12], fill=_jitter_color(rng, (200, 210, 220), 30) + (255,))
    rgba = np.asarray(img, np.float32)
    k = size / max(rgba.shape[:2])
    small = cv2.resize(rgba, (max(3, int(rgba.shape[1] * k)), max(3, int(rgba.shape[0] * k))), interpolation=cv2.INTER_AREA)
    return small[..., :3], small[..., 3] / 255.0


def _sample_size(rng):
    """Sign size in input px: mostly the 12-60 px a dashcam sees, some close-ups."""
    r = rng.random()
    if r < 0.65:
        return float(np.exp(rng.uniform(np.log(11), np.log(48))))
    if r < 0.92:
        return float(rng.uniform(48, 100))
    return float(rng.uniform(100, 180))


def _dashcam_size(rng):
    """Sign size in a 1360x800 dashcam frame: 20-60 px, log-uniform."""
    return float(np.exp(rng.uniform(np.log(20), np.log(60))))


def _occluder(rng, img, box):
    """Cover up to ~35% of a sign with a leaf cluster, a branch or a pole."""
    x0, y0, x1, y1 = box
    w, h = x1 - x0, y1 - y0
    kind = rng.integers(3)
    if kind == 0:
        r = int(max(2, min(w, h) * rng.uniform(0.25, 0.45)))
        cx = int(x0 + (rng.choice([0.0, 1.0]) if rng.random() < 0.7 else rng.random()) * w)
        cy = int(y0 + rng.random() * h)
        tex = _foliage_tex(rng, 2 * r, 2 * r)
        m = np.zeros((2 * r, 2 * r), np.uint8)
        cv2.circle(m, (r, r), r, 255, -1)
        _paste(img, tex, m / 255.0, cx - r, cy - r)
    elif kind == 1:
        t = max(1, int(min(w, h) * rng.uniform(0.05, 0.15)))
        p0 = (int(x0 - w * 0.3), int(y0 + rng.random() * h))
        p1 = (int(x1 + w * 0.3), int(y0 + rng.random() * h))
        cv2.line(img, p0, p1, _jitter_color(rng, (60, 50, 40), 20), t)
    else:
        pw = max(1, int(w * rng.uniform(0.1, 0.3)))
        px = int(x0 + rng.random() * w)
        img[:, px:px + pw][int(y0 - h):int(y1 + h)] = _jitter_color(rng, (120, 120, 120), 40)


def _camera_effects(rng, img, pad_box):
    """Exposure, colour cast, dusk, fog, blur, noise, JPEG: the look of a cheap camera."""
    h, w = img.shape[:2]
    if rng.random() < 0.2:  # dusk: dark, blue or orange
        img = img * rng.uniform(0.3, 0.7) * np.array(_jitter_color(rng, (0.8 * 255, 0.85 * 255, 255), 30), np.float32) / 255
    gain = math.exp(rng.normal(0, 0.35))  # over/under exposure
    img = img * gain
    if rng.random() < 0.5:
        cast = np.array([math.exp(rng.normal(0, 0.08)) for _ in range(3)], np.float32)
        img = img * cast
    gamma = math.exp(rng.normal(0, 0.2))
    img = 255.0 * np.power(np.clip(img, 0, 255) / 255.0, gamma)
    if rng.random() < 0.2:  # fog: stronger towards the horizon
        fog = rng.uniform(0.2, 0.65)
        t = np.linspace(1, 0.3, h, dtype=np.float32)[:, None, None]
        img = img * (1 - fog * t) + rng.uniform(170, 230) * fog * t
    if rng.random() < 0.3:  # vignetting
        yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
        r2 = ((xx / w - 0.5) ** 2 + (yy / h - 0.5) ** 2)[..., None]
        img = img * (1 - r2 * rng.uniform(0.3, 1.0))
    r = rng.random()
    if r < 0.25:  # motion blur, mostly horizontal as the car moves
        n = int(rng.integers(3, 8))
        k = np.zeros((n, n), np.float32)
        ang = rng.normal(0, 20)
        c = (n - 1) / 2
        dx, dy = math.cos(math.radians(ang)) * c, math.sin(math.radians(ang)) * c
        cv2.line(k, (int(round(c - dx)), int(round(c - dy))), (int(round(c + dx)), int(round(c + dy))), 1.0, 1)
        img = cv2.filter2D(img, -1, k / k.sum())
    elif r < 0.5:  # defocus
        img = cv2.GaussianBlur(img, (0, 0), rng.uniform(0.5, 1.4))
    if rng.random() < 0.2:  # low-resolution sensor / upscaled stream
        f = rng.uniform(0.5, 0.8)
        small = cv2.resize(img, (int(w * f), int(h * f)), interpolation=cv2.INTER_AREA)
        img = cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)
    img = img + rng.normal(0, rng.uniform(0, 6), img.shape).astype(np.float32)
    out = np.clip(img, 0, 255).astype(np.uint8)
    if rng.random() < 0.6:
        q = int(rng.integers(25, 95))
        ok, buf = cv2.imencode(".jpg", out, [cv2.IMWRITE_JPEG_QUALITY, q])
        out = cv2.imdecode(buf, cv2.IMREAD_UNCHANGED)
    return out


def _content_size(rng, H, W):
    """Simulate the agent's letterbox: frames of other aspect ratios leave a padded band."""
    r = rng.random()
    if r < 0.6:
        return H, W  # 16:9 source
    aspect = [1360 / 800, 4 / 3, 1.9, 2.2][int(rng.integers(4))]
    if aspect < W / H:
        return H, int(round(H * aspect))
    return int(round(W / aspect)), W


def render_scene(seed, index, H, W, families, pool, mode="sparse"):
    """One training/eval image: (uint8 H×W×3 RGB, boxes float32 [n, 5] = x1,y1,x2,y2,cls).

    mode "sparse": 0-8 signs (mean 3.4) of 11-180 px, 40 % of frames with a letterbox band (the
    held-out set); "dense": 4-12 signs per scene (mean ~8), for training: the detector learns
    from signs, and a dense scene costs the same compute as a sparse one; "dashcam": a full
    frame (render it at 800x1360) with signs of 20-60 px, the setting of real dashcam photos,
    to be letterboxed to a model's input by the evaluation.
    """
    rng = np.random.default_rng([seed, index])
    sample_size = _dashcam_size if mode == "dashcam" else _sample_size
    ch, cw = (H, W) if mode == "dashcam" else _content_size(rng, H, W)
    family = families[int(rng.integers(len(families)))]
    img = background(rng, family, ch, cw, pool).astype(np.float32)

    for _ in range(int(rng.integers(0, 6))):
        rgb, a = _distractor(rng, sample_size(rng) * rng.uniform(0.7, 1.5))
        x, y = int(rng.integers(-5, cw - 5)), int(rng.integers(-5, int(ch * 0.85)))
        if rng.random() < 0.4:
            _pole(img, rng, x + rgb.shape[1] / 2, y + rgb.shape[0], ch, max(1, rgb.shape[1] * 0.08))
        _paste(img, rgb * math.exp(rng.normal(0, 0.25)), a, x, y)

    boxes = []
    if mode == "dense":
        n_signs = int(rng.integers(4, 13))
    else:
        n_signs = int(rng.choice([0, 1, 2, 3, 4, 5, 6, 8], p=[0.04, 0.2, 0.22, 0.18, 0.14, 0.1, 0.07, 0.05]))
    occupied = []
    for _ in range(n_signs):
        stack = 2 if rng.random() < 0.2 else 1
        sizes = [sample_size(rng)]
        sizes += [sizes[0] * rng.uniform(0.85, 1.1)] * (stack - 1)
        cls_list = [int(rng.integers(NUM_CLASSES)) for _ in range(stack)]
        patches = [render_sign_patch(rng, c, s) for c, s in zip(cls_list, sizes)]
        tot_h = sum(p[0].shape[0] for p in patches) + 2 * (stack - 1)
        maxw = max(p[0].shape[1] for p in patches)
        # signs sit above the road: keep them mostly in the upper 80% of the frame
        x = int(rng.uniform(-0.1 * maxw, cw - 0.9 * maxw))
        y = int(rng.uniform(-0.1 * tot_h, max(1, ch * 0.8 - tot_h)))
        box_all = (x, y, x + maxw, y + tot_h)
        if any(_iou(box_all, o) > 0.1 for o in occupied):
            continue
        occupied.append(box_all)
        _pole(img, rng, x + maxw / 2, y + tot_h / 2, ch if rng.random() < 0.8 else y + tot_h * rng.uniform(1.5, 4),
              max(1.0, maxw * rng.uniform(0.05, 0.1)))
        yy = y
        shade = math.exp(rng.normal(0.1, 0.3))  # retroreflective signs often look brighter
        for (rgb, a), c in zip(patches, cls_list):
            ph, pw = rgb.shape[:2]
            px = x + (maxw - pw) // 2
            _paste(img, rgb * shade, a, px, yy)
            x0, y0, x1, y1 = max(0, px), max(0, yy), min(cw, px + pw), min(ch, yy + ph)
            # signs cut by the frame edge keep their label only while mostly visible
            if (x1 - x0) * (y1 - y0) >= 0.6 * pw * ph and min(x1 - x0, y1 - y0) >= 6:
                boxes.append([x0, y0, x1, y1, c])
                if rng.random() < 0.12:
                    _occluder(rng, img, (px, yy, px + pw, yy + ph))
            yy += ph + 2

    canvas = np.full((H, W, 3), PAD_VALUE, np.uint8)
    canvas[:ch, :cw] = _camera_effects(rng, img, None)
    return canvas, np.array(boxes, np.float32).reshape(-1, 5)


def _iou(a, b):
    ix = max(0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    ua = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / max(ua, 1e-6)
