import type { Box } from "../core/geometry.js";

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
  /** the tracker's id of the object (per camera, while the agent runs) */
  track_id?: number;
  /** zones the object is in now */
  current_zones?: string[];
  /** every zone the object has been in during the event, in order of entry */
  entered_zones?: string[];
  /** the object has not moved for the camera's events.stationary_seconds */
  stationary?: boolean;
  /** the event's video (record.enabled): null until its MP4 is on disk, absent when the camera does not record */
  clip?: EventClip | null;
}

/** An event's clip: an MP4 from `record.pre_seconds` before its start to `record.post_seconds` after its end. */
export interface EventClip {
  /** the MP4's path on the device */
  path: string;
  duration_seconds: number;
  bytes: number;
}

/** The fields the tracking and analytics stages add to an event (stored together as JSON). */
export const TRACK_FIELDS = ["track_id", "current_zones", "entered_zones", "stationary"] as const;
