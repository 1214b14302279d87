import type { z } from "zod";
import { configSchema, reloadEffects, type CameraConfig, type Config, type ReloadEffect } from "./schema.js";

// What a config edit means for a running agent, decided on plain data from the effect each key declares in
// the schema (reloads(...) in schema.ts): the controller applies the plan and nothing more, so an edit of one
// camera's threshold never touches another camera's ffmpeg, and a new key cannot be forgotten here.

export interface ReloadPlan {
  /** dotted key paths that differ (a whole entry when it was added or removed), sorted */
  changed: string[];
  cameras: {
    /** enabled now and not before (new, or `enabled` turned on) */
    added: string[];
    /** enabled before and not now */
    removed: string[];
    /** ffmpeg must start again: source, fps, size, model or file-source options changed (or the database moved) */
    restarted: string[];
    /** applied to the running camera at its next frame: thresholds, labels, events settings, zones… */
    updated: string[];
  };
  models: {
    /** to load (in the background) and swap in: newly needed, or its file/options or the detector settings changed */
    load: string[];
    /** no enabled camera uses it any more */
    close: string[];
  };
  /** broker settings or the device id changed: reconnect the uplink */
  mqtt: boolean;
  /** a sink besides MQTT changed, was added or removed: restart those sinks only */
  sinks: boolean;
  /** the database file moved: reopen the store there (every camera restarts its events stage) */
  storage: boolean;
  /** retention or the snapshot folder changed: applied in place on the same database */
  storageLive: boolean;
  /** the health server's port or host changed */
  health: boolean;
  log: boolean;
}

type Node = z.core.$ZodType;

/** The effect declared nearest to the key at `keys` (its own, else its closest section's); null for no such key. */
export function reloadEffect(keys: readonly string[]): ReloadEffect | null {
  let node: Node | undefined = configSchema;
  let effect: ReloadEffect | null = null;
  for (let i = 0; ; i++) {
    // Wrappers (default, optional, …) may carry the mark as well as what they wrap.
    for (let n: Node | undefined = node; n; n = inner(n)) effect = reloadEffects.get(n as z.ZodType)?.reload ?? effect;
    if (i === keys.length) return effect;
    let bare: Node = node!;
    for (let n = inner(bare); n; n = inner(bare)) bare = n;
    const def = bare._zod.def as { type: string; shape?: Record<string, Node>; valueType?: Node };
    if (def.type === "object") node = def.shape![keys[i]!];
    else if (def.type === "record") node = def.valueType;
    // Inside a union, an array or a scalar the whole value is the key: it keeps the effect found so far.
    else return effect;
    if (!node) return null;
  }
}

function inner(n: Node): Node | undefined {
  const def = n._zod.def as { type: string; innerType?: Node; in?: Node };
  if (["default", "optional", "nullable", "prefault", "catch", "readonly", "nonoptional"].includes(def.type)) return def.innerType;
  if (def.type === "pipe") return def.in;
  return undefined;
}

export function planReload(prev: Config, next: Config): ReloadPlan {
  const changed = diffPaths(prev, next).sort();
  const effects = changed.map((p) => {
    const keys = p.split(".");
    const effect = reloadEffect(keys);
    // A strict schema admits no key without a section, and every section declares an effect.
    if (!effect) throw new Error(`config key ${p} has no reload effect in agent/config/schema.ts`);
    return { keys, effect };
  });
  const any = (e: ReloadEffect) => effects.some((x) => x.effect === e);
  const enabled = (c: Config) => new Map(Object.entries(c.cameras).filter(([, cam]) => cam.enabled));
  const before = enabled(prev);
  const after = enabled(next);
  const storage = any("database_move");
  const renamed = any("device_rename");

  const plan: ReloadPlan = {
    changed,
    cameras: { added: [], removed: [], restarted: [], updated: [] },
    models: { load: [], close: [] },
    mqtt: any("uplink_restart") || renamed,
    sinks: any("sinks_restart"),
    storage,
    storageLive: any("storage_live"),
    health: any("health_restart"),
    log: any("log_live"),
  };

  const cameraEffects = (name: string) => effects.filter((x) => x.keys[0] === "cameras" && x.keys[1] === name).map((x) => x.effect);
  for (const name of before.keys()) if (!after.has(name)) plan.cameras.removed.push(name);
  for (const [name] of after) {
    const own = cameraEffects(name);
    if (!before.has(name)) plan.cameras.added.push(name);
    else if (storage || own.includes("camera_restart")) plan.cameras.restarted.push(name);
    else if (own.length || renamed) plan.cameras.updated.push(name);
  }

  const used = (cams: Map<string, CameraConfig>) => new Set([...cams.values()].map((c) => c.detect.model));
  const usedBefore = used(before);
  const usedAfter = used(after);
  const reloaded = (m: string) => effects.some((x) => x.effect === "model_reload" && (x.keys[0] === "detector" || (x.keys[0] === "models" && x.keys[1] === m)));
  for (const m of usedAfter) if (!usedBefore.has(m) || reloaded(m)) plan.models.load.push(m);
  for (const m of usedBefore) if (!usedAfter.has(m)) plan.models.close.push(m);
  return plan;
}

const isObject = (v: unknown): v is Record<string, unknown> => !!v && typeof v === "object" && !Array.isArray(v);

/** Dotted paths where two plain JSON values differ; arrays and scalars compare whole. */
export function diffPaths(a: unknown, b: unknown, prefix = ""): string[] {
  if (isObject(a) && isObject(b)) {
    const out: string[] = [];
    for (const k of new Set([...Object.keys(a), ...Object.keys(b)])) {
      const p = prefix ? `${prefix}.${k}` : k;
      if (!(k in a) || !(k in b)) {
        if (a[k] !== undefined || b[k] !== undefined) out.push(p);
      } else out.push(...diffPaths(a[k], b[k], p));
    }
    return out;
  }
  return equal(a, b) ? [] : [prefix];
}

/** Deep equality of plain JSON data (config values), key order ignored. */
export function equal(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (Array.isArray(a) || Array.isArray(b)) {
    return Array.isArray(a) && Array.isArray(b) && a.length === b.length && a.every((v, i) => equal(v, b[i]));
  }
  if (isObject(a) && isObject(b)) {
    const ka = Object.keys(a).filter((k) => a[k] !== undefined);
    const kb = Object.keys(b).filter((k) => b[k] !== undefined);
    return ka.length === kb.length && ka.every((k) => equal(a[k], b[k]));
  }
  return false;
}
