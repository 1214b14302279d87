import { readFile } from "node:fs/promises";
import { fileCreationTime } from "../camera/ffmpeg.js";
import { completeMotion, fixInTrack, type Fix, type FrameMoment, type PositionSource } from "./position.js";

/** A track file that cannot be read as GPX or NMEA: the file and the line say where. */
export class TrackFileError extends Error {
  readonly code = "EVA_TRACK_FILE";
}

/** How the camera's frames relate to the clip the track was recorded with. */
export interface ClipTiming {
  /** the camera reads a file (frames are placed by their place in the clip), not a live source */
  file: boolean;
  loop: boolean;
  fps: number;
}

/**
 * A recorded drive's track (GPX or NMEA) for a file clip. A frame's place in the clip is matched to the track:
 * from the track's first fix plus `offset_seconds` when given; else from the file's creation_time when the track
 * covers it; else the track's first fix is the clip's start. A looping clip starts the track again each loop. A
 * live source with a track file is matched by its frames' own time (plus the offset). A looping clip's track is
 * taken to span the clip: its first fix at the clip's first frame, its last at the clip's end.
 */
export class TrackFile implements PositionSource {
  readonly describe: string;
  private fixes: readonly Fix[] = [];
  private last = 0;
  /** the clip's creation_time, probed once at start */
  private creationMs: number | null = null;

  constructor(
    private readonly file: string,
    private readonly timing: ClipTiming & { source: string },
    private readonly offsetSeconds: number | undefined,
    private readonly onError: (err: Error) => void,
  ) {
    this.describe = `track file ${file}`;
  }

  /** Reads the track (and probes the clip); until it is read, frames have no fix. */
  start(): void {
    void this.load().catch((err: Error) => this.onError(err));
  }

  async load(): Promise<void> {
    const [fixes, created] = await Promise.all([readTrackFile(this.file), this.timing.file ? fileCreationTime(this.timing.source) : null]);
    this.fixes = fixes;
    this.creationMs = created;
  }

  stop(): void {}

  fixAt(frame: FrameMoment): Fix | null {
    if (!this.fixes.length) return null;
    const { fix, index } = fixInTrack(this.fixes, this.trackTime(frame), this.last);
    this.last = index;
    return fix && { ...fix, time: frame.time };
  }

  /** The moment of the track that this frame shows. */
  trackTime(frame: FrameMoment): number {
    const offsetMs = (this.offsetSeconds ?? 0) * 1000;
    if (!this.timing.file) return frame.time + offsetMs;
    const first = this.fixes[0]!.time;
    const lastFix = this.fixes[this.fixes.length - 1]!.time;
    let media = (frame.seq * 1000) / this.timing.fps;
    // ffmpeg loops the file in one run (its frame numbers keep counting): the track, spanning the clip, starts again
    if (this.timing.loop && lastFix > first) media %= lastFix - first;
    const created = this.creationMs;
    if (this.offsetSeconds === undefined && created !== null && created >= first && created <= lastFix) return created + media;
    return first + offsetMs + media;
  }
}

/** A GPX or NMEA file's fixes in time order, with heading and speed filled in from neighbours where it has none. */
export async function readTrackFile(file: string): Promise<Fix[]> {
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch (err) {
    throw new TrackFileError(`track file ${file}: ${(err as Error).message}`);
  }
  const fixes = /<gpx[\s>]/.test(text) ? parseGpx(text, file) : parseNmea(text, file);
  if (!fixes.length) throw new TrackFileError(`track file ${file}: no position fix in it (GPX trkpt with <time>, or NMEA RMC/GGA sentences)`);
  fixes.sort((a, b) => a.time - b.time);
  return completeMotion(fixes);
}

const lineOf = (text: string, index: number) => text.slice(0, index).split("\n").length;

/** GPX track points (trkpt, or rtept/wpt with a time): lat, lon, time; course, speed and fix when present. */
export function parseGpx(text: string, file = "track"): Fix[] {
  const out: Fix[] = [];
  for (const m of text.matchAll(/<(trkpt|rtept)\b([^>]*?)(\/>|>([\s\S]*?)<\/\1>)/g)) {
    const attrs = m[2]!;
    const body = m[4] ?? "";
    const where = `${file}:${lineOf(text, m.index)}`;
    const lat = Number(/\blat\s*=\s*["']([^"']+)["']/.exec(attrs)?.[1]);
    const lon = Number(/\blon\s*=\s*["']([^"']+)["']/.exec(attrs)?.[1]);
    if (!Number.isFinite(lat) || !Number.isFinite(lon) || Math.abs(lat) > 90 || Math.abs(lon) > 180)
      throw new TrackFileError(`${where}: a ${m[1]} needs lat and lon attributes in degrees`);
    const tag = (name: string) => new RegExp(`<(?:\\w+:)?${name}>\\s*([^<]*?)\\s*</(?:\\w+:)?${name}>`).exec(body)?.[1];
    const time = Date.parse(tag("time") ?? "");
    if (!Number.isFinite(time)) throw new TrackFileError(`${where}: a ${m[1]} without a readable <time> cannot be matched to frames`);
    const course = tag("course");
    const speed = tag("speed");
    const fix = tag("fix");
    out.push({
      time,
      lat,
      lon,
      heading: course !== undefined && Number.isFinite(Number(course)) ? Number(course) : null,
      speed: speed !== undefined && Number.isFinite(Number(speed)) ? Number(speed) : null,
      fix: fix === "2d" ? "2d" : fix === "dgps" ? "dgps" : "3d",
    });
  }
  return out;
}

/**
 * NMEA 0183 RMC and GGA sentences (any talker: GP, GN, GL, …). RMC carries the date, speed and course; a GGA
 * takes the date of the RMC before it. Sentences with a wrong checksum or no fix are skipped, as a receiver does.
 */
export function parseNmea(text: string, file = "track"): Fix[] {
  const byTime = new Map<number, Fix>();
  let day: number | null = null;
  const lines = text.split(/\r?\n/);
  lines.forEach((raw, i) => {
    const line = raw.trim();
    if (!line.startsWith("$") || !nmeaChecksumOk(line)) return;
    const f = line.slice(1).split("*")[0]!.split(",");
    const type = f[0]!.slice(2);
    if (type === "RMC") {
      if (f[2] !== "A") return;
      day = nmeaDate(f[9]!);
      if (day === null) throw new TrackFileError(`${file}:${i + 1}: RMC date '${f[9]}' is not ddmmyy`);
      const pos = nmeaLatLon(f[3]!, f[4]!, f[5]!, f[6]!);
      const tod = nmeaTimeOfDay(f[1]!);
      if (!pos || tod === null) throw new TrackFileError(`${file}:${i + 1}: RMC position or time unreadable`);
      const time = day + tod;
      const knots = Number(f[7]);
      const course = Number(f[8]);
      byTime.set(time, {
        time,
        ...pos,
        heading: f[8] !== "" && Number.isFinite(course) ? course : null,
        speed: f[7] !== "" && Number.isFinite(knots) ? knots * 0.514444 : null,
        fix: byTime.get(time)?.fix ?? "3d",
      });
    } else if (type === "GGA") {
      const quality = Number(f[6]);
      if (!quality || day === null) return;
      const pos = nmeaLatLon(f[2]!, f[3]!, f[4]!, f[5]!);
      const tod = nmeaTimeOfDay(f[1]!);
      if (!pos || tod === null) throw new TrackFileError(`${file}:${i + 1}: GGA position or time unreadable`);
      const time = day + tod;
      const known = byTime.get(time);
      const fix = quality === 2 ? "dgps" : "3d";
      byTime.set(time, known ? { ...known, fix } : { time, ...pos, heading: null, speed: null, fix });
    }
  });
  return [...byTime.values()];
}

function nmeaChecksumOk(line: string): boolean {
  const star = line.indexOf("*");
  if (star < 0) return true;
  let sum = 0;
  for (let i = 1; i < star; i++) sum ^= line.charCodeAt(i);
  return sum === Number.parseInt(line.slice(star + 1, star + 3), 16);
}

function nmeaDate(ddmmyy: string): number | null {
  if (!/^\d{6}$/.test(ddmmyy)) return null;
  const yy = Number(ddmmyy.slice(4, 6));
  return Date.UTC(yy < 80 ? 2000 + yy : 1900 + yy, Number(ddmmyy.slice(2, 4)) - 1, Number(ddmmyy.slice(0, 2)));
}

function nmeaTimeOfDay(hhmmss: string): number | null {
  const m = /^(\d{2})(\d{2})(\d{2}(?:\.\d+)?)$/.exec(hhmmss);
  return m ? (Number(m[1]) * 3600 + Number(m[2]) * 60 + Number(m[3])) * 1000 : null;
}

function nmeaLatLon(lat: string, ns: string, lon: string, ew: string): { lat: number; lon: number } | null {
  const deg = (v: string, degDigits: number) => Number(v.slice(0, degDigits)) + Number(v.slice(degDigits)) / 60;
  if (!lat || !lon) return null;
  const la = deg(lat, 2) * (ns === "S" ? -1 : 1);
  const lo = deg(lon, 3) * (ew === "W" ? -1 : 1);
  return Number.isFinite(la) && Number.isFinite(lo) ? { lat: la, lon: lo } : null;
}
