import { z } from "zod";

// A camera's secondary classifiers (DeepStream's secondary GIE, Frigate 0.17's object classification): the
// boxes of some detector labels are cropped from the camera frame and named again by a crop classifier.

export const classifyRuleSchema = z.strictObject({
  model: z
    .string()
    .describe("key of an entry under models: a crop classifier (input [N,S,S,3] uint8 or [N,3,S,S] float32, output [N,classes]; labels from its metadata)"),
  labels: z.array(z.string().min(1)).min(1).optional().describe("detector labels whose boxes this model classifies; default every label"),
  padding: z
    .number()
    .min(0)
    .max(1)
    .optional()
    .describe("crop margin, as a fraction of the box's width and height on each side; default the model's crop_padding metadata, else 0.15"),
  min_size: z.number().min(1).max(4096).default(8).describe("boxes whose longer side is smaller than this (camera-frame px) keep the detector's label"),
  min_score: z
    .number()
    .min(0)
    .max(1)
    .default(0)
    .describe("classifier probability below which the detector's label stays (0: the classifier's label always replaces it)"),
  score: z
    .enum(["product", "classifier", "detector"])
    .default("product")
    .describe("a classified box's score: detector × classifier probability (product), the classifier's alone, or the detector's"),
  max_crops: z.number().int().min(1).max(256).default(32).describe("most crops per frame, highest detector scores first; all go through one batched run"),
});
export type ClassifyRule = z.infer<typeof classifyRuleSchema>;

export const cameraClassifyKeys = {
  classify: z
    .array(classifyRuleSchema)
    .default([])
    .describe(
      "crop classifiers run on this camera's detections, in order, on the frame as ffmpeg delivers it (detect.width × detect.height: set it to the camera's resolution for small objects)",
    ),
};
