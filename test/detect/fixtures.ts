import { execFileSync } from "node:child_process";
import path from "node:path";
import sharp from "sharp";
import { repoRoot, shared } from "../support/paths.js";

export { repoRoot, shared };
export const sharedModel = (file: string) => path.join(shared, "models", file);
export const sharedMedia = (file: string) => path.join(shared, "media", file);

/** Writes the tiny uint8-NHWC contract model (see make-nhwc-model.py) into `dir` and returns its path. */
export function makeNhwcModel(dir: string): string {
  const file = path.join(dir, "nhwc.onnx");
  execFileSync("/usr/bin/python3", [path.join(repoRoot, "test/detect/make-nhwc-model.py"), file], { stdio: "pipe" });
  return file;
}

/** A JPEG decoded to packed RGB24 inside a SharedArrayBuffer, as the camera stage hands frames on. */
export async function sharedRgb(file: string): Promise<{ data: Uint8Array; width: number; height: number }> {
  const { data, info } = await sharp(file).removeAlpha().raw().toBuffer({ resolveWithObject: true });
  const view = new Uint8Array(new SharedArrayBuffer(data.length));
  view.set(data);
  return { data: view, width: info.width, height: info.height };
}
