import { execFile } from "node:child_process";
import { existsSync, mkdirSync } from "node:fs";
import path from "node:path";
import { promisify } from "node:util";
import { shared } from "./paths.js";

const run = promisify(execFile);

/** Clips are deterministic functions of their arguments, so they are cached per name under the OS temp dir. */
const cacheDir = path.join(process.env.TMPDIR ?? "/tmp", "eva-test-clips");

async function make(name: string, args: string[]): Promise<string> {
  mkdirSync(cacheDir, { recursive: true });
  const out = path.join(cacheDir, name);
  if (existsSync(out)) return out;
  const tmp = `${out}.${process.pid}.tmp.mp4`;
  await run("ffmpeg", ["-hide_banner", "-loglevel", "error", "-y", ...args, "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-g", "10", tmp]);
  await run("mv", [tmp, out]);
  return out;
}

/**
 * A slow pan over ../shared/media/person.jpg (a person, a horse and a dog), then `emptySeconds` of plain grey:
 * the person's event opens during the pan and ends in the grey part.
 */
export function personPanClip(panSeconds = 5, emptySeconds = 3, fps = 10): Promise<string> {
  return make(`person-pan-${panSeconds}-${emptySeconds}-${fps}.mp4`, [
    "-loop",
    "1",
    "-t",
    String(panSeconds),
    "-i",
    path.join(shared, "media/person.jpg"),
    "-f",
    "lavfi",
    "-t",
    String(emptySeconds),
    "-i",
    `color=c=gray:s=640x360:r=${fps}`,
    "-filter_complex",
    `[0]scale=720:-2,crop=640:360:'min(t*12,80)':'min(t*8,100)',fps=${fps},setsar=1[a];[1]setsar=1[b];[a][b]concat=n=2:v=1[v]`,
    "-map",
    "[v]",
  ]);
}

/** Grey frames only: a camera that sees nothing. */
export function emptyClip(seconds = 3, fps = 10): Promise<string> {
  return make(`empty-${seconds}-${fps}.mp4`, ["-f", "lavfi", "-t", String(seconds), "-i", `color=c=gray:s=640x360:r=${fps}`]);
}

/** The same person pan as an MPEG-TS stream, for serving over HTTP as a live camera. */
export async function personPanTs(seconds = 20, fps = 10): Promise<string> {
  mkdirSync(cacheDir, { recursive: true });
  const out = path.join(cacheDir, `person-pan-${seconds}-${fps}.ts`);
  if (existsSync(out)) return out;
  await run("ffmpeg", [
    "-hide_banner",
    "-loglevel",
    "error",
    "-y",
    "-loop",
    "1",
    "-t",
    String(seconds),
    "-i",
    path.join(shared, "media/person.jpg"),
    "-vf",
    `scale=720:-2,crop=640:360:'mod(t*12,80)':40,fps=${fps},setsar=1`,
    "-c:v",
    "libx264",
    "-preset",
    "ultrafast",
    "-pix_fmt",
    "yuv420p",
    "-g",
    String(fps),
    "-f",
    "mpegts",
    `${out}.${process.pid}.tmp`,
  ]);
  await run("mv", [`${out}.${process.pid}.tmp`, out]);
  return out;
}
