import { execFile } from "node:child_process";
import { existsSync, mkdirSync } from "node:fs";
import path from "node:path";
import { promisify } from "node:util";
import sharp from "sharp";
import { shared } from "./paths.js";

const run = promisify(execFile);
const cacheDir = path.join(process.env.TMPDIR ?? "/tmp", "eva-test-clips");

/** A picture moved over the clip: its file, the ffmpeg filter that cuts it out, and its size on screen. */
export interface Sprite {
  image: string;
  filter: string;
  width: number;
  height: number;
}

/** The person in ../shared/media/person.jpg (about x 190–275, y 100–370), 140 px tall on screen. */
export const PERSON: Sprite = {
  image: path.join(shared, "media/person.jpg"),
  filter: "crop=85:270:190:100,scale=-2:140",
  width: 44, // 85 × 140 / 270, rounded to even as scale=-2 does
  height: 140,
};

/**
 * A drawn stop sign (red octagon, white STOP) on a short post: YOLOX-Nano's COCO classes include "stop sign",
 * so sign sightings and sign watch are tested with the real detector before a traffic-sign model exists.
 */
export async function stopSign(size = 80): Promise<Sprite> {
  mkdirSync(cacheDir, { recursive: true });
  const image = path.join(cacheDir, `stop-sign-${size}.png`);
  if (!existsSync(image)) {
    const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="100" height="100"><polygon points="29,2 71,2 98,29 98,71 71,98 29,98 2,71 2,29" fill="#c8102e" stroke="white" stroke-width="4"/><text x="50" y="62" font-family="DejaVu Sans, sans-serif" font-weight="bold" font-size="30" fill="white" text-anchor="middle">STOP</text></svg>`;
    await sharp(Buffer.from(svg)).resize(size, size).png().toFile(`${image}.${process.pid}.tmp.png`);
    await run("mv", [`${image}.${process.pid}.tmp.png`, image]);
  }
  return { image, filter: "format=rgba", width: size, height: size };
}

/** A sprite's script: [seconds, bottom-centre x, bottom-centre y] keyframes, moved linearly between them. */
export type Path = ReadonlyArray<readonly [number, number, number]>;

/** Off-screen: a keyframe that hides the sprite. */
export const HIDDEN = -1000;

/** ffmpeg expression in t for a piecewise-linear path, holding the ends. */
function piecewise(keys: ReadonlyArray<readonly [number, number]>): string {
  let expr = String(keys.at(-1)![1]);
  for (let i = keys.length - 2; i >= 0; i--) {
    const [t0, v0] = keys[i]!;
    const [t1, v1] = keys[i + 1]!;
    const seg = t1 === t0 || v0 === HIDDEN || v1 === HIDDEN ? String(v0) : `${v0}+(${v1 - v0})*(t-${t0})/${t1 - t0}`;
    expr = `if(lt(t,${t1}),${seg},${expr})`;
  }
  return `if(lt(t,${keys[0]![0]}),${keys[0]![1]},${expr})`;
}

/**
 * A grey 640×360 clip in which copies of a sprite (the person by default) move along scripted paths (positions
 * are the bottom-centre, where the feet are: the point zones and lines test). Cached by name: name it after its
 * script.
 */
export async function spriteClip(name: string, seconds: number, paths: readonly Path[], fps = 5, sprite: Sprite = PERSON): Promise<string> {
  mkdirSync(cacheDir, { recursive: true });
  const out = path.join(cacheDir, `${name}-${fps}fps.mp4`);
  if (existsSync(out)) return out;
  const labels = paths.map((_, i) => `s${i}`);
  const graph = [`[1]${sprite.filter},split=${paths.length}${labels.map((l) => `[${l}]`).join("")}`];
  let base = "0";
  paths.forEach((p, i) => {
    const x = piecewise(p.map(([t, cx]) => [t, cx === HIDDEN ? HIDDEN : cx - sprite.width / 2] as const));
    const y = piecewise(p.map(([t, cx, fy]) => [t, cx === HIDDEN ? HIDDEN : fy - sprite.height] as const));
    const next = i === paths.length - 1 ? "v" : `b${i}`;
    graph.push(`[${base}][${labels[i]}]overlay=x='${x}':y='${y}':shortest=1[${next}]`);
    base = next;
  });
  const tmp = `${out}.${process.pid}.tmp.mp4`;
  await run("ffmpeg", [
    "-hide_banner",
    "-loglevel",
    "error",
    "-y",
    "-f",
    "lavfi",
    "-i",
    `color=c=gray:s=640x360:r=${fps}:d=${seconds}`,
    "-loop",
    "1",
    "-framerate",
    String(fps),
    "-i",
    sprite.image,
    "-filter_complex",
    graph.join(";"),
    "-map",
    "[v]",
    "-c:v",
    "libx264",
    "-preset",
    "ultrafast",
    "-pix_fmt",
    "yuv420p",
    "-g",
    String(fps * 2),
    tmp,
  ]);
  await run("mv", [tmp, out]);
  return out;
}

/**
 * Two walkers on the floor (the right half, x ≥ 320, is where the zone tests put their zone): A walks in across
 * x = 320, stays about 7 s and walks back out; B comes in from the right edge at 3 s and leaves the way it came,
 * never crossing x = 320.
 */
export function twoWalkersClip(fps: number): Promise<string> {
  return spriteClip(
    "zones-v2",
    12.5,
    [
      [
        [0, 80, 300],
        [2, 400, 300],
        [9, 400, 300],
        [10.5, 80, 300],
      ],
      [
        [0, HIDDEN, 0],
        [2.99, HIDDEN, 0],
        [3, 640, 250],
        [4, 560, 250],
        [5, 560, 250],
        [6, 700, 250],
      ],
    ],
    fps,
  );
}
