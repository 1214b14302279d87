"""Procedural German-style traffic-sign pictograms for the 43 GTSRB classes.

Every sign is drawn from vector primitives (polygons, arcs, lines) and DejaVu glyphs on a
supersampled canvas, so nothing here is copied artwork. `render_sign` returns an RGBA image
whose alpha is the sign's silhouette; the caller warps, shades and composites it.
"""
import math
from functools import lru_cache

from PIL import Image, ImageDraw, ImageFont

# GTSRB class names, in the standard GTSRB order (the model's class index == list index).
CLASS_NAMES = [
    "speed limit (20km/h)", "speed limit (30km/h)", "speed limit (50km/h)",
    "speed limit (60km/h)", "speed limit (70km/h)", "speed limit (80km/h)",
    "end of speed limit (80km/h)", "speed limit (100km/h)", "speed limit (120km/h)",
    "no passing", "no passing for vehicles over 3.5 metric tons",
    "right-of-way at the next intersection", "priority road", "yield", "stop",
    "no vehicles", "vehicles over 3.5 metric tons prohibited", "no entry",
    "general caution", "dangerous curve to the left", "dangerous curve to the right",
    "double curve", "bumpy road", "slippery road", "road narrows on the right",
    "road work", "traffic signals", "pedestrians", "children crossing",
    "bicycles crossing", "beware of ice/snow", "wild animals crossing",
    "end of all speed and passing limits", "turn right ahead", "turn left ahead",
    "ahead only", "go straight or right", "go straight or left", "keep right",
    "keep left", "roundabout mandatory", "end of no passing",
    "end of no passing by vehicles over 3.5 metric tons",
]
NUM_CLASSES = len(CLASS_NAMES)

FONT_DIR = "/usr/share/fonts/truetype/dejavu/"
RED = (200, 16, 30)
BLUE = (0, 78, 162)
YELLOW = (247, 181, 0)
WHITE = (246, 246, 242)
BLACK = (22, 22, 22)
GREY = (120, 120, 120)
SIZE = 256  # supersampled canvas; callers downsample with area interpolation


@lru_cache(maxsize=None)
def _font(name, size):
    return ImageFont.truetype(FONT_DIR + name, size)


def _canvas():
    img = Image.new("RGBA", (SIZE, SIZE), (0, 0, 0, 0))
    return img, ImageDraw.Draw(img)


def _disc(d, r, fill, cx=SIZE / 2, cy=SIZE / 2):
    d.ellipse([cx - r, cy - r, cx + r, cy + r], fill=fill)


def _centered_text(d, text, font, fill, cy=SIZE / 2, cx=SIZE / 2, max_w=None):
    box = d.textbbox((0, 0), text, font=font)
    w, h = box[2] - box[0], box[3] - box[1]
    if max_w and w > max_w:  # squeeze three-digit limits like real signs do
        img = Image.new("RGBA", (w + 4, h + 4), (0, 0, 0, 0))
        ImageDraw.Draw(img).text((2 - box[0], 2 - box[1]), text, font=font, fill=fill)
        img = img.resize((int(max_w), h + 4), Image.LANCZOS)
        d._image.alpha_composite(img, (int(cx - max_w / 2), int(cy - (h + 4) / 2)))
        return
    d.text((cx - w / 2 - box[0], cy - h / 2 - box[1]), text, font=font, fill=fill)


# ---------------------------------------------------------------- pictogram primitives
def _poly(d, pts, fill, ox=0, oy=0, s=1.0, flip=False):
    cx = SIZE / 2
    out = []
    for x, y in pts:
        x = x * s + ox
        if flip:
            x = 2 * cx - x
        out.append((x, y * s + oy))
    d.polygon(out, fill=fill)


def _car(d, cx, cy, w, fill):
    """Rear view of a car, roughly w wide."""
    h = w * 0.8
    x0, y0 = cx - w / 2, cy - h / 2
    d.rounded_rectangle([x0 + w * 0.15, y0, x0 + w * 0.85, y0 + h * 0.5], radius=w * 0.12, fill=fill)
    d.rounded_rectangle([x0, y0 + h * 0.38, x0 + w, y0 + h * 0.8], radius=w * 0.1, fill=fill)
    d.rectangle([x0 + w * 0.06, y0 + h * 0.75, x0 + w * 0.28, y0 + h], fill=fill)
    d.rectangle([x0 + w * 0.72, y0 + h * 0.75, x0 + w * 0.94, y0 + h], fill=fill)
    d.rectangle([x0 + w * 0.28, y0 + h * 0.1, x0 + w * 0.72, y0 + h * 0.36], fill=WHITE)


def _truck(d, cx, cy, w, fill):
    h = w * 0.9
    x0, y0 = cx - w / 2, cy - h / 2
    d.rectangle([x0 + w * 0.05, y0, x0 + w * 0.95, y0 + h * 0.78], fill=fill)
    d.rectangle([x0 + w * 0.05, y0 + h * 0.75, x0 + w * 0.3, y0 + h], fill=fill)
    d.rectangle([x0 + w * 0.7, y0 + h * 0.75, x0 + w * 0.95, y0 + h], fill=fill)
    d.rectangle([x0 + w * 0.18, y0 + h * 0.1, x0 + w * 0.82, y0 + h * 0.32], fill=WHITE)


def _side_car(d, cx, cy, w, fill, flip=False):
    """Side view of a car (used for the skidding car on 'slippery road')."""
    pts = [(-0.5, 0.15), (-0.45, -0.05), (-0.25, -0.08), (-0.12, -0.3), (0.22, -0.3),
           (0.35, -0.06), (0.5, -0.02), (0.5, 0.15)]
    k = -1 if flip else 1
    d.polygon([(cx + k * x * w, cy + y * w) for x, y in pts], fill=fill)
    for wx in (-0.3, 0.3):
        _disc(d, w * 0.11, fill, cx + k * wx * w, cy + 0.17 * w)


def _arrow(d, pts, width, fill, head=None):
    """Polyline shaft with a triangular head at the last point."""
    d.line(pts, fill=fill, width=int(width), joint="curve")
    (x1, y1), (x2, y2) = pts[-2], pts[-1]
    a = math.atan2(y2 - y1, x2 - x1)
    hl = head or width * 2.0
    hw = hl * 0.85
    tip = (x2 + math.cos(a) * hl * 0.9, y2 + math.sin(a) * hl * 0.9)
    l = (x2 + math.cos(a + math.pi / 2) * hw, y2 + math.sin(a + math.pi / 2) * hw)
    r = (x2 + math.cos(a - math.pi / 2) * hw, y2 + math.sin(a - math.pi / 2) * hw)
    d.polygon([tip, l, r], fill=fill)


def _arc_pts(cx, cy, r, a0, a1, n=24):
    return [(cx + r * math.cos(math.radians(a0 + (a1 - a0) * i / n)),
             cy + r * math.sin(math.radians(a0 + (a1 - a0) * i / n))) for i in range(n + 1)]


def _person(d, cx, cy, h, fill, stride=1.0):
    """Walking figure of height h centred at (cx, cy)."""
    r = h * 0.1
    top = cy - h / 2
    _disc(d, r, fill, cx, top + r)
    lw = max(2, int(h * 0.11))
    hip = (cx, cy + h * 0.12)
    sh = (cx, top + h * 0.26)
    d.line([sh, hip], fill=fill, width=lw)
    d.line([sh, (cx - h * 0.16 * stride, cy), (cx - h * 0.22 * stride, cy + h * 0.1)], fill=fill, width=int(lw * 0.8))
    d.line([sh, (cx + h * 0.18 * stride, cy - h * 0.02)], fill=fill, width=int(lw * 0.8))
    d.line([hip, (cx - h * 0.18 * stride, cy + h * 0.5)], fill=fill, width=lw)
    d.line([hip, (cx + h * 0.08, cy + h * 0.3), (cx + h * 0.2 * stride, cy + h * 0.5)], fill=fill, width=lw)


def _bicycle(d, cx, cy, w, fill):
    r = w * 0.22
    lw = max(2, int(w * 0.05))
    lx, rx, wy = cx - w * 0.28, cx + w * 0.28, cy + w * 0.12
    for x in (lx, rx):
        d.ellipse([x - r, wy - r, x + r, wy + r], outline=fill, width=lw)
    pedal = (cx - w * 0.02, wy)
    seat = (cx - w * 0.1, cy - w * 0.22)
    bar = (cx + w * 0.2, cy - w * 0.25)
    d.line([(lx, wy), pedal, seat, (lx, wy)], fill=fill, width=lw)
    d.line([pedal, (cx + w * 0.16, cy - w * 0.14), seat], fill=fill, width=lw)
    d.line([(rx, wy), bar], fill=fill, width=lw)
    d.line([(seat[0] - w * 0.07, seat[1]), (seat[0] + w * 0.06, seat[1])], fill=fill, width=lw)
    d.line([bar, (bar[0] - w * 0.07, bar[1] - w * 0.02)], fill=fill, width=lw)


def _snowflake(d, cx, cy, r, fill):
    lw = max(2, int(r * 0.13))
    for k in range(3):
        a = math.radians(90 + 60 * k)
        dx, dy = math.cos(a) * r, math.sin(a) * r
        d.line([(cx - dx, cy - dy), (cx + dx, cy + dy)], fill=fill, width=lw)
        for sgn in (-1, 1):
            bx, by = cx + sgn * dx * 0.6, cy + sgn * dy * 0.6
            for off in (-50, 50):
                b = a + math.radians(off) + (0 if sgn > 0 else math.pi)
                d.line([(bx, by), (bx + math.cos(b) * r * 0.32, by + math.sin(b) * r * 0.32)], fill=fill, width=lw)


def _deer(d, cx, cy, w, fill):
    pts = [(-0.45, 0.05), (-0.3, -0.1), (0.15, -0.12), (0.3, -0.35), (0.38, -0.42),
           (0.48, -0.38), (0.4, -0.28), (0.3, -0.05), (0.3, 0.05), (0.45, 0.38), (0.38, 0.4),
           (0.18, 0.08), (-0.15, 0.08), (-0.38, 0.4), (-0.46, 0.37), (-0.32, 0.05)]
    d.polygon([(cx + x * w, cy + y * w) for x, y in pts], fill=fill)
    lw = max(2, int(w * 0.03))
    for a in ((0.36, -0.42, 0.3, -0.58), (0.4, -0.42, 0.46, -0.6), (0.32, -0.52, 0.24, -0.56)):
        d.line([(cx + a[0] * w, cy + a[1] * w), (cx + a[2] * w, cy + a[3] * w)], fill=fill, width=lw)


def _worker(d, cx, cy, h, fill):
    _person(d, cx - h * 0.08, cy, h, fill, stride=0.7)
    lw = max(2, int(h * 0.06))
    d.line([(cx + h * 0.05, cy - h * 0.05), (cx + h * 0.32, cy + h * 0.4)], fill=fill, width=lw)
    d.polygon([(cx + h * 0.26, cy + h * 0.38), (cx + h * 0.42, cy + h * 0.34), (cx + h * 0.4, cy + h * 0.5)], fill=fill)
    d.polygon([(cx + h * 0.08, cy + h * 0.5), (cx + h * 0.42, cy + h * 0.5), (cx + h * 0.3, cy + h * 0.38)], fill=fill)


# ---------------------------------------------------------------- sign families
def _prohibitory(content, ring=RED, inner=WHITE):
    img, d = _canvas()
    _disc(d, SIZE / 2 - 1, ring)
    _disc(d, SIZE / 2 * 0.76, inner)
    if content:
        content(d)
    return img


def _end_of(content):
    """White disc, thin grey edge, pictogram in grey, crossed by black diagonal stripes."""
    img, d = _canvas()
    _disc(d, SIZE / 2 - 1, (90, 90, 90))
    _disc(d, SIZE / 2 - 6, WHITE)
    if content:
        content(d)
    c = SIZE / 2
    for k in range(-2, 3):
        off = k * SIZE * 0.055
        # stripes run from the upper right to the lower left, as on the German signs
        p0 = (c + SIZE * 0.36 + off, c - SIZE * 0.36 + off)
        p1 = (c - SIZE * 0.36 + off, c + SIZE * 0.36 + off)
        d.line([p0, p1], fill=BLACK if k != 0 else (60, 60, 60), width=int(SIZE * 0.028))
    mask = Image.new("L", (SIZE, SIZE), 0)
    ImageDraw.Draw(mask).ellipse([6, 6, SIZE - 6, SIZE - 6], fill=255)
    inner = Image.new("RGBA", (SIZE, SIZE), (0, 0, 0, 0))
    inner.paste(img, (0, 0), mask)
    base, bd = _canvas()
    _disc(bd, SIZE / 2 - 1, (90, 90, 90))
    base.alpha_composite(inner)
    return base


def _warning(content, inverted=False):
    img, d = _canvas()
    s = SIZE
    h = s * math.sqrt(3) / 2
    top = (s - h) / 2
    if not inverted:
        outer = [(s / 2, top), (s - 1, top + h), (1, top + h)]
    else:
        outer = [(1, top), (s - 1, top), (s / 2, top + h)]
    d.polygon(outer, fill=RED)
    cx, cy = s / 2, top + (h * 2 / 3 if not inverted else h / 3)
    inner = [(cx + (x - cx) * 0.7, cy + (y - cy) * 0.7) for x, y in outer]
    d.polygon(inner, fill=WHITE)
    if content:
        content(d, cx, cy + (s * 0.03 if not inverted else 0))
    return img


def _mandatory(content):
    img, d = _canvas()
    _disc(d, SIZE / 2 - 1, WHITE)
    _disc(d, SIZE / 2 - 6, BLUE)
    content(d)
    return img


def _speed(text):
    def content(d):
        f = _font("DejaVuSansCondensed-Bold.ttf", int(SIZE * 0.42))
        _centered_text(d, text, f, BLACK, max_w=SIZE * 0.6 if len(text) > 2 else None)
    return lambda: _prohibitory(content)


def _sign_priority():
    img, d = _canvas()
    c, r = SIZE / 2, SIZE / 2 - 1
    d.polygon([(c, c - r), (c + r, c), (c, c + r), (c - r, c)], fill=(40, 40, 40))
    r2 = r - 4
    d.polygon([(c, c - r2), (c + r2, c), (c, c + r2), (c - r2, c)], fill=WHITE)
    r3 = r * 0.55
    d.polygon([(c, c - r3), (c + r3, c), (c, c + r3), (c - r3, c)], fill=YELLOW)
    return img


def _sign_stop():
    img, d = _canvas()
    c = SIZE / 2
    pts = [(c + (SIZE / 2 - 1) * math.cos(math.radians(22.5 + 45 * k)),
            c + (SIZE / 2 - 1) * math.sin(math.radians(22.5 + 45 * k))) for k in range(8)]
    d.polygon(pts, fill=WHITE)
    d.polygon([(c + (x - c) * 0.93, c + (y - c) * 0.93) for x, y in pts], fill=RED)
    _centered_text(d, "STOP", _font("DejaVuSansCondensed-Bold.ttf", int(SIZE * 0.3)), WHITE)
    return img


def _no_entry():
    img, d = _canvas()
    _disc(d, SIZE / 2 - 1, WHITE)
    _disc(d, SIZE / 2 - 5, RED)
    c = SIZE / 2
    d.rectangle([c - SIZE * 0.36, c - SIZE * 0.09, c + SIZE * 0.36, c + SIZE * 0.09], fill=WHITE)
    return img


def _two_vehicles(left, right, lfill, rfill):
    def content(d):
        c = SIZE / 2
        left(d, c - SIZE * 0.17, c + 4, SIZE * 0.26, lfill)
        right(d, c + SIZE * 0.17, c + 4, SIZE * 0.26, rfill)
    return content


def _roundabout(d):
    c = SIZE / 2
    r = SIZE * 0.22
    for k in range(3):
        a0 = -90 + 120 * k + 25
        pts = _arc_pts(c, c, r, a0, a0 + 70, 12)
        _arrow(d, pts, SIZE * 0.07, WHITE, head=SIZE * 0.09)


def _warn_content(name):
    s = SIZE

    def intersection(d, cx, cy):
        d.polygon([(cx - s * 0.045, cy - s * 0.24), (cx + s * 0.045, cy - s * 0.24),
                   (cx + s * 0.075, cy + s * 0.2), (cx - s * 0.075, cy + s * 0.2)], fill=BLACK)
        d.rectangle([cx - s * 0.19, cy - s * 0.07, cx + s * 0.19, cy - s * 0.03], fill=BLACK)

    def caution(d, cx, cy):
        d.polygon([(cx - s * 0.05, cy - s * 0.22), (cx + s * 0.05, cy - s * 0.22),
                   (cx + s * 0.025, cy + s * 0.08), (cx - s * 0.025, cy + s * 0.08)], fill=BLACK)
        _disc(d, s * 0.045, BLACK, cx, cy + s * 0.17)

    def curve(flip):
        def f(d, cx, cy):
            k = -1 if flip else 1
            pts = [(cx - k * s * 0.04, cy + s * 0.22), (cx - k * s * 0.04, cy - s * 0.02)]
            pts += [(cx - k * s * 0.04 + k * (s * 0.12 - s * 0.12 * math.cos(math.radians(a))),
                     cy - s * 0.02 - s * 0.14 * math.sin(math.radians(a))) for a in range(10, 91, 10)]
            _arrow(d, pts, s * 0.06, BLACK, head=s * 0.06)
        return f

    def double_curve(d, cx, cy):
        pts = [(cx + s * 0.06 * math.sin(t / 10 * 2 * math.pi) * (1 if t < 10 else 1),
                cy + s * 0.22 - s * 0.4 * t / 14) for t in range(15)]
        pts = [(x - s * 0.02, y) for x, y in pts]
        _arrow(d, pts, s * 0.055, BLACK, head=s * 0.055)

    def bumpy(d, cx, cy):
        pts = [(cx - s * 0.22, cy + s * 0.12)]
        for t in range(21):
            x = cx - s * 0.2 + s * 0.4 * t / 20
            pts.append((x, cy + s * 0.12 - s * 0.1 * abs(math.sin(t / 20 * 2 * math.pi))))
        pts.append((cx + s * 0.22, cy + s * 0.12))
        pts += [(cx + s * 0.22, cy + s * 0.18), (cx - s * 0.22, cy + s * 0.18)]
        d.polygon(pts, fill=BLACK)

    def slippery(d, cx, cy):
        _side_car(d, cx + s * 0.02, cy - s * 0.06, s * 0.3, BLACK)
        lw = int(s * 0.025)
        for k in (-1, 1):
            pts = [(cx + k * s * 0.07 + s * 0.04 * math.sin(t / 6 * math.pi) - k * s * 0.03 * t / 6,
                    cy + s * 0.05 + s * 0.17 * t / 6) for t in range(7)]
            d.line(pts, fill=BLACK, width=lw)

    def narrows(d, cx, cy):
        lw = int(s * 0.05)
        d.line([(cx - s * 0.09, cy + s * 0.22), (cx - s * 0.09, cy - s * 0.22)], fill=BLACK, width=lw)
        d.line([(cx + s * 0.12, cy + s * 0.22), (cx + s * 0.12, cy + s * 0.04),
                (cx + s * 0.03, cy - s * 0.08), (cx + s * 0.03, cy - s * 0.22)], fill=BLACK, width=lw)

    def signals(d, cx, cy):
        d.rounded_rectangle([cx - s * 0.075, cy - s * 0.24, cx + s * 0.075, cy + s * 0.2], radius=s * 0.03, fill=BLACK)
        for i, col in enumerate([RED, YELLOW, (20, 160, 60)]):
            _disc(d, s * 0.05, col, cx, cy - s * 0.17 + i * s * 0.145)

    def pedestrians(d, cx, cy):
        _person(d, cx, cy - s * 0.02, s * 0.4, BLACK)

    def children(d, cx, cy):
        _person(d, cx - s * 0.07, cy - s * 0.04, s * 0.36, BLACK)
        _person(d, cx + s * 0.1, cy + s * 0.04, s * 0.24, BLACK)

    def bicycles(d, cx, cy):
        _bicycle(d, cx, cy, s * 0.38, BLACK)

    def ice(d, cx, cy):
        _snowflake(d, cx, cy, s * 0.2, BLACK)

    def animals(d, cx, cy):
        _deer(d, cx, cy + s * 0.02, s * 0.36, BLACK)

    def roadwork(d, cx, cy):
        _worker(d, cx, cy - s * 0.01, s * 0.38, BLACK)

    return {
        "intersection": intersection, "caution": caution, "curve_left": curve(True),
        "curve_right": curve(False), "double_curve": double_curve, "bumpy": bumpy,
        "slippery": slippery, "narrows": narrows, "roadwork": roadwork, "signals": signals,
        "pedestrians": pedestrians, "children": children, "bicycles": bicycles, "ice": ice,
        "animals": animals,
    }[name]


def _mandatory_arrow(kind):
    s = SIZE
    c = s / 2
    w = s * 0.1
    head = s * 0.11

    def content(d):
        if kind == "ahead":
            _arrow(d, [(c, c + s * 0.3), (c, c - s * 0.18)], w, WHITE, head)
        elif kind in ("turn_right", "turn_left"):
            k = 1 if kind == "turn_right" else -1
            pts = [(c - k * s * 0.12, c + s * 0.3), (c - k * s * 0.12, c - s * 0.02)]
            pts += [(c - k * s * 0.12 + k * (s * 0.12 - s * 0.12 * math.cos(math.radians(a))),
                     c - s * 0.02 - s * 0.12 * math.sin(math.radians(a))) for a in range(10, 91, 10)]
            pts.append((c + k * s * 0.06, c - s * 0.14))
            _arrow(d, pts, w, WHITE, head)
        elif kind in ("straight_right", "straight_left"):
            k = 1 if kind == "straight_right" else -1
            x = c - k * s * 0.06
            _arrow(d, [(x, c + s * 0.3), (x, c - s * 0.2)], w * 0.9, WHITE, head * 0.9)
            pts = [(x, c + s * 0.12), (x, c + s * 0.02)]
            pts += [(x + k * (s * 0.1 - s * 0.1 * math.cos(math.radians(a))),
                     c + s * 0.02 - s * 0.1 * math.sin(math.radians(a))) for a in range(15, 91, 15)]
            pts.append((x + k * s * 0.16, c - s * 0.08))
            _arrow(d, pts, w * 0.9, WHITE, head * 0.9)
        elif kind in ("keep_right", "keep_left"):
            k = 1 if kind == "keep_right" else -1
            _arrow(d, [(c - k * s * 0.16, c - s * 0.16), (c + k * s * 0.08, c + s * 0.08)], w, WHITE, head)
    return content


def _build_table():
    t = {}
    for i, v in zip([0, 1, 2, 3, 4, 5, 7, 8], ["20", "30", "50", "60", "70", "80", "100", "120"]):
        t[i] = _speed(v)

    def end80(d):
        _centered_text(d, "80", _font("DejaVuSansCondensed-Bold.ttf", int(SIZE * 0.42)), (110, 110, 110))
    t[6] = lambda: _end_of(end80)
    t[9] = lambda: _prohibitory(_two_vehicles(_car, _car, RED, BLACK))
    t[10] = lambda: _prohibitory(_two_vehicles(_truck, _car, RED, BLACK))
    t[11] = lambda: _warning(_warn_content("intersection"))
    t[12] = _sign_priority
    t[13] = lambda: _warning(None, inverted=True)
    t[14] = _sign_stop
    t[15] = lambda: _prohibitory(None)
    t[16] = lambda: _prohibitory(lambda d: _truck(d, SIZE / 2, SIZE / 2 + 4, SIZE * 0.4, BLACK))
    t[17] = _no_entry
    names = ["caution", "curve_left", "curve_right", "double_curve", "bumpy", "slippery",
             "narrows", "roadwork", "signals", "pedestrians", "children", "bicycles", "ice", "animals"]
    for i, n in zip(range(18, 32), names):
        t[i] = (lambda n=n: _warning(_warn_content(n)))
    t[32] = lambda: _end_of(None)
    for i, k in zip(range(33, 40), ["turn_right", "turn_left", "ahead", "straight_right",
                                    "straight_left", "keep_right", "keep_left"]):
        t[i] = (lambda k=k: _mandatory(_mandatory_arrow(k)))
    t[40] = lambda: _mandatory(_roundabout)
    grey = (110, 110, 110)
    t[41] = lambda: _end_of(_two_vehicles(_car, _car, grey, grey))
    t[42] = lambda: _end_of(_two_vehicles(_truck, _car, grey, grey))
    return t


_TABLE = _build_table()


@lru_cache(maxsize=None)
def render_sign(cls):
    """RGBA PIL image (SIZE×SIZE) of the pristine sign for GTSRB class `cls`."""
    return _TABLE[cls]()


if __name__ == "__main__":
    import sys
    sheet = Image.new("RGB", (9 * 132, 5 * 132), (90, 120, 90))
    for i in range(NUM_CLASSES):
        im = render_sign(i).resize((128, 128), Image.LANCZOS)
        sheet.paste(im, ((i % 9) * 132 + 2, (i // 9) * 132 + 2), im)
    sheet.save(sys.argv[1] if len(sys.argv) > 1 else "signs.png")
