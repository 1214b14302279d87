import { z } from "zod";
import { polygon } from "./analytics-schema.js";

// The per-camera keys of motion gating (agent/motion) and of decoding (agent/camera/ffmpeg.ts).

export const motionSchema = z.strictObject({
  enabled: z
    .boolean()
    .default(true)
    .describe("run the detector only on motion, on moving tracks and at keepalive_seconds otherwise; turn off for moving cameras (dashcam, PTZ on patrol)"),
  threshold: z
    .number()
    .int()
    .min(1)
    .max(255)
    .default(20)
    .describe("grey-level change (0–255) of a grid cell that counts as changed, after an even lighting shift is taken out"),
  min_area: z.number().min(0).max(1).default(0.002).describe("least share of the unmasked picture that must change for motion"),
  lighting_area: z
    .number()
    .min(0.05)
    .max(1)
    .default(0.6)
    .describe("a change over more than this share at once is lighting or a camera glitch: the background is relearnt and that frame analysed"),
  background_seconds: z
    .number()
    .min(0.1)
    .max(600)
    .default(3)
    .describe("seconds for the background to take in a lasting change (a parked car, a lamp switched on)"),
  keepalive_seconds: z
    .number()
    .min(0.1)
    .max(60)
    .default(2)
    .describe(
      "without motion, one frame this often still goes to the detector, so parked cars, people standing still and watched signs stay seen; keep it under events.end_after_seconds",
    ),
  still_seconds: z
    .number()
    .min(0.5)
    .max(600)
    .default(3)
    .describe(
      "a track that has not moved for this long no longer keeps every frame analysed: motion or the keepalive frame looks at it again (events.stationary_seconds, for parked objects' events, is separate)",
    ),
  mask: z
    .array(polygon)
    .optional()
    .describe("polygons where motion is ignored (swaying trees, a clock, a busy road outside the scene); default: the camera's masks"),
});
export type MotionConfig = z.infer<typeof motionSchema>;

export const decodeSchema = z.strictObject({
  threads: z.number().int().min(1).max(16).default(2).describe("ffmpeg decoder threads for this camera (bounded: many cameras share few cores)"),
  skip_frame: z
    .enum(["auto", "none", "noref", "nokey"])
    .default("auto")
    .describe(
      "frames the decoder skips undecoded: noref (frames nothing refers to), nokey (key frames only: for fps at or below the key-frame rate); auto = noref at fps ≤ 12.5, else none",
    ),
});
export type DecodeConfig = z.infer<typeof decodeSchema>;
