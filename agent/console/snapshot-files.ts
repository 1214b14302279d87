import { realpath, stat } from "node:fs/promises";
import path from "node:path";

// Snapshots are served from the snapshot folder and nowhere else: a request path is decoded once, must stay
// inside the folder after `..` and symbolic links are resolved, and must name a JPEG file.

export type SnapshotLookup = { file: string } | { status: 400 | 404; message: string };

/** The URL path (below /snapshots/) of a snapshot file, or null when it does not lie in the folder. */
export function snapshotUrl(root: string, file: string | null): string | null {
  if (!file) return null;
  const rel = path.relative(path.resolve(root), path.resolve(file));
  if (!rel || rel.startsWith("..") || path.isAbsolute(rel)) return null;
  return `/snapshots/${rel.split(path.sep).map(encodeURIComponent).join("/")}`;
}

/**
 * The file a `/snapshots/<rest>` request may read, or why not. `rest` is the raw (still percent-encoded) URL
 * path after the prefix.
 */
export async function resolveSnapshot(root: string, rest: string): Promise<SnapshotLookup> {
  let rel: string;
  try {
    rel = decodeURIComponent(rest);
  } catch {
    return { status: 400, message: "bad percent-encoding" };
  }
  if (rel.includes("\0") || rel.includes("\\")) return { status: 400, message: "bad snapshot path" };
  if (!/\.jpe?g$/i.test(rel)) return { status: 404, message: "snapshots are .jpg files" };
  const base = path.resolve(root);
  const wanted = path.resolve(base, rel);
  if (!inside(base, wanted)) return { status: 400, message: "outside the snapshot folder" };
  try {
    // A link inside the folder may point out of it: compare real paths too.
    const [realBase, realFile] = await Promise.all([realpath(base), realpath(wanted)]);
    if (!inside(realBase, realFile)) return { status: 400, message: "outside the snapshot folder" };
    if (!(await stat(realFile)).isFile()) return { status: 404, message: "not a file" };
    return { file: realFile };
  } catch {
    return { status: 404, message: "no such snapshot" };
  }
}

function inside(base: string, p: string): boolean {
  const rel = path.relative(base, p);
  return rel !== "" && !rel.startsWith(`..${path.sep}`) && rel !== ".." && !path.isAbsolute(rel);
}
