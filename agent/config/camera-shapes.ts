// The zones, lines and masks of a camera as plain geometry in detect-frame pixels, for the preview picture and
// the "outside the frame" check, read defensively from whatever the camera config holds (the check also looks at
// configs the schema refused).
// Accepted shapes: `zones: {<name>: {points: [[x,y], …]}}`, `lines: {<name>: {points: [[x1,y1], [x2,y2]]}}`,
// `masks: [[[x,y], …], …]` or `masks: {<name>: {points}}`; points in pixels or, when every coordinate of a
// shape is within 0–1, fractions of the frame.

export type Point = [number, number];

export interface NamedShape {
  name: string;
  /** key path inside the camera, e.g. ["zones", "door"], for error messages */
  keys: (string | number)[];
  /** key path of its points list inside the camera, e.g. ["zones", "door", "points"] */
  pointsKeys: (string | number)[];
  /** as written in the config */
  points: Point[];
}

export interface CameraShapes {
  zones: NamedShape[];
  lines: NamedShape[];
  masks: NamedShape[];
}

const isPoint = (p: unknown): p is Point =>
  Array.isArray(p) && p.length === 2 && typeof p[0] === "number" && typeof p[1] === "number" && Number.isFinite(p[0]) && Number.isFinite(p[1]);

function pointsOf(v: unknown): Point[] | null {
  const pts = Array.isArray(v) ? v : v && typeof v === "object" ? (v as { points?: unknown }).points : undefined;
  if (!Array.isArray(pts) || pts.length === 0 || !pts.every(isPoint)) return null;
  return pts.map((p) => [p[0], p[1]]);
}

function named(value: unknown, key: string, prefix: string): NamedShape[] {
  const out: NamedShape[] = [];
  if (Array.isArray(value)) {
    value.forEach((v, i) => {
      const points = pointsOf(v);
      const name = (v as { name?: unknown })?.name;
      if (points) {
        const pointsKeys = Array.isArray(v) ? [key, i] : [key, i, "points"];
        out.push({ name: typeof name === "string" ? name : `${prefix}${i + 1}`, keys: [key, i], pointsKeys, points });
      }
    });
  } else if (value && typeof value === "object") {
    for (const [name, v] of Object.entries(value)) {
      const points = pointsOf(v);
      if (points) out.push({ name, keys: [key, name], pointsKeys: Array.isArray(v) ? [key, name] : [key, name, "points"], points });
    }
  }
  return out;
}

/** Reads a camera config's zones, lines and masks; anything malformed is skipped (validation is the schema's job). */
export function cameraShapes(camera: unknown): CameraShapes {
  const c = (camera ?? {}) as Record<string, unknown>;
  return {
    zones: named(c.zones, "zones", "zone"),
    lines: named(c.lines, "lines", "line").filter((l) => l.points.length === 2),
    masks: named(c.masks, "masks", "mask"),
  };
}

/** A shape's points in frame pixels: fractions (every coordinate within 0–1) are scaled to the frame. */
export function toPixels(points: readonly Point[], width: number, height: number): Point[] {
  const fractions = points.every(([x, y]) => x >= 0 && x <= 1 && y >= 0 && y <= 1);
  return fractions ? points.map(([x, y]) => [x * width, y * height]) : points.map(([x, y]) => [x, y]);
}

export interface ShapeProblem {
  /** key path inside the camera */
  keys: (string | number)[];
  message: string;
}

/** Points of zones, lines and masks that fall outside a width × height frame. */
export function shapesOutsideFrame(shapes: CameraShapes, width: number, height: number): ShapeProblem[] {
  const problems: ShapeProblem[] = [];
  for (const [kind, list] of [["zone", shapes.zones], ["line", shapes.lines], ["mask", shapes.masks]] as const) {
    for (const s of list) {
      toPixels(s.points, width, height).forEach(([x, y], i) => {
        if (x < 0 || y < 0 || x > width || y > height) {
          problems.push({ keys: [...s.pointsKeys, i], message: `${kind} '${s.name}' point [${s.points[i]!.join(", ")}] is outside the ${width}×${height} detect frame` });
        }
      });
    }
  }
  return problems;
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
