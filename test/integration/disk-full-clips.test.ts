import { execFileSync } from "node:child_process";
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, rmSync, writeSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import type { EvaEvent } from "../../agent/core/event.js";
import { EventStore } from "../../agent/events/store.js";
import { fileBroker } from "../support/broker.js";
import { personPanClip } from "../support/clips.js";
import { agentConfigText, startAgent } from "../support/in-process-agent.js";
import { MessageCollector } from "../support/mqtt.js";

// A full disk for real: a small tmpfs holds the database, the snapshots and the clips, and a filler file takes
// its last byte while events happen. Mounting needs root (CI runs the suite as root); elsewhere this is skipped.

const broker = await fileBroker();
afterAll(() => broker.stop());

function mountSmallDisk(): string | null {
  const dir = mkdtempSync(path.join(tmpdir(), "eva-small-disk-"));
  try {
    execFileSync("mount", ["-t", "tmpfs", "-o", "size=12m", "tmpfs", dir], { stdio: "ignore" });
    return dir;
  } catch {
    rmSync(dir, { recursive: true, force: true });
    return null;
  }
}

const disk = process.getuid?.() === 0 ? mountSmallDisk() : null;
afterAll(() => {
  if (!disk) return;
  // lazily: a file the stopped agent's ffmpeg had open must not keep the mount
  execFileSync("umount", ["-l", disk]);
  rmSync(disk, { recursive: true, force: true });
});

/** Writes a file until the disk has no byte left; returns its path. */
function fill(dir: string): string {
  const file = path.join(dir, "filler");
  const fd = openSync(file, "w");
  const chunk = Buffer.alloc(64 * 1024, 1);
  try {
    for (;;) writeSync(fd, chunk);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "ENOSPC") throw err;
  } finally {
    closeSync(fd);
  }
  // and the last partial block
  const fd2 = openSync(file, "a");
  try {
    for (;;) writeSync(fd2, Buffer.alloc(512, 1));
  } catch {
    // full
  } finally {
    closeSync(fd2);
  }
  return file;
}

type EventMessage = { type: string; event: EvaEvent };

describe.skipIf(!disk)("a full disk (a 12 MB tmpfs)", () => {
  it("holds snapshot and clip writes until space returns; no message names a file that is not there, no event is lost", async () => {
    const clip = await personPanClip(5, 3);
    const root = path.join(disk!, "var");
    mkdirSync(root);
    const text = agentConfigText({
      brokerUrl: broker.url,
      camera: `    source: ${clip}
    fps: 5
    loop: true
    detect: {model: coco, width: 640, height: 360, labels: [person], min_score: 0.4}
    events: {min_frames: 2, end_after_seconds: 1, update_interval_seconds: 1}
    record: {enabled: true, pre_seconds: 1, post_seconds: 1}`,
    }).replace("storage: {db: eva.db, snapshots: snapshots}", `storage: {db: ${root}/eva.db, snapshots: ${root}/snapshots, clips: ${root}/clips}`);
    const sub = await MessageCollector.subscribe(broker.url, "eva/dev-p/events");
    const agent = await startAgent(text);
    const messages = () => sub.on("eva/dev-p/events").map((m) => JSON.parse(m.payload) as EventMessage);
    let fullFrom = 0;
    let fullTo = 0;
    try {
      // A first event with its clip, on a disk with room.
      await sub.until(() => messages().some((m) => m.event.clip), 90_000, "a first clip");
      const filler = fill(disk!);
      fullFrom = Date.now();
      // An event that starts and ends while the disk is full (the clip loops every 8 s).
      await new Promise((r) => setTimeout(r, 12_000));
      rmSync(filler);
      fullTo = Date.now();
      const startedWhileFull = () => messages().filter((m) => Date.parse(m.event.start_time) > fullFrom && Date.parse(m.event.start_time) < fullTo - 2000);
      // Space is back: the held records go out, and their clips follow.
      await sub.until(() => startedWhileFull().some((m) => m.type === "end"), 60_000, "the end of an event that began on the full disk");
      await sub.until(() => startedWhileFull().some((m) => m.event.clip), 60_000, "its clip, written once space returned");
    } finally {
      await agent.stop();
      await sub.close();
    }
    const all = messages();
    expect(all.length).toBeGreaterThan(0);
    // Every snapshot and clip a message names is on disk.
    for (const m of all) {
      if (m.event.snapshot) expect(existsSync(m.event.snapshot), `${m.type} ${m.event.id} snapshot ${m.event.snapshot}`).toBe(true);
      if (m.event.clip) expect(existsSync(m.event.clip.path), `${m.type} ${m.event.id} clip`).toBe(true);
    }
    // The events of the full minutes were held, not lost, and each JPEG a stored event names is there (one may
    // have been written during the window: the recorder's ring frees a segment's room as it turns).
    const db = new EventStore(path.join(root, "eva.db"), { readonly: true });
    const stored = db.queryEvents();
    db.close();
    const during = stored.filter((e) => Date.parse(e.start_time) > fullFrom && Date.parse(e.start_time) < fullTo - 2000);
    expect(during.length).toBeGreaterThan(0);
    for (const e of during) {
      expect(all.some((m) => m.event.id === e.id && m.type === "end")).toBe(true);
    }
    expect(stored.filter((e) => e.snapshot).every((e) => existsSync(e.snapshot!))).toBe(true);
  }, 180_000);
});
