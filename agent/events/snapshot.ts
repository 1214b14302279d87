import { mkdir, rename, rm, writeFile } from "node:fs/promises";
import path from "node:path";
import sharp from "sharp";
import type { Frame } from "../camera/frame.js";
import { packYuv420, yuv420At, yuv420Bytes, yuv420ToRgb } from "../core/pixels.js";
import type { EvaEvent } from "../core/event.js";

type XY = readonly [number, number];

/** A camera's zones and lines, drawn under the box so a snapshot shows why the event mattered. */
export interface SnapshotScene {
  zones: ReadonlyArray<{ name: string; polygon: readonly XY[] }>;
  lines: ReadonlyArray<{ name: string; a: XY; b: XY }>;
}

interface Held {
  /** the best frame's pixels: packed RGB24, or a YUV camera's contiguous yuv420p (converted when written) */
  pixels: Uint8Array;
  yuv: boolean;
  width: number;
  height: number;
  /** captured since the last JPEG was written */
  dirty: boolean;
  writing: Promise<void>;
  /** the last write failed (disk full): the frame is kept and written again */
  failed: { ev: EvaEvent; at: number } | null;
  /** a JPEG of this record is on disk */
  onDisk: boolean;
  /** the record has ended: forget the frame once it is written or given up */
  released: boolean;
}

/** Frames whose JPEG could not be written are kept up to this many bytes (a minute of a busy site at 640×360). */
const MAX_HELD_BYTES = 64 * 1024 * 1024;
/** The probe a held JPEG waits on: about the size of one. */
const PROBE_BYTES = 64 * 1024;

async function canWrite(dir: string): Promise<boolean> {
  const probe = path.join(dir, `.space-probe-${process.pid}`);
  try {
    await mkdir(dir, { recursive: true });
    await writeFile(probe, Buffer.alloc(PROBE_BYTES));
    return true;
  } catch {
    return false;
  } finally {
    await rm(probe, { force: true }).catch(() => {});
  }
}

/**
 * Keeps a copy of each open event's best frame and writes it as a JPEG with the box drawn. Pixel buffers
 * are recycled between events, so a copy is made only when an event's best detection improves. A JPEG that
 * cannot be written (disk full) keeps its frame and is written again every few seconds, up to MAX_HELD_BYTES;
 * one given up (over the bound, or at stop) with no JPEG on disk is reported to `onLost`, so its record can say
 * it has none.
 */
export class SnapshotWriter {
  private readonly held = new Map<string, Held>();
  private readonly spare: Uint8Array[] = [];
  private readonly pending = new Set<Promise<void>>();
  private readonly scenes = new Map<string, SnapshotScene>();
  /** records whose snapshot was given up without a JPEG on disk */
  private readonly lostIds = new Set<string>();
  private retrying: Promise<void> | null = null;

  constructor(
    private dir: string,
    /** a record's promised snapshot will never be written: its record must no longer name the file */
    private readonly onLost: (id: string) => void = () => {},
  ) {}

  /** The snapshot of this record was given up: no JPEG is on disk for it. */
  lost(id: string): boolean {
    return this.lostIds.has(id);
  }

  /** JPEGs waiting to be written again */
  get heldCount(): number {
    let n = 0;
    for (const h of this.held.values()) if (h.failed) n++;
    return n;
  }

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

  /** Keeps a copy of the frame as the event's best; a YUV frame is kept as YUV (half the bytes, no conversion). */
  capture(eventId: string, frame: Frame): void {
    let h = this.held.get(eventId);
    const yuv = frame.yuv ?? null;
    const bytes = yuv ? yuv420Bytes(frame.width, frame.height) : frame.width * frame.height * 3;
    if (!h || h.pixels.length !== bytes || h.yuv !== !!yuv) {
      const pixels = this.takeBuffer(bytes);
      h = {
        pixels,
        yuv: !!yuv,
        width: frame.width,
        height: frame.height,
        dirty: false,
        writing: h?.writing ?? Promise.resolve(),
        failed: h?.failed ?? null,
        onDisk: h?.onDisk ?? false,
        released: false,
      };
      this.held.set(eventId, h);
    }
    if (yuv) packYuv420(yuv, h.pixels);
    else h.pixels.set(frame.data.subarray(0, bytes));
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
    const jpeg = sharp(h.yuv ? yuvToRgbBuffer(h.pixels, h.width, h.height) : h.pixels, { raw: { width: h.width, height: h.height, channels: 3 } })
      .composite([{ input: Buffer.from(boxOverlay(ev, h.width, h.height, this.scenes.get(ev.camera))), left: 0, top: 0 }])
      .jpeg({ quality: 85 });
    const tmp = `${file}.tmp`;
    h.writing = h.writing
      .catch(() => {})
      .then(async () => {
        await mkdir(path.dirname(file), { recursive: true });
        await jpeg.toFile(tmp);
        await rename(tmp, file); // readers never see a half-written JPEG
      })
      .then(
        () => {
          h.failed = null;
          h.onDisk = true;
          this.lostIds.delete(ev.id);
        },
        async (err: unknown) => {
          // Kept for the next try; the half-written file goes (it would hold what space is left).
          h.failed = { ev: { ...ev }, at: Date.now() };
          h.dirty = true;
          await rm(tmp, { force: true }).catch(() => {});
          this.bound();
          throw err;
        },
      );
    const done = h.writing;
    this.pending.add(done);
    try {
      await done;
    } finally {
      this.pending.delete(done);
      if (h.released && !h.failed) this.forget(ev.id, h);
    }
    return file;
  }

  /**
   * Writes again the JPEGs that failed (disk full), once a small probe file can be written to the folder (so a
   * still-full disk costs no JPEG encoding); resolves to how many are still held.
   */
  async retryHeld(): Promise<number> {
    if (!this.retrying && this.heldCount) {
      this.retrying = (async () => {
        if (!(await canWrite(this.dir))) return;
        const due = [...this.held.values()].filter((h) => h.failed);
        await Promise.allSettled(due.map((h) => this.write(h.failed!.ev)));
      })().finally(() => {
        this.retrying = null;
      });
    }
    await this.retrying;
    return this.heldCount;
  }

  /** Gives up every JPEG still waiting (the agent stops): their records are told they have none. */
  giveUpHeld(): void {
    for (const [id, h] of [...this.held]) if (h.failed) this.giveUp(id, h);
  }

  /** Over the bound, the oldest held JPEGs go first. */
  private bound(): void {
    const failed = [...this.held].filter(([, h]) => h.failed).sort((a, b) => a[1].failed!.at - b[1].failed!.at);
    let bytes = failed.reduce((t, [, h]) => t + h.pixels.length, 0);
    for (const [id, h] of failed) {
      if (bytes <= MAX_HELD_BYTES) break;
      bytes -= h.pixels.length;
      this.giveUp(id, h);
    }
  }

  private giveUp(id: string, h: Held): void {
    this.held.delete(id);
    if (h.onDisk) return;
    this.lostIds.add(id);
    // Only the records still being written need asking; a few thousand ids are far more than that.
    if (this.lostIds.size > 10_000) this.lostIds.delete(this.lostIds.values().next().value!);
    this.onLost(id);
  }

  private forget(id: string, h: Held): void {
    if (this.held.get(id) !== h) return;
    this.held.delete(id);
    if (this.spare.length < 4) this.spare.push(h.pixels);
  }

  /** Resolves when every JPEG started so far is on disk (or failed). */
  async idle(): Promise<void> {
    await Promise.allSettled([...this.pending]);
  }

  /** Forgets an ended event's frame after its last write; one still to be written again stays until it is. */
  async release(eventId: string): Promise<void> {
    const h = this.held.get(eventId);
    if (!h) return;
    h.released = true;
    await h.writing.catch(() => {});
    if (!h.failed) this.forget(eventId, h);
  }

  static async remove(file: string): Promise<void> {
    await rm(file, { force: true });
  }

  private takeBuffer(size: number): Uint8Array {
    const i = this.spare.findIndex((b) => b.length === size);
    return i >= 0 ? this.spare.splice(i, 1)[0]! : new Uint8Array(size);
  }
}

/** A held YUV frame as RGB for the encoder: a new buffer, since libvips reads it while the next frame comes. */
function yuvToRgbBuffer(pixels: Uint8Array, width: number, height: number): Buffer {
  const rgb = Buffer.allocUnsafe(width * height * 3);
  yuv420ToRgb(yuv420At(pixels.buffer, pixels.byteOffset, width, height), rgb);
  return rgb;
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
