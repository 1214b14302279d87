import { createHash } from "node:crypto";
import type { DeepStreamEvent, EventMessage } from "./payload-schemas.js";

// payload_format: deepstream — events in NVIDIA DeepStream nvmsgconv's full schema (DeepStream's
// NVDS_PAYLOAD_DEEPSTREAM, schema version 4.0), so platforms fed by DeepStream take eva events unchanged.
// Field names follow the nvmsgconv sample payloads. place.name and sensor.description carry device.name (what
// an operator calls the pole or building), falling back to the device id; what eva does not know (coordinates)
// is left at DeepStream's own defaults.

/** DeepStream's event types: an eva `new` is an entry, `end` an exit, `update` a moving object. */
const EVENT_TYPE = { new: "entry", update: "moving", end: "exit" } as const;

/** A stable UUID-shaped id from a string (DeepStream's messageid is a UUID; ours must repeat with a resend). */
function uuidFrom(s: string): string {
  const h = createHash("sha1").update(s).digest("hex");
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-5${h.slice(13, 16)}-${((parseInt(h.slice(16, 18), 16) & 0x3f) | 0x80).toString(16)}${h.slice(18, 20)}-${h.slice(20, 32)}`;
}

export interface DeepStreamOptions {
  /** device.name from the config */
  deviceName?: string | undefined;
}

export function toDeepStream(m: EventMessage, o: DeepStreamOptions = {}): DeepStreamEvent {
  const ev = m.event;
  const place = o.deviceName?.trim() || ev.device;
  const [x1, y1, x2, y2] = ev.box;
  const time = m.type === "end" && ev.end_time ? ev.end_time : ev.start_time;
  return {
    messageid: uuidFrom(`${ev.id}/${m.type}/${ev.end_time ?? ""}/${ev.top_score}`),
    mdsversion: "1.0",
    "@timestamp": time,
    place: { id: ev.device, name: place, type: "eva" },
    sensor: {
      id: ev.camera,
      type: "Camera",
      description: `${ev.camera} at ${place}`,
      location: { lat: 0, lon: 0, alt: 0 },
      coordinate: { x: 0, y: 0, z: 0 },
    },
    analyticsModule: { id: "eva", description: "eva edge video analytics", source: "eva", version: "1.0" },
    object: {
      id: String(ev.track_id ?? ev.id),
      speed: 0,
      direction: 0,
      orientation: 0,
      [ev.label]: { confidence: ev.top_score },
      bbox: { topleftx: Math.round(x1), toplefty: Math.round(y1), bottomrightx: Math.round(x2), bottomrighty: Math.round(y2) },
      location: { lat: 0, lon: 0, alt: 0 },
      coordinate: { x: 0, y: 0, z: 0 },
    },
    event: { id: ev.id, type: EVENT_TYPE[m.type] },
    videoPath: ev.snapshot ?? "",
  };
}

/** The outbox encoder for payload_format: deepstream; only `events` rows change. */
export function deepStreamEncoder(o: DeepStreamOptions = {}): (row: { topic: string; payload: string }) => string {
  return (row) => (row.topic !== "events" ? row.payload : JSON.stringify(toDeepStream(JSON.parse(row.payload) as EventMessage, o)));
}
