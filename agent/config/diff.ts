import type { CameraConfig, Config } from "./schema.js";

// What a config edit means for a running agent, decided on plain data: the controller applies the plan and
// nothing more, so an edit of one camera's threshold never touches another camera's ffmpeg.

export interface ReloadPlan {
  /** dotted key paths that differ (a whole entry when it was added or removed), sorted */
  changed: string[];
  cameras: {
    /** enabled now and not before (new, or `enabled` turned on) */
    added: string[];
    /** enabled before and not now */
    removed: string[];
    /** ffmpeg must start again: source, fps, size, model or file-source options changed (or storage moved) */
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
  /** broker settings or the device id changed: reconnect the publisher */
  mqtt: boolean;
  /** the database or snapshot folder moved: reopen the store (every camera restarts its events stage) */
  storage: boolean;
  log: boolean;
}

/**
 * Keys of a camera whose change needs a new ffmpeg (they shape the frames it delivers) or, for the model, a
 * new detector binding. Every other key (thresholds, labels, events, zones/lines/masks…) is applied live.
 */
const RESTART_KEYS: readonly (readonly string[])[] = [
  ["source"], ["detect_source"], ["decode"], ["fps"], ["loop"], ["realtime"], ["stall_seconds"], ["rtsp_transport"],
  ["detect", "width"], ["detect", "height"], ["detect", "model"],
];

export function planReload(prev: Config, next: Config): ReloadPlan {
  const changed = diffPaths(prev, next).sort();
  const enabled = (c: Config) => new Map(Object.entries(c.cameras).filter(([, cam]) => cam.enabled));
  const before = enabled(prev);
  const after = enabled(next);

  const mqtt = !equal(prev.mqtt, next.mqtt) || prev.device.id !== next.device.id;
  const storage = !equal(prev.storage, next.storage);
  const detectorChanged = !equal(prev.detector, next.detector);

  const plan: ReloadPlan = {
    changed,
    cameras: { added: [], removed: [], restarted: [], updated: [] },
    models: { load: [], close: [] },
    mqtt,
    storage,
    log: !equal(prev.log, next.log),
  };

  for (const name of before.keys()) if (!after.has(name)) plan.cameras.removed.push(name);
  for (const [name, cam] of after) {
    const old = before.get(name);
    if (!old) plan.cameras.added.push(name);
    else if (storage || needsRestart(old, cam)) plan.cameras.restarted.push(name);
    else if (!equal(old, cam) || prev.device.id !== next.device.id) plan.cameras.updated.push(name);
  }

  const used = (cams: Map<string, CameraConfig>) => new Set([...cams.values()].map((c) => c.detect.model));
  const usedBefore = used(before);
  const usedAfter = used(after);
  for (const m of usedAfter) {
    if (!usedBefore.has(m) || detectorChanged || !equal(prev.models[m], next.models[m])) plan.models.load.push(m);
  }
  for (const m of usedBefore) if (!usedAfter.has(m)) plan.models.close.push(m);
  return plan;
}

function needsRestart(a: CameraConfig, b: CameraConfig): boolean {
  return RESTART_KEYS.some((keys) => !equal(at(a, keys), at(b, keys)));
}

function at(v: unknown, keys: readonly string[]): unknown {
  return keys.reduce<unknown>((o, k) => (o && typeof o === "object" ? (o as Record<string, unknown>)[k] : undefined), v);
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
