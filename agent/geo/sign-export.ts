import { osmSignTags } from "./osm-sign-tags.js";

/** An inventory asset as the exports take it (agent/analytics/sign-assets.ts has the whole record). */
interface SignAsset {
  id: string;
  label: string;
  lat: number;
  lon: number;
  heading: number;
  last_seen: string;
}

/** A sighting as the exports take it (agent/records/sightings.ts's record). */
interface PlacedRow {
  id: string;
  label: string;
  sign_lat?: number | null;
  sign_lon?: number | null;
}

export interface GeoJsonPoint {
  type: "Feature";
  id: string;
  geometry: { type: "Point"; coordinates: [number, number] };
  properties: Record<string, unknown>;
}

export interface FeatureCollection {
  type: "FeatureCollection";
  features: GeoJsonPoint[];
}

const point = (id: string, lat: number, lon: number, properties: Record<string, unknown>): GeoJsonPoint => ({
  type: "Feature",
  id,
  // GeoJSON (RFC 7946) orders longitude first
  geometry: { type: "Point", coordinates: [lon, lat] },
  properties,
});

/** Sightings at their signs' estimated places; unlocated ones have no place and are left out. */
export function sightingsGeoJson<T extends PlacedRow>(rows: readonly T[]): FeatureCollection {
  const features: GeoJsonPoint[] = [];
  for (const r of rows) if (r.sign_lat != null && r.sign_lon != null) features.push(point(r.id, r.sign_lat, r.sign_lon, { ...r } as Record<string, unknown>));
  return { type: "FeatureCollection", features };
}

/** The inventory's assets at their mean places, with their OSM traffic_sign tag where the class has one. */
export function assetsGeoJson<T extends SignAsset>(assets: readonly T[]): FeatureCollection {
  return {
    type: "FeatureCollection",
    features: assets.map((a) =>
      point(a.id, a.lat, a.lon, { ...(a as Record<string, unknown>), traffic_sign: osmSignTags(a.label, a.heading)?.traffic_sign ?? null }),
    ),
  };
}

const xml = (s: string) => s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");

/**
 * The inventory as an OSM XML file of new nodes (negative ids, as JOSM expects for unsaved objects), one per
 * asset whose class has a German sign number; the rest are counted in a comment.
 */
export function assetsOsmXml(assets: readonly SignAsset[]): string {
  const out = ['<?xml version="1.0" encoding="UTF-8"?>', '<osm version="0.6" generator="eva">'];
  let skipped = 0;
  assets.forEach((a, i) => {
    const tags = osmSignTags(a.label, a.heading);
    if (!tags) {
      skipped++;
      return;
    }
    out.push(`  <node id="-${i + 1}" lat="${a.lat.toFixed(7)}" lon="${a.lon.toFixed(7)}">`);
    for (const [k, v] of Object.entries({ ...tags, source: "eva", "eva:asset": a.id, "eva:last_seen": a.last_seen }))
      out.push(`    <tag k="${xml(k)}" v="${xml(v)}"/>`);
    out.push("  </node>");
  });
  if (skipped) out.push(`  <!-- ${skipped} asset(s) of classes without a German sign number left out -->`);
  out.push("</osm>");
  return `${out.join("\n")}\n`;
}
