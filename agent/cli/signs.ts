import { existsSync } from "node:fs";
import { SignStore } from "../events/sign-store.js";
import { EventStore } from "../events/store.js";
import { assetsGeoJson, assetsOsmXml, sightingsGeoJson } from "../geo/sign-export.js";
import { parse, parseSince, UsageError } from "./args.js";

/**
 * `eva signs`: stored traffic-sign sightings (one per sign per pass), a camera's inventory by class, or the
 * sign inventory's assets (located sightings merged across passes); as text, JSON, GeoJSON or OSM XML.
 */
export async function signs(args: string[]): Promise<number> {
  const { values } = parse(args, {
    db: { type: "string" },
    camera: { type: "string" },
    since: { type: "string" },
    inventory: { type: "boolean" },
    assets: { type: "boolean" },
    geojson: { type: "boolean" },
    osm: { type: "boolean" },
    json: { type: "boolean" },
  });
  if (!values.db) throw new UsageError("eva signs needs --db FILE");
  if (!existsSync(values.db)) throw new UsageError(`${values.db}: no such database file`);
  if (values.inventory && !values.camera) throw new UsageError("eva signs --inventory needs --camera NAME");
  if (values.inventory && (values.assets || values.geojson || values.osm))
    throw new UsageError("eva signs --inventory lists classes: it has no --assets, --geojson or --osm");
  if ([values.json, values.geojson, values.osm].filter(Boolean).length > 1) throw new UsageError("eva signs: one of --json, --geojson or --osm");
  const sinceMs = parseSince(values.since);

  const store = new EventStore(values.db, { readonly: true });
  try {
    const signStore = new SignStore(store);
    if (values.assets || values.osm) {
      const assets = signStore.assets().filter((a) => Date.parse(a.last_seen) >= (sinceMs ?? 0));
      if (values.osm) process.stdout.write(assetsOsmXml(assets));
      else if (values.geojson) process.stdout.write(`${JSON.stringify(assetsGeoJson(assets), null, 2)}\n`);
      else if (values.json) process.stdout.write(`${JSON.stringify(assets, null, 2)}\n`);
      else {
        for (const a of assets)
          process.stdout.write(
            `${a.label.padEnd(48)} ${a.lat.toFixed(6)},${a.lon.toFixed(6)}  ${a.state.padEnd(7)} seen ${a.passes_seen} missed ${a.passes_missed}  last ${a.last_seen}${a.changed_to ? `  now '${a.changed_to}'?` : ""}\n`,
          );
        if (!assets.length) process.stdout.write("no sign assets (sightings need a camera with location or gps)\n");
      }
      return 0;
    }
    const rows = values.inventory ? signStore.inventory(values.camera!) : signStore.sightings({ camera: values.camera, sinceMs });
    if (values.geojson) {
      process.stdout.write(`${JSON.stringify(sightingsGeoJson(rows as ReturnType<SignStore["sightings"]>), null, 2)}\n`);
      return 0;
    }
    if (values.json) {
      process.stdout.write(`${JSON.stringify(rows, null, 2)}\n`);
      return 0;
    }
    for (const r of rows) {
      process.stdout.write(
        "count" in r
          ? `${r.camera.padEnd(12)} ${r.label.padEnd(48)} ${String(r.count).padStart(5)}  last ${r.last_seen}\n`
          : `${r.first_seen}  ${r.camera.padEnd(12)} ${r.label.padEnd(48)} ${r.score.toFixed(2)}  ${place(r)}  ${r.snapshot ?? ""}\n`,
      );
    }
    if (!rows.length) process.stdout.write("no sightings\n");
    return 0;
  } finally {
    store.close();
  }
}

/** Where a sighting's sign is, or that it has no place. */
const place = (r: { sign_lat?: number | null; sign_lon?: number | null; fix?: string }) =>
  r.sign_lat != null && r.sign_lon != null ? `${r.sign_lat.toFixed(6)},${r.sign_lon.toFixed(6)}` : (r.fix ?? "none") === "none" ? "unlocated" : "no sign place";
