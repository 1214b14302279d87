import { z } from "zod";

// A camera's event clips (agent/recording): ffmpeg copies its stream into short segments, and each event's clip
// is cut from them once the event has ended.

export const recordSchema = z.strictObject({
  enabled: z.boolean().default(false).describe("keep a clip of each event, copied from the camera's stream (no re-encode)"),
  pre_seconds: z.number().min(0).max(60).default(5).describe("seconds of video before the event starts"),
  post_seconds: z.number().min(0).max(60).default(5).describe("seconds of video after the event ends (after the object was last seen)"),
  max_seconds: z
    .number()
    .min(10)
    .max(3600)
    .default(300)
    .describe("longest clip: a longer event's clip stops this long after its start (pre-roll included), which bounds the disk a parked object holds"),
  retain_days: z.number().min(0).optional().describe("clips older than this are deleted (the event stays); default: kept as long as their event"),
});
export type RecordConfig = z.infer<typeof recordSchema>;

export const cameraRecordKeys = {
  record: recordSchema.default(() => recordSchema.parse({})),
};
