import { z } from "zod";

// Small objects (a 20 px traffic sign in a 1360×800 frame) vanish when the whole frame is shrunk to the model's
// input; tiles (SAHI-style) run the model on parts of the frame at a larger scale and merge the boxes.

const rect = z
  .tuple([z.number().min(0), z.number().min(0), z.number().min(0), z.number().min(0)])
  .refine(([x1, y1, x2, y2]) => x2 > x1 && y2 > y1, "x1, y1, x2, y2 with x2 > x1 and y2 > y1");

export const tilesSchema = z.strictObject({
  region: rect
    .optional()
    .describe("region of interest, detect-frame pixels [x1, y1, x2, y2] (e.g. the upper/right part of a road view where signs stand); default the whole frame"),
  grid: z
    .tuple([z.number().int().min(1).max(8), z.number().int().min(1).max(8)])
    .default([1, 1])
    .describe("[columns, rows] of tiles over the region; each tile is one model run"),
  overlap: z.number().min(0).max(0.5).default(0.2).describe("fraction of a tile shared with its neighbour, so an object on a border is whole in one of them"),
  full_frame: z.boolean().default(false).describe("also run the model on the whole frame (large objects that no tile holds whole)"),
  merge_ios: z
    .number()
    .min(0)
    .max(1)
    .default(0.6)
    .describe("a box mostly inside a higher-scoring one (intersection over the smaller box above this) is the same object cut by a tile border"),
});
export type TilesConfig = z.infer<typeof tilesSchema>;
