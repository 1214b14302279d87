import { mkdir, rename, writeFile } from "node:fs/promises";
import path from "node:path";
import sharp from "sharp";
import type { Frame } from "../camera/frame.js";

/**
 * A JPEG of the frame as it is now (an operator's "snapshot now"), written under dir/<camera>/. The pixels are
 * copied before returning, so the frame can be released at once; encoding runs in libvips' threads.
 */
export function frameJpeg(frame: Frame, dir: string): Promise<{ path: string; jpeg: Buffer }> {
  const pixels = Buffer.from(frame.data); // a copy: the frame's slot goes back to the pool
  const { width, height } = frame;
  const file = path.join(dir, frame.camera, `now-${new Date(frame.time).toISOString().replace(/[:.]/g, "-")}.jpg`);
  return (async () => {
    const jpeg = await sharp(pixels, { raw: { width, height, channels: 3 } }).jpeg({ quality: 85 }).toBuffer();
    await mkdir(path.dirname(file), { recursive: true });
    await writeFile(`${file}.tmp`, jpeg);
    await rename(`${file}.tmp`, file);
    return { path: file, jpeg };
  })();
}
