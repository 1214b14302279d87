import type { Box } from "../detect/detection.js";

export type EventChange = "new" | "update" | "end";

/** An event as it is stored and published (field names are the MQTT/JSON API's). */
export interface EvaEvent {
  /** unique and sortable by creation time (ULID) */
  id: string;
  device: string;
  camera: string;
  label: string;
  /** ISO 8601 UTC */
  start_time: string;
  /** ISO 8601 UTC; null while the event is open */
  end_time: string | null;
  top_score: number;
  /** best box, detect-frame pixels */
  box: Box;
  /** path of the JPEG of the best frame with the box drawn; null until written */
  snapshot: string | null;
}
