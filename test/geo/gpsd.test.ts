import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import pino from "pino";
import { parseConfig } from "../../agent/config/load.js";
import { FixedLocation } from "../../agent/geo/fixed-location.js";
import { GpsdSource } from "../../agent/geo/gpsd.js";
import { positionSourceFor } from "../../agent/geo/position-sources.js";
import { TrackFile } from "../../agent/geo/track-file.js";
import { Gpsfake, northboundNmea } from "../support/gpsd.js";

const dir = mkdtempSync(path.join(tmpdir(), "eva-gpsd-"));
const fakes: Gpsfake[] = [];
afterAll(async () => {
  for (const f of fakes) await f.stop();
  rmSync(dir, { recursive: true, force: true });
});

/** Resolves once `ok()` holds, checked as reports arrive; fails after `ms`. */
async function until(what: string, ok: () => boolean, ms = 30_000): Promise<void> {
  const end = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe("gpsd source", () => {
  it("follows gpsd's TPV reports, has no fix once gpsd is gone, and reconnects when it is back", async () => {
    const first = await Gpsfake.start(dir, northboundNmea(30));
    fakes.push(first);
    const problems: string[] = [];
    let reconnected = 0;
    const gps = new GpsdSource({
      host: "127.0.0.1",
      port: first.port,
      maxAgeMs: 1500,
      onProblem: (m) => problems.push(m),
      onConnected: () => reconnected++,
    });
    gps.start();
    try {
      // gpsd says 2D until a GGA brings the altitude
      await until("a 3D fix", () => gps.reports >= 3 && gps.fixAt({ time: Date.now(), seq: 0 })?.fix === "3d");
      const fix = gps.fixAt({ time: Date.now(), seq: 0 })!;
      expect(fix.lat).toBeGreaterThanOrEqual(52.52);
      expect(fix.lat).toBeLessThan(52.53);
      expect(fix.lon).toBeCloseTo(13.405, 5);
      expect(fix.heading).toBe(0);
      expect(fix.speed).toBeCloseTo(10, 0);

      await first.stop();
      await until("a problem reported", () => problems.length > 0);
      await until("the last fix too old", () => gps.fixAt({ time: Date.now(), seq: 0 }) === null);

      const before = gps.reports;
      const again = await Gpsfake.start(dir, northboundNmea(30), first.port);
      fakes.push(again);
      await until("fixes again", () => gps.reports >= before + 3);
      expect(reconnected).toBeGreaterThanOrEqual(1);
      expect(gps.fixAt({ time: Date.now(), seq: 0 })).not.toBeNull();
      // said with where, and not once per retry (about ten while gpsd was away): consecutive repeats are one line
      expect(problems[0]).toMatch(new RegExp(`^gpsd 127\\.0\\.0\\.1:${first.port}: `));
      expect(problems.every((p, i) => i === 0 || p !== problems[i - 1])).toBe(true);
    } finally {
      gps.stop();
    }
  }, 90_000);

  it("keeps only TPV reports with a 2D or 3D fix", () => {
    const gps = new GpsdSource({ host: "127.0.0.1", port: 1, maxAgeMs: 5000, onProblem: () => {} });
    gps.report('{"class":"TPV","mode":1,"lat":1,"lon":2}', 1000);
    gps.report('{"class":"SKY","satellites":[]}', 1000);
    gps.report("not json", 1000);
    gps.report('{"class":"TPV","mode":2,"lat":48.1,"lon":11.5,"track":90,"speed":5}', 1000);
    gps.report('{"class":"TPV","mode":3,"status":2,"lat":48.1,"lon":11.6,"track":90,"speed":5}', 2000);
    expect(gps.reports).toBe(2);
    expect(gps.fixAt({ time: 1500, seq: 0 })).toMatchObject({ lat: 48.1, lon: 11.55, heading: 90, speed: 5 });
    expect(gps.fixAt({ time: 2000, seq: 0 })!.fix).toBe("dgps");
    expect(gps.fixAt({ time: 500, seq: 0 })).toBeNull();
    expect(gps.fixAt({ time: 8000, seq: 0 })).toBeNull();
  });

  it("a camera's config names its source: gpsd's host and port (2947 by default), a track file, or a fixed place", () => {
    const cfg = parseConfig(
      `
device: {id: van}
models: {m: {path: m.onnx}}
cameras:
  a: {source: rtsp://c/1, detect: {model: m}, gps: {gpsd: "[::1]:2950"}}
  b: {source: rtsp://c/2, detect: {model: m}, gps: {gpsd: gps.local}}
  c: {source: drive.mp4, detect: {model: m}, gps: {track: drive.gpx}}
  d: {source: rtsp://c/3, detect: {model: m}, location: {lat: 1, lon: 2, heading: 3}}
  e: {source: rtsp://c/4, detect: {model: m}}
`,
      "/cfg/eva.yaml",
      {},
    );
    const log = pino({ level: "silent" });
    const of = (cam: string) => positionSourceFor(cam, cfg.cameras[cam]!, log);
    expect(of("a")?.describe).toBe("gpsd ::1:2950");
    expect(of("b")?.describe).toBe("gpsd gps.local:2947");
    expect(of("c")).toBeInstanceOf(TrackFile);
    expect(of("c")?.describe).toBe("track file /cfg/drive.gpx");
    expect(of("d")).toBeInstanceOf(FixedLocation);
    expect(of("e")).toBeNull();
    expect(() =>
      parseConfig(
        `models: {m: {path: m.onnx}}\ncameras:\n  a: {source: x.mp4, detect: {model: m}, gps: {track: t.gpx}, location: {lat: 1, lon: 2, heading: 3}}\n`,
        "/cfg/eva.yaml",
        {},
      ),
    ).toThrow(/either a fixed location or gps/);
  });
});
