import { fastestdet } from "./fastestdet.js";
import type { DetectorFormat } from "./format.js";
import { yolov8 } from "./yolov8.js";
import { yolox } from "./yolox.js";

export type { DetectorFormat };

/** Every output format the detector reads; a model's output shape is tried against them in this order. */
export const detectorFormats: readonly DetectorFormat[] = [yolox, yolov8, fastestdet];

/** The names `models.<name>.format` accepts (the config schema's enum). */
export const formatNames = detectorFormats.map((f) => f.name) as [string, ...string[]];

/** The format of that name; undefined for a name no format has. */
export function detectorFormat(name: string | undefined): DetectorFormat | undefined {
  return detectorFormats.find((f) => f.name === name);
}

/** The first format whose output shape this is, for a model that does not say. */
export function formatFromShape(dims: readonly number[], inputWidth: number, inputHeight: number): DetectorFormat | undefined {
  return detectorFormats.find((f) => f.matches(dims, inputWidth, inputHeight));
}
