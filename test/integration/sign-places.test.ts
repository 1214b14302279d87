import { readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { distanceM } from "../../agent/geo/geodesy.js";
import type { SightingRecord } from "../../agent/records/sightings.js";
import { signAssetSchema, type SignAssetRecord } from "../../agent/records/sign-assets.js";
import { eva, writeTestConfig } from "../support/agent.js";
import { checkPublished } from "../support/api-schemas.js";
import { fileBroker } from "../support/broker.js";
import { emptyClip } from "../support/clips.js";
import { MessageCollector } from "../support/mqtt.js";
import { DRIVE_START as START, northGpx, stopSignDrive } from "../support/sign-drive.js";

// The real agent on a real clip with a GPX track: a stop sign passes the camera twice (shown 2 s, hidden 3 s,
// shown 2 s) while the track drives north at 10 m/s. Every frame is analysed (realtime: false) and placed by
// its place in the clip, so the positions follow from the script.

const FPS = 10;
const broker = await fileBroker();

describe("signs on the map", { timeout: 240_000 }, () => {
  it("places each sighting by the track, merges them into assets across runs, and exports GeoJSON and OSM tags", async () => {
    const clip = await stopSignDrive(FPS);
    const { file, dir } = writeTestConfig({
      brokerUrl: broker.url,
      deviceId: "dev-map",
      cameras: {
        cam: {
          source: clip,
          fps: FPS,
          realtime: false,
          labels: ["stop sign"],
          extra: "    gps: {track: drive.gpx}\n    field_of_view_degrees: 60\n    signs: {labels: [stop sign], size_m: 0.75}\n",
        },
      },
    });
    writeFileSync(path.join(dir, "drive.gpx"), northGpx());
    const db = path.join(dir, "eva.db");

    for (let run = 0; run < 2; run++) {
      const r = await eva(["run", "--config", file, "--exit-on-eof"], { timeoutMs: 120_000 });
      expect(r.code, r.stderr).toBe(0);
    }

    const sightings = JSON.parse((await eva(["signs", "--db", db, "--json"])).stdout) as SightingRecord[];
    expect(sightings).toHaveLength(4);
    for (const s of sightings) {
      expect(s).toMatchObject({ label: "stop sign", fix: "3d" });
      expect(s.heading).toBeCloseTo(0, 0);
      expect(s.speed).toBeCloseTo(10, 0);
      // the camera is on the track: north of the start by at most the clip's 8.5 s
      expect(s.lon).toBeCloseTo(START.lon, 6);
      expect(s.lat! - START.lat).toBeGreaterThan(0);
      expect(distanceM(START, { lat: s.lat!, lon: s.lon! })).toBeLessThan(90);
      // a 0.75 m sign 80 px tall in a 640 px picture at 60°: 554 px focal length, about 5 m ahead, a little right
      const ahead = distanceM({ lat: s.lat!, lon: s.lon! }, { lat: s.sign_lat!, lon: s.lon! });
      expect(ahead).toBeGreaterThan(3);
      expect(ahead).toBeLessThan(8);
    }
    // both runs place the same two passes at the same places: two assets, each seen on both runs
    const assets = JSON.parse((await eva(["signs", "--db", db, "--assets", "--json"])).stdout) as SignAssetRecord[];
    expect(assets.map((a) => [a.label, a.sightings, a.state])).toEqual([
      ["stop sign", 2, "present"],
      ["stop sign", 2, "present"],
    ]);
    expect(distanceM(assets[0]!, assets[1]!)).toBeGreaterThan(30);

    const geo = JSON.parse((await eva(["signs", "--db", db, "--assets", "--geojson"])).stdout) as {
      type: string;
      features: Array<{ geometry: { type: string; coordinates: [number, number] }; properties: { traffic_sign: string } }>;
    };
    expect(geo.type).toBe("FeatureCollection");
    expect(geo.features.map((f) => [f.geometry.type, f.properties.traffic_sign])).toEqual([
      ["Point", "DE:206"],
      ["Point", "DE:206"],
    ]);
    expect(geo.features[0]!.geometry.coordinates[0]).toBeCloseTo(assets[0]!.lon, 6);
    const sightingsGeo = JSON.parse((await eva(["signs", "--db", db, "--geojson"])).stdout) as { features: unknown[] };
    expect(sightingsGeo.features).toHaveLength(4);
    const osm = (await eva(["signs", "--db", db, "--osm"])).stdout;
    expect(osm.match(/<node /g)).toHaveLength(2);
    expect(osm).toContain('<tag k="traffic_sign" v="DE:206"/>');
    expect(osm).toContain('<tag k="direction" v="0"/>');

    // A third drive along the same track sees no sign: the camera passes the first sign's place (the second's is
    // still ahead when the clip ends) without a sighting; one such pass is enough here to raise sign_missing.
    const empty = await emptyClip(8.5, FPS);
    writeFileSync(
      file,
      readFileSync(file, "utf8").replace(`source: ${clip}`, `source: ${empty}`).replace("size_m: 0.75}", "size_m: 0.75, assets: {missing_after_passes: 1}}"),
    );
    const sub = await MessageCollector.subscribe(broker.url, "eva/dev-map/#");
    const r = await eva(["run", "--config", file, "--exit-on-eof"], { timeoutMs: 120_000 });
    expect(r.code, r.stderr).toBe(0);
    const msgs = await sub.until((m) => m.some((x) => x.topic === "eva/dev-map/status" && x.payload === "stopped"), 30_000, "the agent's last message");
    await sub.close();
    const alarms = msgs.filter((m) => m.topic === "eva/dev-map/alarms").map((m) => JSON.parse(m.payload) as Record<string, unknown>);
    const first = assets.reduce((a, b) => (a.lat < b.lat ? a : b));
    expect(alarms.map((a) => [a.type, a.state, a.asset, a.label, a.missed_passes])).toEqual([["sign_missing", "raised", first.id, "stop sign", 1]]);
    expect(msgs.filter((m) => m.topic === "eva/dev-map/alarms").flatMap((m) => checkPublished("eva/dev-map", m.topic, m.payload))).toEqual([]);
    const assetMessages = msgs.filter((m) => m.topic === "eva/dev-map/sign_assets").map((m) => signAssetSchema.safeParse(JSON.parse(m.payload)));
    expect(assetMessages.length).toBeGreaterThan(0);
    expect(assetMessages.filter((p) => !p.success)).toEqual([]);
    // the inventory's retained figures (Home Assistant's sensors read them)
    const summary = msgs.filter((m) => m.topic === "eva/dev-map/sign_assets/summary").map((m) => JSON.parse(m.payload) as Record<string, unknown>);
    expect(summary.at(-1)).toMatchObject({ assets: 2, missing: 1, changed: 0 });
    const after = JSON.parse((await eva(["signs", "--db", db, "--assets", "--json"])).stdout) as SignAssetRecord[];
    expect(after.find((a) => a.id === first.id)).toMatchObject({ state: "missing", passes_missed: 1, missed_in_a_row: 1 });
  });
});
