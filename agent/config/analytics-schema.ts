import { z } from "zod";
import { polygonProblem, toPixels, type Point } from "../core/geometry.js";

// The per-camera keys of the tracking and analytics stages (agent/track, agent/analytics), kept apart from
// schema.ts so that file stays the map of the whole config. Geometry is checked here, at load, so a zone drawn
// wrong is a config error with its line and column, not a silent zero count at run time.

const point = z.tuple([z.number().min(0), z.number().min(0)]).describe("[x, y]: detect-frame pixels, or 0–1 fractions of the frame");

export const polygon = z
  .array(point)
  .min(3, "a polygon needs at least 3 points")
  .superRefine((pts, ctx) => {
    if (pts.length < 3) return; // .min() has said so
    const why = polygonProblem(pts as Point[]);
    if (why) ctx.addIssue({ code: "custom", message: why });
  });

export const trackerSchema = z.strictObject({
  min_hits: z.number().int().min(1).default(3).describe("consecutive detections before a track is confirmed"),
  max_age_seconds: z.number().min(0).optional().describe("seconds a lost track is kept before it dies (and its event ends); default events.end_after_seconds"),
  high_score: z.number().min(0).max(1).default(0.5).describe("detections at or above this start and extend tracks"),
  low_score: z
    .number()
    .min(0)
    .max(1)
    .default(0.1)
    .describe("detections from here to high_score only extend existing tracks (effective floor: detect.min_score)"),
  iou: z.number().min(0.01).max(1).default(0.2).describe("least IoU between a track's predicted box and a detection to match, both grown by 30% on each side"),
});

export const zoneSchema = z.strictObject({
  points: polygon.describe("polygon corners in order; an object is in the zone when the bottom-centre of its box is"),
  labels: z.array(z.string()).optional().describe("labels that count in this zone; default all"),
  min_score: z.number().min(0).max(1).default(0).describe("least median detection score of a track to count"),
  loiter_seconds: z.number().min(0).optional().describe("a track staying this long raises one loitering alarm per stay"),
  max_objects: z.number().int().min(0).optional().describe("more objects than this raise an overcrowding alarm"),
});

export const lineSchema = z.strictObject({
  points: z
    .tuple([point, point])
    .refine(([a, b]) => a[0] !== b[0] || a[1] !== b[1], "a line needs two different points")
    .describe("[[x1, y1], [x2, y2]]: crossing from the left to the right side, walking from the first point to the second, is 'in'"),
  labels: z.array(z.string()).optional().describe("labels counted; default all"),
  hysteresis_px: z.number().min(0).default(8).describe("distance past the line before a crossing counts (an object stopping on the line counts once)"),
});

export const signsSchema = z.strictObject({
  labels: z.array(z.string()).optional().describe("labels that are signs (one sighting per pass instead of events); default every label the camera detects"),
  watch: z
    .array(
      z.strictObject({
        label: z.string().describe("expected sign class"),
        zone: z.string().describe("zone (under zones) where it stands"),
        missing_after_seconds: z.number().min(1).describe("not seen for this long while frames are usable (not dark, not frozen) → sign_missing alarm"),
      }),
    )
    .default([])
    .describe("signs a fixed camera must keep seeing"),
  size_m: z
    .number()
    .min(0.2)
    .max(3)
    .default(0.75)
    .describe("a sign's face height, for its distance from the box height (German signs: 0.6, 0.75 or 0.9 m; 0.75 on most roads)"),
  assets: z
    .strictObject({
      radius_m: z.number().min(1).max(200).default(20).describe("sightings of one class this close (and facing the same way) are one sign"),
      heading_tolerance_degrees: z.number().min(1).max(180).default(45).describe("headings within this of each other pass a sign the same way"),
      missing_after_passes: z.number().int().min(1).default(2).describe("passes in a row through a sign's place without seeing it → sign_missing"),
    })
    .default(() => ({ radius_m: 20, heading_tolerance_degrees: 45, missing_after_passes: 2 }))
    .describe("located sightings (a camera with location or gps) merged into a sign inventory across passes"),
});

export const countsSchema = z.strictObject({
  interval_seconds: z
    .number()
    .int()
    .min(60)
    .max(86_400)
    .refine((v) => 86_400 % v === 0, "must divide a day (e.g. 300, 900, 3600) so intervals stay aligned to the clock")
    .default(900)
    .describe("length of a count report's interval, aligned to the local clock (900: reports at :00, :15, :30 and :45)"),
});

export const cameraAnalyticsKeys = {
  tracker: trackerSchema.default(() => trackerSchema.parse({})),
  zones: z.record(z.string().regex(/^[A-Za-z0-9_-]+$/, "use letters, digits, '_' or '-' (it becomes part of MQTT topics)"), zoneSchema).default({}),
  lines: z.record(z.string().regex(/^[A-Za-z0-9_-]+$/, "use letters, digits, '_' or '-'"), lineSchema).default({}),
  masks: z.array(polygon).default([]).describe("polygons where detections are ignored (their bottom-centre inside)"),
  signs: signsSchema.optional().describe("traffic-sign sightings and sign watch; off when absent"),
  counts: countsSchema.default(() => countsSchema.parse({})).describe("count reports per line and zone (agent/records/counts.ts)"),
};

export type TrackerConfig = z.infer<typeof trackerSchema>;
export type ZoneConfig = z.infer<typeof zoneSchema>;
export type LineConfig = z.infer<typeof lineSchema>;

export const retentionSchema = z.strictObject({
  days: z.number().min(0).optional().describe("events, sign sightings and crossings older than this are deleted"),
  max_mb: z.number().min(1).optional().describe("snapshots beyond this many MB are deleted with their events, oldest first"),
});

export interface NamedShape {
  name: string;
  /** key path of its points inside the camera, e.g. ["zones", "door", "points"], for error messages */
  pointsKeys: (string | number)[];
  /** as written in the config: pixels or 0–1 fractions */
  points: Point[];
}

export interface CameraShapes {
  zones: NamedShape[];
  lines: NamedShape[];
  masks: NamedShape[];
}

type ShapeKeys = { zones: Record<string, ZoneConfig>; lines: Record<string, LineConfig>; masks: Point[][] };

/** A camera's zones, lines and masks as named point lists (the preview, the console and the frame check draw them). */
export function cameraShapes(cam: ShapeKeys): CameraShapes {
  return {
    zones: Object.entries(cam.zones).map(([name, z]) => ({ name, pointsKeys: ["zones", name, "points"], points: z.points })),
    lines: Object.entries(cam.lines).map(([name, l]) => ({ name, pointsKeys: ["lines", name, "points"], points: l.points })),
    masks: cam.masks.map((points, i) => ({ name: `mask${i + 1}`, pointsKeys: ["masks", i], points })),
  };
}

const shapeKeysSchema = z.looseObject({ zones: cameraAnalyticsKeys.zones, lines: cameraAnalyticsKeys.lines, masks: cameraAnalyticsKeys.masks });

/** The shapes of a camera config not validated yet; null when its shape keys are invalid (the schema says why). */
export function parsedCameraShapes(camera: unknown): CameraShapes | null {
  const r = shapeKeysSchema.safeParse(camera ?? {});
  return r.success ? cameraShapes(r.data as ShapeKeys) : null;
}

/** Points of zones, lines and masks that fall outside a width × height frame. */
export function shapesOutsideFrame(shapes: CameraShapes, width: number, height: number): Array<{ keys: (string | number)[]; message: string }> {
  const problems: Array<{ keys: (string | number)[]; message: string }> = [];
  for (const [kind, list] of [
    ["zone", shapes.zones],
    ["line", shapes.lines],
    ["mask", shapes.masks],
  ] as const) {
    for (const s of list) {
      toPixels(s.points, width, height).forEach(([x, y], i) => {
        if (x < 0 || y < 0 || x > width || y > height) {
          problems.push({
            keys: [...s.pointsKeys, i],
            message: `${kind} '${s.name}' point [${s.points[i]!.join(", ")}] is outside the ${width}×${height} detect frame`,
          });
        }
      });
    }
  }
  return problems;
}
