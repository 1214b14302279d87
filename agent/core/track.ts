import type { Box } from "./geometry.js";

/** One tracked object as the stages after the tracker see it: plain data, a copy per frame. */
export interface Track {
  /** unique per camera while the agent runs */
  id: number;
  /** the label with the highest summed score over the track's detections */
  label: string;
  /** the last detected box (not the prediction: analytics count what was seen) */
  box: Box;
  /** the last detection's score */
  score: number;
  /** matched a detection in this frame */
  detected: boolean;
  confirmed: boolean;
  /** ms since epoch */
  firstSeen: number;
  lastSeen: number;
  /** median of the recent detection scores (the last SCORE_HISTORY), worked out once per matched frame */
  medianScore: number;
  /** how many scores that median is over (at most SCORE_HISTORY) */
  scoreCount: number;
}
