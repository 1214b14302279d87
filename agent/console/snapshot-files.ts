import { realpath, stat } from "node:fs/promises";
import path from "node:path";

// Snapshots are served from the snapshot folder and clips from the clip folder, nowhere else: a request path is
// decoded once, must stay inside the folder after `..` and symbolic links are resolved, and must name a file of
// the kind served there (JPEG, MP4: never a clip folder's recording segments).

export type SnapshotLookup = { file: string; bytes: number } | { status: 400 | 404; message: string };

interface Served {
  prefix: string;
  what: string;
  ext: RegExp;
}

const SNAPSHOTS: Served = { prefix: "/snapshots/", what: "snapshot", ext: /\.jpe?g$/i };
const CLIPS: Served = { prefix: "/clips/", what: "clip", ext: /\.mp4$/i };

/** The URL path (below /snapshots/) of a snapshot file, or null when it does not lie in the folder. */
export const snapshotUrl = (root: string, file: string | null) => servedUrl(SNAPSHOTS, root, file);

/** The URL path (below /clips/) of a clip file, or null when it does not lie in the folder. */
export const clipUrl = (root: string, file: string | null) => servedUrl(CLIPS, root, file);

/**
 * The file a `/snapshots/<rest>` request may read, or why not. `rest` is the raw (still percent-encoded) URL
 * path after the prefix.
 */
export const resolveSnapshot = (root: string, rest: string) => resolveServed(SNAPSHOTS, root, rest);

/** The file a `/clips/<rest>` request may read, or why not. */
export const resolveClip = (root: string, rest: string) => resolveServed(CLIPS, root, rest);

function servedUrl(kind: Served, root: string, file: string | null): string | null {
  if (!file) return null;
  const rel = path.relative(path.resolve(root), path.resolve(file));
  if (!rel || rel.startsWith("..") || path.isAbsolute(rel)) return null;
  return `${kind.prefix}${rel.split(path.sep).map(encodeURIComponent).join("/")}`;
}

async function resolveServed(kind: Served, root: string, rest: string): Promise<SnapshotLookup> {
  let rel: string;
  try {
    rel = decodeURIComponent(rest);
  } catch {
    return { status: 400, message: "bad percent-encoding" };
  }
  if (rel.includes("\0") || rel.includes("\\")) return { status: 400, message: `bad ${kind.what} path` };
  if (!kind.ext.test(rel)) return { status: 404, message: kind === CLIPS ? "clips are .mp4 files" : "snapshots are .jpg files" };
  const base = path.resolve(root);
  const wanted = path.resolve(base, rel);
  if (!inside(base, wanted)) return { status: 400, message: `outside the ${kind.what} folder` };
  try {
    // A link inside the folder may point out of it: compare real paths too.
    const [realBase, realFile] = await Promise.all([realpath(base), realpath(wanted)]);
    if (!inside(realBase, realFile)) return { status: 400, message: `outside the ${kind.what} folder` };
    const st = await stat(realFile);
    if (!st.isFile()) return { status: 404, message: "not a file" };
    return { file: realFile, bytes: st.size };
  } catch {
    return { status: 404, message: `no such ${kind.what}` };
  }
}

function inside(base: string, p: string): boolean {
  const rel = path.relative(base, p);
  return rel !== "" && !rel.startsWith(`..${path.sep}`) && rel !== ".." && !path.isAbsolute(rel);
}
