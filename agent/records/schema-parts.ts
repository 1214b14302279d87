import { z } from "zod";

// Field schemas every record kind's payload shares, so each says "camera" and "time" the same way.

export const time = z.iso.datetime().describe("ISO 8601 UTC");
export const cameraName = z.string().min(1).describe("camera name from the config");
export const recordId = z.string().describe("unique per record (ULID); the same when a message is sent again, for de-duplication");
export const deviceId = z.string().describe("device.id of the agent that made the record");
export const revision = z.number().int().min(1).describe("grows with every change of this record's subject; the highest is the newest");

/** A key field of a received record, as text; throws naming it when it is missing. */
export function required(r: Record<string, unknown>, key: string): string {
  const v = r[key];
  if ((typeof v === "string" && v) || (typeof v === "number" && Number.isFinite(v))) return String(v);
  throw new Error(`'${key}' missing or not a string`);
}
