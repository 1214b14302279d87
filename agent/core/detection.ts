import type { Box } from "./geometry.js";

/** One object the detector found in a frame: what the stages after it see. */
export interface Detection {
  label: string;
  classId: number;
  score: number;
  box: Box;
}
