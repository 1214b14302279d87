import pg from "pg";
import { FLEET_TABLES, queryFleet } from "../ingest/fleet-query.js";
import { parse, parseSince, UsageError } from "./args.js";

export async function fleet(args: string[]): Promise<number> {
  const { values, positionals } = parse(
    args,
    {
      postgres: { type: "string" },
      device: { type: "string" },
      since: { type: "string" },
      limit: { type: "string" },
      json: { type: "boolean" },
      geojson: { type: "boolean" },
    },
    true,
  );
  const [table, ...extra] = positionals;
  if (!table || extra.length || !FLEET_TABLES.includes(table)) throw new UsageError(`eva fleet needs one of ${FLEET_TABLES.join(", ")}`);
  const url = values.postgres ?? process.env.EVA_POSTGRES_URL;
  if (!url) throw new UsageError("eva fleet needs --postgres URL (or EVA_POSTGRES_URL)");
  const limit = values.limit === undefined ? 1000 : Number(values.limit);
  if (!Number.isInteger(limit) || limit < 1) throw new UsageError(`--limit '${values.limit}' must be a positive integer`);
  const pool = new pg.Pool({ connectionString: url, max: 1 });
  try {
    const rows = await queryFleet(pool, table, { device: values.device, sinceMs: parseSince(values.since), limit });
    if (values.geojson) {
      if (table === "devices") throw new UsageError("--geojson is for records (signs, events, crossings, alarms, counts), not devices");
      process.stdout.write(`${JSON.stringify(toGeoJson(rows), null, 2)}\n`);
      return 0;
    }
    if (values.json) {
      process.stdout.write(`${JSON.stringify(rows, null, 2)}\n`);
      return 0;
    }
    for (const r of rows) {
      const interval = r.interval as { start?: string } | undefined;
      const when = r.start_time ?? interval?.start ?? r.time ?? r.first_seen ?? r.status_at ?? "";
      const what =
        table === "devices"
          ? `${r.status ?? "?"}  ${r.version ?? ""}`
          : table === "counts"
            ? `${r.camera ?? ""}  ${r.subject ?? ""} ${r.line ?? r.zone ?? ""}  ${JSON.stringify(r.totals ?? {})}`
            : `${r.camera ?? ""}  ${r.label ?? r.type ?? ""}  ${r.line ?? r.state ?? ""} ${r.direction ?? ""}`;
      process.stdout.write(`${String(when).padEnd(24)}  ${String(r.device).padEnd(16)} ${what.trim()}  ${r.id ?? ""}\n`);
    }
    if (!rows.length) process.stdout.write(`no ${table}\n`);
    return 0;
  } finally {
    await pool.end();
  }
}

/** Records with a position as a GeoJSON FeatureCollection (RFC 7946: [lon, lat]); those without are left out. */
function toGeoJson(rows: Array<Record<string, unknown>>): { type: "FeatureCollection"; features: unknown[] } {
  const features = [];
  for (const r of rows) {
    const holder = [r, r.position, r.location].find(
      (h): h is Record<string, unknown> =>
        !!h && typeof h === "object" && typeof (h as Record<string, unknown>).lat === "number" && typeof (h as Record<string, unknown>).lon === "number",
    );
    if (!holder) continue;
    features.push({ type: "Feature", geometry: { type: "Point", coordinates: [holder.lon, holder.lat] }, properties: r });
  }
  return { type: "FeatureCollection", features };
}
