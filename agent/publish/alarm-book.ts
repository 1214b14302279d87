import type { AlarmPayload } from "./payload-schemas.js";

export type AlarmType = AlarmPayload["type"];

export interface AlarmKey {
  type: AlarmType;
  camera: string;
  zone?: string;
  /** a sign inventory asset: its alarms are the sign's, whichever camera passes it */
  asset?: string;
}

export type AlarmActionError = { code: "unknown_alarm"; message: string };

interface Active {
  payload: AlarmPayload;
  key: string;
}

const keyOf = (k: AlarmKey): string => (k.asset !== undefined ? `${k.type}\u0000asset\u0000${k.asset}` : `${k.type}\u0000${k.camera}\u0000${k.zone ?? ""}`);

/**
 * The alarms that are raised now and what happens to them: one alarm per (type, camera, zone) while its
 * condition lasts, acknowledged and cleared by the agent or by an operator. Pure bookkeeping: each method
 * returns the message to publish (or null when nothing changed), the caller sends it on `alarms`.
 */
export class AlarmBook {
  private readonly byKey = new Map<string, Active>();
  private readonly byId = new Map<string, Active>();

  constructor(private readonly newId: (now: number) => string) {}

  /** Raises an alarm unless the same one is already raised (then null). */
  raise(key: AlarmKey, now: number, reason: string | null = null, extra: Record<string, unknown> = {}): AlarmPayload | null {
    const k = keyOf(key);
    if (this.byKey.has(k)) return null;
    const payload: AlarmPayload = {
      ...extra,
      id: this.newId(now),
      type: key.type,
      state: "raised",
      camera: key.camera,
      ...(key.zone !== undefined ? { zone: key.zone } : {}),
      ...(key.asset !== undefined ? { asset: key.asset } : {}),
      time: new Date(now).toISOString(),
      reason,
      by: "agent",
    };
    const a = { payload, key: k };
    this.byKey.set(k, a);
    this.byId.set(payload.id!, a);
    return { ...payload };
  }

  /** The condition is over: clears the alarm if one is raised or acknowledged (else null). */
  clear(key: AlarmKey, now: number, reason: string | null = null): AlarmPayload | null {
    const a = this.byKey.get(keyOf(key));
    return a ? this.finish(a, now, "agent", reason) : null;
  }

  /** An operator acknowledged it: still active until cleared. Acknowledging twice changes nothing (null). */
  acknowledge(id: string, now: number): AlarmPayload | null | AlarmActionError {
    const a = this.byId.get(id);
    if (!a) return unknown(id);
    if (a.payload.state === "acknowledged") return null;
    a.payload = { ...a.payload, state: "acknowledged", time: new Date(now).toISOString(), by: "operator" };
    return { ...a.payload };
  }

  /** An operator cleared it by hand; if its condition persists, the agent may raise it again later. */
  clearById(id: string, now: number): AlarmPayload | AlarmActionError {
    const a = this.byId.get(id);
    if (!a) return unknown(id);
    return this.finish(a, now, "operator", null);
  }

  active(): AlarmPayload[] {
    return [...this.byKey.values()].map((a) => ({ ...a.payload }));
  }

  private finish(a: Active, now: number, by: "agent" | "operator", reason: string | null): AlarmPayload {
    this.byKey.delete(a.key);
    this.byId.delete(a.payload.id!);
    return { ...a.payload, state: "cleared", time: new Date(now).toISOString(), by, reason };
  }
}

function unknown(id: string): AlarmActionError {
  return { code: "unknown_alarm", message: `no active alarm with id ${JSON.stringify(id.slice(0, 64))}` };
}

export function isAlarmActionError(x: unknown): x is AlarmActionError {
  return typeof x === "object" && x !== null && (x as { code?: unknown }).code === "unknown_alarm";
}
