import { recordKinds } from "../records/registry.js";

/**
 * The device's MQTT topic tree, as suffixes after `<prefix>/<device>/` (the outbox stores suffixes) and as full
 * topics. One prefix per device, so a broker can grant each device `<prefix>/<device>/#` and nothing else.
 */

export const DEVICE_STATUS = "status";
export const EVENTS = "events";
export const CROSSINGS = "crossings";
export const SIGNS = "signs";
export const ALARMS = "alarms";
export const STATS = "stats";
export const CONFIG = "config";
export const COMMANDS = "cmd";

export const cameraStatusTopic = (camera: string): string => `cameras/${camera}/status`;
export { occupancyTopic } from "../records/occupancy.js";
export const snapshotTopic = (camera: string): string => `snapshots/${camera}`;
/** Retained running totals of one counting line: defined with the record kind, agent/records/line-totals.ts. */
export { lineTotalsTopic as lineCountsTopic } from "../records/line-totals.js";
export const commandTopic = (name: string): string => `${COMMANDS}/${name}`;
/** Where MQTT 3.1.1 clients (no response topic) read a command's reply. */
export const commandResultTopic = (name: string): string => `${COMMANDS}/${name}/result`;

/** Device status values: retained `online` on connect, `offline` as the will, `stopped` on a clean shutdown. */
export type DeviceStatus = "online" | "offline" | "stopped";

export function deviceBase(prefix: string, device: string): string {
  return `${prefix}/${device}`;
}

/** What a full topic under the device base is, for routing and for validating published messages. */
export type TopicKind =
  | { kind: "status" }
  | { kind: "camera_status"; camera: string }
  | { kind: "events" | "crossings" | "signs" | "alarms" | "stats" | "config" }
  | { kind: "occupancy"; camera: string; zone: string }
  | { kind: "line_counts"; camera: string; line: string }
  | { kind: "snapshot"; camera: string }
  | { kind: "command"; name: string }
  | { kind: "command_result"; name: string }
  | { kind: "unknown" }
  /** another record kind's channel (agent/records): its channel id and the address's parameters */
  | { kind: `record:${string}`; channel: string; params: Record<string, string> };

/** Classifies a topic suffix (after `<prefix>/<device>/`). */
export function classifyTopic(suffix: string): TopicKind {
  const p = suffix.split("/");
  if (p.length === 1) {
    const k = p[0];
    if (k === DEVICE_STATUS) return { kind: "status" };
    if (k === EVENTS || k === CROSSINGS || k === SIGNS || k === ALARMS || k === STATS || k === CONFIG) return { kind: k };
  }
  if (p.length === 3 && p[0] === "cameras" && p[2] === "status") return { kind: "camera_status", camera: p[1]! };
  if (p.length === 3 && p[0] === "occupancy") return { kind: "occupancy", camera: p[1]!, zone: p[2]! };
  if (p.length === 3 && p[0] === "lines") return { kind: "line_counts", camera: p[1]!, line: p[2]! };
  if (p.length === 2 && p[0] === "snapshots") return { kind: "snapshot", camera: p[1]! };
  if (p.length === 2 && p[0] === COMMANDS) return { kind: "command", name: p[1]! };
  if (p.length === 3 && p[0] === COMMANDS && p[2] === "result") return { kind: "command_result", name: p[1]! };
  for (const c of recordChannels) {
    const params = matchAddress(c.address, p);
    if (params) return { kind: `record:${c.id}`, channel: c.id, params };
  }
  return { kind: "unknown" };
}

const recordChannels = recordKinds.flatMap((k) => k.channels);

/** The parameters of an address such as `counts/{camera}/lines/{line}` when the topic's levels match it. */
function matchAddress(address: string, levels: readonly string[]): Record<string, string> | null {
  const parts = address.split("/");
  if (parts.length !== levels.length) return null;
  const params: Record<string, string> = {};
  for (const [i, part] of parts.entries()) {
    const name = /^\{(\w+)\}$/.exec(part)?.[1];
    if (name) params[name] = levels[i]!;
    else if (part !== levels[i]) return null;
  }
  return params;
}
