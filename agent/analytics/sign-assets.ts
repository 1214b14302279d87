import type { Fix } from "../core/fix.js";
import { distanceM, headingDifference, interpolateHeading, type LatLon } from "../geo/geodesy.js";

export interface AssetSettings {
  /** sightings of one class this close are one sign; a camera this close passes it */
  radiusM: number;
  /** headings within this pass a sign the same way */
  headingToleranceDeg: number;
  /** passes in a row without a sighting → sign_missing */
  missingAfterPasses: number;
}

/** One physical sign in the inventory: what every pass past its place saw of it. */
export interface SignAsset {
  id: string;
  /** the camera that first saw it */
  camera: string;
  label: string;
  /** mean of its sightings' estimated positions */
  lat: number;
  lon: number;
  /** the heading it is passed with (the cameras' heading when they saw it) */
  heading: number;
  /** ISO 8601 UTC */
  first_seen: string;
  last_seen: string;
  passes_seen: number;
  passes_missed: number;
  /** passes in a row without a sighting, since the last one that saw it */
  missed_in_a_row: number;
  /** located sightings merged into it */
  sightings: number;
  /** the sighting with the closest view (largest box), and its snapshot */
  best_sighting: string;
  snapshot: string | null;
  best_box_height: number;
  /** present, or missing after missingAfterPasses passes without a sighting */
  state: "present" | "missing";
  /** a sign of this other class was seen at its place since it was last seen itself */
  changed_to: string | null;
}

/** A located sighting as the inventory takes it. */
export interface PlacedSighting {
  id: string;
  label: string;
  /** ms since epoch: the pass's last view */
  time: number;
  sign: LatLon;
  heading: number;
  box_height: number;
  snapshot: string | null;
}

export interface AssetAlarm {
  type: "sign_missing" | "sign_changed";
  state: "raised" | "cleared";
  asset: string;
  label: string;
  /** sign_changed: the class now seen at the sign's place */
  new_label?: string;
  lat: number;
  lon: number;
  /** sign_missing: passes in a row without it */
  missed_passes?: number;
  /** ms since epoch */
  time: number;
}

/**
 * The device's sign inventory, shared by its cameras and loaded from the store at start. Plain data: each
 * camera's AssetPasses changes it and emits the changed assets, which the store keeps.
 */
export class SignAssetBook {
  private readonly assets: SignAsset[];

  constructor(assets: readonly SignAsset[] = []) {
    this.assets = [...assets];
  }

  all(): readonly SignAsset[] {
    return this.assets;
  }

  add(a: SignAsset): void {
    this.assets.push(a);
  }

  /** Assets within `radiusM` of p passed with a heading within the tolerance, nearest first. */
  near(p: LatLon, heading: number, s: AssetSettings): SignAsset[] {
    const out: Array<{ a: SignAsset; d: number }> = [];
    for (const a of this.assets) {
      if (headingDifference(a.heading, heading) > s.headingToleranceDeg) continue;
      const d = distanceM(p, a);
      if (d <= s.radiusM) out.push({ a, d });
    }
    return out.sort((x, y) => x.d - y.d).map((x) => x.a);
  }
}

/** Sightings of one sign this close in time are one pass (a track broken by an occlusion, not a second drive). */
const SAME_PASS_MS = 15_000;
/** A sign is seen before the camera reaches it: a sighting this long before the camera enters its place counts for the pass. */
const LOOKBACK_MS = 60_000;
/** A camera is out of a sign's place once this much beyond the radius (a fix wobbling on the edge is one pass). */
const LEAVE_FACTOR = 1.5;

/** A pass is judged at the latest this long after the camera left (a road where signs are always in view). */
const JUDGE_WITHIN_MS = 10_000;

interface Visit {
  start: number;
  end: number | null;
}

/**
 * One camera's passes through the inventory. A located sighting joins the nearest asset of its class at its
 * place (within the radius, heading matching) or becomes a new asset; a different class there raises
 * `sign_changed` on the asset that stood there. The camera passing through an asset's place (its own position
 * within the radius, heading matching) without a sighting of it is a missed pass; `missingAfterPasses` in a
 * row raise `sign_missing`, and a sighting clears it. A pass is judged once no sign is in view (or soon after),
 * so a sighting still being tracked is not taken for a miss.
 */
export class AssetPasses {
  private readonly visits = new Map<string, Visit>();
  /** when this camera last saw each asset */
  private readonly lastSeen = new Map<string, number>();

  constructor(
    private readonly camera: string,
    private book: SignAssetBook,
    private readonly newId: (timeMs: number) => string,
  ) {}

  /** The camera's sign passes go on in another inventory (the store moved); visits start afresh. */
  useBook(book: SignAssetBook): void {
    if (book === this.book) return;
    this.book = book;
    this.visits.clear();
    this.lastSeen.clear();
  }

  /**
   * One frame: the located sightings that ended in it, where the camera is, and whether a sign is in view.
   * Returns the assets that changed (to store) and the alarms raised or cleared.
   */
  observe(
    time: number,
    fix: Fix | null,
    sightings: readonly PlacedSighting[],
    signsInView: boolean,
    s: AssetSettings,
  ): { changed: SignAsset[]; alarms: AssetAlarm[] } {
    const changed = new Set<SignAsset>();
    const alarms: AssetAlarm[] = [];
    for (const sighting of sightings) this.sighted(sighting, s, changed, alarms);
    this.follow(time, fix, s);
    this.judge(time, signsInView, s, changed, alarms);
    return { changed: [...changed], alarms };
  }

  private sighted(x: PlacedSighting, s: AssetSettings, changed: Set<SignAsset>, alarms: AssetAlarm[]): void {
    const near = this.book.near(x.sign, x.heading, s);
    const same = near.find((a) => a.label === x.label);
    if (same) {
      const last = this.lastSeen.get(same.id);
      if (last === undefined || x.time - last > SAME_PASS_MS) same.passes_seen++;
      same.sightings++;
      // running mean: each sighting weighs the same
      same.lat += (x.sign.lat - same.lat) / same.sightings;
      same.lon += (x.sign.lon - same.lon) / same.sightings;
      same.heading = interpolateHeading(same.heading, x.heading, 1 / same.sightings);
      same.last_seen = iso(x.time);
      same.missed_in_a_row = 0;
      if (x.box_height > same.best_box_height) {
        same.best_box_height = x.box_height;
        same.best_sighting = x.id;
        same.snapshot = x.snapshot;
      }
      if (same.state === "missing") {
        same.state = "present";
        alarms.push(assetAlarm("sign_missing", "cleared", same, x.time));
      }
      if (same.changed_to !== null) {
        alarms.push({ ...assetAlarm("sign_changed", "cleared", same, x.time), new_label: same.changed_to });
        same.changed_to = null;
      }
      this.lastSeen.set(same.id, x.time);
      changed.add(same);
      return;
    }
    const asset: SignAsset = {
      id: this.newId(x.time),
      camera: this.camera,
      label: x.label,
      lat: x.sign.lat,
      lon: x.sign.lon,
      heading: x.heading,
      first_seen: iso(x.time),
      last_seen: iso(x.time),
      passes_seen: 1,
      passes_missed: 0,
      missed_in_a_row: 0,
      sightings: 1,
      best_sighting: x.id,
      snapshot: x.snapshot,
      best_box_height: x.box_height,
      state: "present",
      changed_to: null,
    };
    for (const other of near) {
      if (other.changed_to === x.label) continue;
      if (other.changed_to !== null) alarms.push({ ...assetAlarm("sign_changed", "cleared", other, x.time), new_label: other.changed_to });
      other.changed_to = x.label;
      alarms.push({ ...assetAlarm("sign_changed", "raised", other, x.time), new_label: x.label });
      changed.add(other);
    }
    this.book.add(asset);
    this.lastSeen.set(asset.id, x.time);
    changed.add(asset);
  }

  /** Opens a visit for each asset whose place the camera is in, and closes those it has left. */
  private follow(time: number, fix: Fix | null, s: AssetSettings): void {
    const heading = fix?.heading ?? null;
    if (fix && heading !== null) {
      for (const a of this.book.near(fix, heading, s)) {
        const v = this.visits.get(a.id);
        if (!v) this.visits.set(a.id, { start: time, end: null });
        else if (v.end !== null && time - v.end < SAME_PASS_MS) v.end = null;
      }
    }
    for (const [id, v] of this.visits) {
      if (v.end !== null) continue;
      const a = this.book.all().find((x) => x.id === id);
      const inside =
        a && fix && heading !== null && headingDifference(a.heading, heading) <= s.headingToleranceDeg && distanceM(fix, a) <= s.radiusM * LEAVE_FACTOR;
      if (!inside) v.end = time;
    }
  }

  /** Ended visits are passes: seen when this camera saw the asset during it or just before; else missed. */
  private judge(time: number, signsInView: boolean, s: AssetSettings, changed: Set<SignAsset>, alarms: AssetAlarm[]): void {
    for (const [id, v] of this.visits) {
      if (v.end === null || time - v.end < 1 || (signsInView && time - v.end < JUDGE_WITHIN_MS)) continue;
      this.visits.delete(id);
      const a = this.book.all().find((x) => x.id === id);
      if (!a) continue;
      const seen = this.lastSeen.get(id);
      if (seen !== undefined && seen >= v.start - LOOKBACK_MS) continue;
      a.passes_missed++;
      a.missed_in_a_row++;
      changed.add(a);
      if (a.state === "present" && a.missed_in_a_row >= s.missingAfterPasses) {
        a.state = "missing";
        alarms.push({ ...assetAlarm("sign_missing", "raised", a, time), missed_passes: a.missed_in_a_row });
      }
    }
  }
}

function assetAlarm(type: AssetAlarm["type"], state: AssetAlarm["state"], a: SignAsset, time: number): AssetAlarm {
  return { type, state, asset: a.id, label: a.label, lat: a.lat, lon: a.lon, time };
}

const iso = (ms: number) => new Date(ms).toISOString();
