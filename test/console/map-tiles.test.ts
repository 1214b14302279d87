import { describe, expect, it } from "vitest";
import { configSchema } from "../../agent/config/schema.js";
import { tileOrigin } from "../../agent/console/console-routes.js";

const base = { device: { id: "d" }, models: {}, cameras: {} };

describe("the sign map's tile source", () => {
  it("defaults to OpenStreetMap's tiles with their attribution, and takes an empty URL for the grid", () => {
    expect(configSchema.parse(base).console).toEqual({
      map_tiles: "https://tile.openstreetmap.org/{z}/{x}/{y}.png",
      map_attribution: "© OpenStreetMap contributors",
    });
    expect(configSchema.parse({ ...base, console: { map_tiles: "" } }).console.map_tiles).toBe("");
  });

  it("refuses a tile URL that is not http(s) or has no {z}", () => {
    for (const bad of ["tile.openstreetmap.org/{z}/{x}/{y}.png", "https://tiles.example/static.png", "javascript:alert(1)/{z}"]) {
      const r = configSchema.safeParse({ ...base, console: { map_tiles: bad } });
      expect(r.success, bad).toBe(false);
    }
  });

  it("admits the tile server's origin in the page's policy, a subdomain placeholder as a wildcard", () => {
    expect(tileOrigin("https://tile.openstreetmap.org/{z}/{x}/{y}.png")).toBe("https://tile.openstreetmap.org");
    expect(tileOrigin("https://{s}.tile.example.org:8443/{z}/{x}/{y}.png")).toBe("https://*.tile.example.org:8443");
    expect(tileOrigin("")).toBeNull();
  });
});
