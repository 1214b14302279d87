import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { distanceM } from "../../agent/geo/geodesy.js";
import { FixedLocation } from "../../agent/geo/fixed-location.js";
import { parseGpx, parseNmea, readTrackFile, TrackFile } from "../../agent/geo/track-file.js";

const dir = mkdtempSync(path.join(tmpdir(), "eva-track-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const T0 = Date.parse("2026-12-01T09:00:00Z");

/** A drive due east along a parallel, 10 m a second, one fix a second. */
function gpx(seconds: number, extra = ""): string {
  const pts = Array.from({ length: seconds + 1 }, (_, i) => {
    const lon = 11.5 + (i * 10) / (111_195 * Math.cos((48 * Math.PI) / 180));
    return `  <trkpt lat="48.0" lon="${lon.toFixed(8)}">\n    <time>${new Date(T0 + i * 1000).toISOString()}</time>${extra}\n  </trkpt>`;
  });
  return `<?xml version="1.0"?>\n<gpx version="1.1" creator="test">\n<trk><trkseg>\n${pts.join("\n")}\n</trkseg></trk>\n</gpx>\n`;
}

function nmeaLine(body: string): string {
  let sum = 0;
  for (const c of body) sum ^= c.charCodeAt(0);
  return `$${body}*${sum.toString(16).toUpperCase().padStart(2, "0")}`;
}

function write(name: string, text: string): string {
  const file = path.join(dir, name);
  writeFileSync(file, text);
  return file;
}

describe("track files", () => {
  it("reads GPX track points, filling in heading and speed from neighbours when the file has none", async () => {
    const fixes = await readTrackFile(write("drive.gpx", gpx(10)));
    expect(fixes).toHaveLength(11);
    expect(fixes[0]).toMatchObject({ time: T0, lat: 48, fix: "3d" });
    for (const f of fixes) {
      expect(f.heading).toBeCloseTo(90, 1);
      expect(f.speed).toBeCloseTo(10, 1);
    }
    const withCourse = parseGpx(gpx(2, "<course>45</course><speed>3.5</speed><fix>2d</fix>"));
    expect(withCourse[1]).toMatchObject({ heading: 45, speed: 3.5, fix: "2d" });
  });

  it("reads NMEA RMC and GGA, skipping sentences with a wrong checksum or no fix", () => {
    const text = [
      nmeaLine("GPGGA,090000.00,4800.0000,N,01130.0000,E,1,08,0.9,500.0,M,47.0,M,,"), // before any date: skipped
      nmeaLine("GPRMC,090000.00,A,4800.0000,N,01130.0000,E,19.44,90.0,011226,,,A"),
      nmeaLine("GPGGA,090000.00,4800.0000,N,01130.0000,E,2,08,0.9,500.0,M,47.0,M,,"),
      nmeaLine("GPRMC,090001.00,V,4800.0000,N,01130.0000,E,0,0,011226,,,N"), // void: no fix
      "$GPRMC,090002.00,A,4800.0000,N,01130.0200,E,19.44,90.0,011226,,,A*00", // wrong checksum
      nmeaLine("GNRMC,090003.00,A,4800.0000,N,01130.0150,E,19.44,91.5,011226,,,A"),
    ].join("\r\n");
    const fixes = parseNmea(text);
    expect(fixes.map((f) => f.time - T0)).toEqual([0, 3000]);
    expect(fixes[0]).toMatchObject({ lat: 48, lon: 11.5, heading: 90, fix: "dgps" });
    expect(fixes[0]!.speed).toBeCloseTo(10, 1);
    expect(fixes[1]).toMatchObject({ heading: 91.5, fix: "3d" });
  });

  it("says which file and line a bad track point is on, and when a file has no fix at all", async () => {
    const bad = gpx(3).replace(/<time>[^<]*<\/time>/, "");
    const file = write("bad.gpx", bad);
    await expect(readTrackFile(file)).rejects.toThrow(`${file}:4: a trkpt without a readable <time>`);
    const empty = write("empty.nmea", "$GPTXT,01,01,02,hello*00\n");
    await expect(readTrackFile(empty)).rejects.toThrow(`track file ${empty}: no position fix in it`);
    await expect(readTrackFile(path.join(dir, "none.gpx"))).rejects.toThrow(/track file .*none\.gpx: ENOENT/);
  });

  it("places a clip's frames by their place in the clip: from the track's start, an offset, or the file's creation_time; a loop starts the track again", async () => {
    const file = write("ten.gpx", gpx(10));
    const at = (src: TrackFile, seq: number) => src.fixAt({ time: 1e12 + seq, seq })!;
    const fromStart = new TrackFile(file, { source: path.join(dir, "missing.mp4"), file: true, loop: false, fps: 10 }, undefined, () => {});
    await fromStart.load();
    // frame 25 at 10 fps: 2.5 s into the clip, 25 m east of the first fix; dated by the frame, not the track
    const f25 = at(fromStart, 25);
    expect(distanceM(f25, { lat: 48, lon: 11.5 })).toBeCloseTo(25, 0);
    expect(f25.time).toBe(1e12 + 25);
    expect(fromStart.fixAt({ time: 0, seq: 200 })).toBeNull();

    const offset = new TrackFile(file, { source: "x.mp4", file: true, loop: false, fps: 10 }, 4, () => {});
    await offset.load();
    expect(distanceM(at(offset, 25), { lat: 48, lon: 11.5 })).toBeCloseTo(65, 0);

    const loop = new TrackFile(file, { source: "x.mp4", file: true, loop: true, fps: 10 }, undefined, () => {});
    await loop.load();
    // frame 125: the second loop's 2.5 s
    expect(distanceM(at(loop, 125), at(loop, 25))).toBeLessThan(0.01);

    const clip = path.join(dir, "dated.mp4");
    execFileSync("ffmpeg", [
      "-v",
      "error",
      "-f",
      "lavfi",
      "-i",
      "testsrc=size=64x64:rate=10",
      "-t",
      "1",
      "-metadata",
      "creation_time=2026-12-01T09:00:06Z",
      clip,
    ]);
    const dated = new TrackFile(file, { source: clip, file: true, loop: false, fps: 10 }, undefined, () => {});
    await dated.load();
    expect(distanceM(at(dated, 5), { lat: 48, lon: 11.5 })).toBeCloseTo(65, 0);

    const live = new TrackFile(file, { source: "rtsp://cam/1", file: false, loop: false, fps: 10 }, undefined, () => {});
    await live.load();
    expect(distanceM(live.fixAt({ time: T0 + 3000, seq: 999 })!, { lat: 48, lon: 11.5 })).toBeCloseTo(30, 0);
  });

  it("a fixed camera is at its place on every frame", () => {
    const fixed = new FixedLocation({ lat: 52.5, lon: 13.4, heading: 270 });
    expect(fixed.fixAt({ time: 123, seq: 4 })).toEqual({ time: 123, lat: 52.5, lon: 13.4, heading: 270, speed: 0, fix: "fixed" });
  });
});
