import { appendFileSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import type { Browser } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { SightingRecord } from "../../agent/records/sightings.js";
import type { SignAssetRecord } from "../../agent/records/sign-assets.js";
import { eva, writeTestConfig } from "../support/agent.js";
import { launchChromium } from "../support/browser.js";
import { fileBroker } from "../support/broker.js";
import { freePort } from "../support/ports.js";
import { emptyClip } from "../support/clips.js";
import { northGpx, stopSignDrive } from "../support/sign-drive.js";

// The console's sign map in a real browser, offline as the test machine is: a real run of the agent drives a
// stop sign past the camera twice along a GPX track (two assets, two sightings with snapshots); the agent then
// serves that store while its camera watches an empty clip without a track (nothing is added or missed), and the
// map must show both kinds of marker, a grid in place of the unreachable tiles, and a snapshot on click.

const FPS = 10;
const broker = await fileBroker();
let browser: Browser;
beforeAll(async () => {
  browser = await launchChromium();
});
afterAll(async () => {
  await browser?.close();
});

describe("the console's sign map", { timeout: 180_000 }, () => {
  it("shows the inventory's assets and today's sightings on a grid when the tiles cannot load, and a sighting's snapshot on click", async () => {
    const clip = await stopSignDrive(FPS);
    const { file, dir } = writeTestConfig({
      brokerUrl: broker.url,
      deviceId: "dev-signmap",
      cameras: {
        cam: {
          source: clip,
          fps: FPS,
          realtime: false,
          labels: ["stop sign"],
          extra: "    gps: {track: drive.gpx}\n    signs: {labels: [stop sign]}\n",
        },
      },
    });
    writeFileSync(path.join(dir, "drive.gpx"), northGpx());
    const db = path.join(dir, "eva.db");
    const drive = await eva(["run", "--config", file, "--exit-on-eof"], { timeoutMs: 120_000 });
    expect(drive.code, drive.stderr).toBe(0);
    const sightings = JSON.parse((await eva(["signs", "--db", db, "--json"])).stdout) as SightingRecord[];
    const assets = JSON.parse((await eva(["signs", "--db", db, "--assets", "--json"])).stdout) as SignAssetRecord[];
    expect(sightings).toHaveLength(2);
    expect(assets).toHaveLength(2);
    expect(sightings.every((s) => s.sign_lat !== null && s.snapshot)).toBe(true);

    // The same store served by the console; nothing changes it while the page looks.
    const empty = await emptyClip(2, FPS);
    writeFileSync(file, readFileSync(file, "utf8").replace(`source: ${clip}`, `source: ${empty}\n    loop: true`).replace("    gps: {track: drive.gpx}\n", ""));
    const port = await freePort();
    appendFileSync(file, `health: {port: ${port}}\n`);
    let kill: (s: NodeJS.Signals) => void = () => {};
    const running = eva(["run", "--config", file], { timeoutMs: 120_000, onSpawn: (k) => (kill = k) });
    const page = await browser.newPage({ viewport: { width: 1280, height: 1400 } });
    const pageErrors: string[] = [];
    page.on("pageerror", (err) => pageErrors.push(err.message));
    // a refused load (the content security policy) is an error; the tiles' failed loads are not
    page.on("console", (m) => void (m.type() === "error" && !m.text().startsWith("Failed to load resource") && pageErrors.push(m.text())));
    const tileRequests: string[] = [];
    // No internet here: a tile request fails as it would offline (and is counted, so the test knows it was tried).
    await page.route("https://tile.openstreetmap.org/**", (route) => {
      tileRequests.push(route.request().url());
      return route.abort("internetdisconnected");
    });
    const fromPage: string[] = [];
    page.on("request", (r) => fromPage.push(r.url()));
    try {
      await expect
        .poll(
          () =>
            fetch(`http://127.0.0.1:${port}/healthz`).then(
              (r) => r.status,
              () => 0,
            ),
          { timeout: 60_000 },
        )
        .toBeGreaterThan(0);
      await page.goto(`http://127.0.0.1:${port}/console/`);
      const map = page.locator("#sign-map");
      await expect.poll(() => map.getAttribute("data-markers"), { timeout: 30_000 }).toBe("4");
      await expect.poll(() => page.locator("#sign-map path.sign-asset").count()).toBe(2);
      await expect.poll(() => page.locator("#sign-map path.sign-sighting").count()).toBe(2);
      // the default tiles were asked for, failed, and the grid took their place
      await expect.poll(() => map.getAttribute("data-background"), { timeout: 30_000 }).toBe("grid");
      expect(tileRequests.length).toBeGreaterThan(0);
      expect(await page.locator("#sign-map .map-grid canvas").count()).toBeGreaterThan(0);
      expect(await page.locator("#sign-map-note").textContent()).toBe("2 signs in the inventory, 2 located sightings today");
      // Leaflet itself came from the console, not from a CDN
      expect(fromPage.filter((u) => /leaflet/.test(u))).toEqual([
        `http://127.0.0.1:${port}/console/leaflet/leaflet.css`,
        `http://127.0.0.1:${port}/console/leaflet/leaflet.js`,
      ]);

      // A sighting's marker opens its popup with its snapshot, loaded from the console.
      await page.locator("#sign-map path.sign-sighting").first().click({ force: true });
      const img = page.locator("#sign-map .leaflet-popup .map-popup img");
      await expect.poll(() => img.count(), { timeout: 10_000 }).toBe(1);
      await expect.poll(() => img.evaluate((i: HTMLImageElement) => i.complete && i.naturalWidth), { timeout: 10_000 }).toBeGreaterThan(0);
      const src = (await img.getAttribute("src"))!;
      expect(sightings.map((s) => path.basename(s.snapshot!))).toContain(path.basename(src));
      expect(await page.locator("#sign-map .leaflet-popup .map-popup b").textContent()).toBe("stop sign");

      // an asset's popup says what the inventory knows of it
      await page.locator("#sign-map .leaflet-popup-close-button").click();
      await expect.poll(() => page.locator("#sign-map .leaflet-popup").count()).toBe(0);
      // A fresh page (the popup's pan may have moved the asset out of the view), then the asset's ring: the
      // sighting's smaller marker sits on its centre.
      await page.reload();
      await expect.poll(() => map.getAttribute("data-markers"), { timeout: 30_000 }).toBe("4");
      const asset = page.locator("#sign-map path.sign-asset").first();
      const ring = (await asset.boundingBox())!;
      await page.mouse.click(ring.x + ring.width / 2, ring.y + 2);
      await expect.poll(() => page.locator("#sign-map .leaflet-popup .map-popup").textContent(), { timeout: 10_000 }).toContain("seen on 1 passes, missed 0");
      expect(await page.locator("#sign-map .leaflet-popup .map-popup img").count()).toBe(1);
      expect(pageErrors).toEqual([]);
    } finally {
      await page.close();
      kill("SIGTERM");
    }
    expect((await running).code).toBe(0);
  });
});
