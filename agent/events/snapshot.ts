import { mkdir, rename, rm } from "node:fs/promises";
import path from "node:path";
import sharp from "sharp";
import type { Frame } from "../camera/frame.js";
import type { EvaEvent } from "../core/event.js";

type XY = readonly [number, number];

/** A camera's zones and lines, drawn under the box so a snapshot shows why the event mattered. */
export interface SnapshotScene {
  zones: ReadonlyArray<{ name: string; polygon: readonly XY[] }>;
  lines: ReadonlyArray<{ name: string; a: XY; b: XY }>;
}

interface Held {
  pixels: Uint8Array;
  width: number;
  height: number;
  /** captured since the last JPEG was written */
  dirty: boolean;
  writing: Promise<void>;
}

/**
 * Keeps a copy of each open event's best frame and writes it as a JPEG with the box drawn. Pixel buffers
 * are recycled between events, so a copy is made only when an event's best detection improves.
 */
export class SnapshotWriter {
  private readonly held = new Map<string, Held>();
  private readonly spare: Uint8Array[] = [];
  private readonly pending = new Set<Promise<void>>();
  private readonly scenes = new Map<string, SnapshotScene>();

  constructor(private dir: string) {}

  /** New events' JPEGs go to `dir` (a reload's storage.snapshots); those already named keep their place. */
  moveTo(dir: string): void {
    this.dir = dir;
  }

  /** Zones and lines to draw on this camera's snapshots. */
  setScene(camera: string, scene: SnapshotScene): void {
    this.scenes.set(camera, scene);
  }

  pathFor(ev: Pick<EvaEvent, "camera" | "id">): string {
    return path.join(this.dir, ev.camera, `${ev.id}.jpg`);
  }

  capture(eventId: string, frame: Frame): void {
    let h = this.held.get(eventId);
    if (!h || h.pixels.length !== frame.data.length) {
      const pixels = this.takeBuffer(frame.data.length);
      h = { pixels, width: frame.width, height: frame.height, dirty: false, writing: h?.writing ?? Promise.resolve() };
      this.held.set(eventId, h);
    }
    h.pixels.set(frame.data);
    h.dirty = true;
  }

  /** Writes the event's snapshot if its best frame changed since the last write; resolves to its path. */
  async write(ev: EvaEvent): Promise<string | null> {
    const h = this.held.get(ev.id);
    if (!h) return null;
    const file = this.pathFor(ev);
    if (!h.dirty) {
      await h.writing;
      return file;
    }
    h.dirty = false;
    // JPEG encoding runs in libvips' thread pool; writes of one event are chained so the newest lands last.
    const jpeg = sharp(h.pixels, { raw: { width: h.width, height: h.height, channels: 3 } })
      .composite([{ input: Buffer.from(boxOverlay(ev, h.width, h.height, this.scenes.get(ev.camera))), left: 0, top: 0 }])
      .jpeg({ quality: 85 });
    h.writing = h.writing
      .catch(() => {})
      .then(async () => {
        await mkdir(path.dirname(file), { recursive: true });
        const tmp = `${file}.tmp`;
        await jpeg.toFile(tmp);
        await rename(tmp, file); // readers never see a half-written JPEG
      });
    const done = h.writing;
    this.pending.add(done);
    try {
      await done;
    } finally {
      this.pending.delete(done);
    }
    return file;
  }

  /** Resolves when every JPEG started so far is on disk (or failed). */
  async idle(): Promise<void> {
    await Promise.allSettled([...this.pending]);
  }

  /** Forgets an ended event's frame (after its last write). */
  async release(eventId: string): Promise<void> {
    const h = this.held.get(eventId);
    if (!h) return;
    this.held.delete(eventId);
    await h.writing.catch(() => {});
    if (this.spare.length < 4) this.spare.push(h.pixels);
  }

  static async remove(file: string): Promise<void> {
    await rm(file, { force: true });
  }

  private takeBuffer(size: number): Uint8Array {
    const i = this.spare.findIndex((b) => b.length === size);
    return i >= 0 ? this.spare.splice(i, 1)[0]! : new Uint8Array(size);
  }
}

const svgText = (t: string) => t.replace(/[<>&"']/g, "");

function sceneOverlay(scene: SnapshotScene | undefined, fontSize: number): string {
  if (!scene) return "";
  const zones = scene.zones.map(
    (z) =>
      `<polygon points="${z.polygon.map((p) => p.join(",")).join(" ")}" fill="#2d8cff" fill-opacity="0.15" stroke="#2d8cff" stroke-width="2"/>` +
      `<text x="${z.polygon[0]![0] + 4}" y="${z.polygon[0]![1] + fontSize}" font-family="DejaVu Sans, sans-serif" font-size="${fontSize}" fill="#2d8cff">${svgText(z.name)}</text>`,
  );
  const lines = scene.lines.map(
    (l) =>
      `<line x1="${l.a[0]}" y1="${l.a[1]}" x2="${l.b[0]}" y2="${l.b[1]}" stroke="#ffd21f" stroke-width="3"/>` +
      `<text x="${l.b[0] + 4}" y="${l.b[1] - 4}" font-family="DejaVu Sans, sans-serif" font-size="${fontSize}" fill="#ffd21f">${svgText(l.name)}</text>`,
  );
  return [...zones, ...lines].join("\n");
}

function boxOverlay(ev: EvaEvent, width: number, height: number, scene?: SnapshotScene): string {
  const [x1, y1, x2, y2] = ev.box;
  const stroke = Math.max(2, Math.round(Math.min(width, height) / 200));
  const text = `${ev.label} ${Math.round(ev.top_score * 100)}%`.replace(/[<>&"']/g, "");
  const fontSize = Math.max(12, Math.round(height / 30));
  const ty = y1 > fontSize + 4 ? y1 - 4 : y2 + fontSize + 2;
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}">
${sceneOverlay(scene, fontSize)}
<rect x="${x1}" y="${y1}" width="${Math.max(1, x2 - x1)}" height="${Math.max(1, y2 - y1)}" fill="none" stroke="#ff2d2d" stroke-width="${stroke}"/>
<text x="${x1}" y="${ty}" font-family="DejaVu Sans, sans-serif" font-size="${fontSize}" fill="#ff2d2d" stroke="#000" stroke-width="0.5">${text}</text>
</svg>`;
}
