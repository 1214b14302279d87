// Pure geometry of the console's live view and editor, in detect-frame pixels (the config's coordinates).

export type XY = [number, number];

/** Unit normal pointing to a line's `in` side: walking from a to b, `in` is crossing from left to right (y down). */
export function inNormal(a: XY, b: XY): XY {
  const dx = b[0] - a[0];
  const dy = b[1] - a[1];
  const len = Math.hypot(dx, dy) || 1;
  return [-dy / len, dx / len];
}

/** The `in` arrow of a line: from its middle, `length` pixels to the in side, with the two barbs of its head. */
export function inArrow(a: XY, b: XY, length: number): { from: XY; tip: XY; left: XY; right: XY } {
  const [nx, ny] = inNormal(a, b);
  const from: XY = [(a[0] + b[0]) / 2, (a[1] + b[1]) / 2];
  const tip: XY = [from[0] + nx * length, from[1] + ny * length];
  const head = length / 3;
  const back: XY = [tip[0] - nx * head, tip[1] - ny * head];
  return { from, tip, left: [back[0] - ny * head * 0.6, back[1] + nx * head * 0.6], right: [back[0] + ny * head * 0.6, back[1] - nx * head * 0.6] };
}

/** Index of the point nearest to p within `radius`, or -1. */
export function nearestPoint(points: readonly XY[], p: XY, radius: number): number {
  let best = -1;
  let bestD = radius;
  points.forEach((q, i) => {
    const d = Math.hypot(q[0] - p[0], q[1] - p[1]);
    if (d <= bestD) {
      best = i;
      bestD = d;
    }
  });
  return best;
}

function distanceToSegment(p: XY, a: XY, b: XY): number {
  const dx = b[0] - a[0];
  const dy = b[1] - a[1];
  const len2 = dx * dx + dy * dy;
  const t = len2 ? Math.max(0, Math.min(1, ((p[0] - a[0]) * dx + (p[1] - a[1]) * dy) / len2)) : 0;
  return Math.hypot(p[0] - (a[0] + t * dx), p[1] - (a[1] + t * dy));
}

/** Index i of the polygon edge (points[i] → points[i+1], closing) nearest to p within `radius`, or -1. */
export function nearestEdge(points: readonly XY[], p: XY, radius: number): number {
  let best = -1;
  let bestD = radius;
  for (let i = 0; i < points.length; i++) {
    const d = distanceToSegment(p, points[i]!, points[(i + 1) % points.length]!);
    if (d <= bestD) {
      best = i;
      bestD = d;
    }
  }
  return best;
}

/** p kept inside a width × height frame. */
export function clampToFrame(p: XY, width: number, height: number): XY {
  return [Math.max(0, Math.min(width, Math.round(p[0]))), Math.max(0, Math.min(height, Math.round(p[1])))];
}

/** Whether p is inside the polygon (even-odd rule). */
export function insidePolygon(points: readonly XY[], p: XY): boolean {
  let inside = false;
  for (let i = 0, j = points.length - 1; i < points.length; j = i++) {
    const [xi, yi] = points[i]!;
    const [xj, yj] = points[j]!;
    if (yi > p[1] !== yj > p[1] && p[0] < ((xj - xi) * (p[1] - yi)) / (yj - yi) + xi) inside = !inside;
  }
  return inside;
}
