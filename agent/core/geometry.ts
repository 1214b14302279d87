/** Box corners in detect-frame pixels: x1, y1 (top-left), x2, y2 (bottom-right). */
export type Box = [number, number, number, number];

/** Intersection over union of two boxes (0 when they do not overlap). */
export function boxIou(a: Box, b: Box): number {
  const w = Math.min(a[2], b[2]) - Math.max(a[0], b[0]);
  const h = Math.min(a[3], b[3]) - Math.max(a[1], b[1]);
  if (w <= 0 || h <= 0) return 0;
  const inter = w * h;
  return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter);
}

/** A point in detect-frame pixels, y pointing down as in the image. */
export type Point = readonly [number, number];
export type Polygon = readonly Point[];

/** Where an object stands: the middle of its box's bottom edge (its feet, a car's wheels). */
export function bottomCentre(box: Box): Point {
  return [(box[0] + box[2]) / 2, box[3]];
}

/**
 * Twice the signed area of the triangle (a, b, p). With y pointing down, it is negative when p lies on the
 * left of someone walking from a to b across the picture and positive on their right.
 */
export function cross(a: Point, b: Point, p: Point): number {
  return (b[0] - a[0]) * (p[1] - a[1]) - (b[1] - a[1]) * (p[0] - a[0]);
}

/** Signed distance of p from the infinite line through a and b: < 0 on the walker's left, > 0 on the right. */
export function signedDistance(a: Point, b: Point, p: Point): number {
  const len = Math.hypot(b[0] - a[0], b[1] - a[1]);
  return len === 0 ? 0 : cross(a, b, p) / len;
}

function onSegment(a: Point, b: Point, p: Point): boolean {
  return cross(a, b, p) === 0 && Math.min(a[0], b[0]) <= p[0] && p[0] <= Math.max(a[0], b[0]) && Math.min(a[1], b[1]) <= p[1] && p[1] <= Math.max(a[1], b[1]);
}

/** Whether segments ab and cd share at least one point (touching counts). */
export function segmentsIntersect(a: Point, b: Point, c: Point, d: Point): boolean {
  const d1 = Math.sign(cross(c, d, a));
  const d2 = Math.sign(cross(c, d, b));
  const d3 = Math.sign(cross(a, b, c));
  const d4 = Math.sign(cross(a, b, d));
  if (d1 * d2 < 0 && d3 * d4 < 0) return true;
  return (d1 === 0 && onSegment(c, d, a)) || (d2 === 0 && onSegment(c, d, b)) || (d3 === 0 && onSegment(a, b, c)) || (d4 === 0 && onSegment(a, b, d));
}

/** Inside or on the boundary: an object standing exactly on a zone's edge is in the zone. */
export function pointInPolygon(p: Point, poly: Polygon): boolean {
  let inside = false;
  for (let i = 0, j = poly.length - 1; i < poly.length; j = i++) {
    const a = poly[j]!;
    const b = poly[i]!;
    if (onSegment(a, b, p)) return true;
    // Even-odd ray cast to the right; the half-open test on y counts a vertex on the ray once.
    if (a[1] > p[1] !== b[1] > p[1]) {
      const x = a[0] + ((p[1] - a[1]) * (b[0] - a[0])) / (b[1] - a[1]);
      if (p[0] < x) inside = !inside;
    }
  }
  return inside;
}

/** Signed area (shoelace). */
export function polygonArea(poly: Polygon): number {
  let s = 0;
  for (let i = 0, j = poly.length - 1; i < poly.length; j = i++) s += poly[j]![0] * poly[i]![1] - poly[i]![0] * poly[j]![1];
  return s / 2;
}

/** Why a polygon cannot be a zone or mask, or null when it can. */
export function polygonProblem(poly: Polygon): string | null {
  const distinct = new Set(poly.map((p) => `${p[0]},${p[1]}`));
  if (distinct.size < 3) return `a polygon needs at least 3 distinct points, got ${distinct.size}`;
  const n = poly.length;
  for (let i = 0; i < n; i++) {
    for (let j = i + 1; j < n; j++) {
      // Neighbouring edges share a vertex by construction; only edges that are not neighbours may not meet.
      if (j === i + 1 || (i === 0 && j === n - 1)) continue;
      if (segmentsIntersect(poly[i]!, poly[(i + 1) % n]!, poly[j]!, poly[(j + 1) % n]!)) {
        return `the polygon intersects itself (edges ${i + 1} and ${j + 1})`;
      }
    }
  }
  // After the crossing test: a symmetric bow-tie also has zero signed area, and "intersects itself" says why.
  if (polygonArea(poly) === 0) return "the polygon has zero area (its points are on one line)";
  return null;
}

/**
 * Config coordinates are pixels of the detect frame, or fractions of it when every coordinate of a shape is
 * within 0–1 (so one zone survives a change of detect size). The one rule: the loader, the preview, the
 * console and its shape editor all ask here.
 */
export function areFractions(values: Iterable<number>): boolean {
  let any = false;
  for (const v of values) {
    if (!(v >= 0 && v <= 1)) return false;
    any = true;
  }
  return any;
}

/** A shape's points in detect-frame pixels (see areFractions). */
export function toPixels(points: readonly Point[], width: number, height: number): Point[] {
  return areFractions(points.flat()) ? points.map(([x, y]) => [x * width, y * height] as const) : points.map((p) => [p[0], p[1]] as const);
}

/**
 * The `in` side of a line: walking from its first point to its second, `in` is crossing from the left side to
 * the right side. Returns the unit normal pointing to the right side in image coordinates (y down).
 */
export function inDirection([a, b]: readonly Point[]): Point {
  const dx = b![0] - a![0];
  const dy = b![1] - a![1];
  const len = Math.hypot(dx, dy) || 1;
  // With y pointing down, the walker's right-hand side is (−dy, dx).
  return [-dy / len, dx / len];
}
