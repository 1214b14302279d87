import { mkdir, rename, writeFile } from "node:fs/promises";
import path from "node:path";
import sharp from "sharp";
import type { Frame } from "../camera/frame.js";

/**
 * A JPEG of the frame as it is now (an operator's "snapshot now"), written under dir/<camera>/. The pixels are
 * copied before returning, so the frame can be released at once; encoding runs in libvips' threads.
 */
export function frameJpeg(frame: Frame, dir: string): Promise<{ path: string; jpeg: Buffer }> {
  const file = path.join(dir, frame.camera, `now-${new Date(frame.time).toISOString().replace(/[:.]/g, "-")}.jpg`);
  const encoding = frameJpegBytes(frame);
  return (async () => {
    const jpeg = await encoding;
    await mkdir(path.dirname(file), { recursive: true });
    await writeFile(`${file}.tmp`, jpeg);
    await rename(`${file}.tmp`, file);
    return { path: file, jpeg };
  })();
}

/** A JPEG of the frame in memory (the console's live view); the pixels are copied before it returns. */
export function frameJpegBytes(frame: Frame, quality = 85): Promise<Buffer> {
  const pixels = Buffer.from(frame.data); // a copy: the frame's slot goes back to the pool
  return sharp(pixels, { raw: { width: frame.width, height: frame.height, channels: 3 } })
    .jpeg({ quality })
    .toBuffer();
}
