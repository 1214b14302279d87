import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import sharp from "sharp";
import { afterEach, describe, expect, it } from "vitest";
import type { EvaEvent } from "../../agent/core/event.js";
import { SnapshotWriter } from "../../agent/events/snapshot.js";

let dir = "";
afterEach(() => rmSync(dir, { recursive: true, force: true }));

describe("snapshots", () => {
  it("draw the camera's zones and lines as well as the box", async () => {
    dir = mkdtempSync(path.join(tmpdir(), "eva-snap-"));
    const w = new SnapshotWriter(dir);
    w.setScene("gate", {
      zones: [
        {
          name: "lobby",
          polygon: [
            [20, 20],
            [120, 20],
            [120, 120],
            [20, 120],
          ],
        },
      ],
      lines: [{ name: "door", a: [200, 0], b: [200, 180] }],
    });
    const data = new Uint8Array(320 * 180 * 3).fill(128);
    w.capture("e1", { camera: "gate", seq: 0, time: 0, width: 320, height: 180, data, release() {} });
    const ev: EvaEvent = {
      id: "e1",
      device: "d",
      camera: "gate",
      label: "person",
      start_time: new Date(0).toISOString(),
      end_time: null,
      top_score: 0.9,
      box: [250, 40, 290, 160],
      snapshot: null,
    };
    const file = await w.write(ev);
    const { data: px, info } = await sharp(file!).raw().toBuffer({ resolveWithObject: true });
    const at = (x: number, y: number) => [...px.subarray((y * info.width + x) * info.channels, (y * info.width + x) * info.channels + 3)];
    const [r, , b] = at(70, 70); // inside the zone: tinted blue
    expect(b - r).toBeGreaterThan(20);
    const [lr, lg, lb] = at(200, 90); // on the line: yellow
    expect(lr + lg - 2 * lb).toBeGreaterThan(100);
    const [gr, gg, gb] = at(160, 90); // elsewhere: still grey
    expect(Math.max(Math.abs(gr - 128), Math.abs(gg - 128), Math.abs(gb - 128))).toBeLessThan(8);
  });
});

describe("snapshots that cannot be written", () => {
  const ev = (id: string): EvaEvent => ({
    id,
    device: "d",
    camera: "gate",
    label: "person",
    start_time: new Date(0).toISOString(),
    end_time: new Date(1000).toISOString(),
    top_score: 0.9,
    box: [10, 10, 50, 50],
    snapshot: null,
  });
  const frame = () => ({ camera: "gate", seq: 0, time: 0, width: 64, height: 36, data: new Uint8Array(64 * 36 * 3).fill(90), release() {} });

  it("keep their frame, are written once the folder takes files again, and are reported lost when given up", async () => {
    dir = mkdtempSync(path.join(tmpdir(), "eva-snap-"));
    // A file where the folder should be: every write fails (ENOTDIR), as on a full disk, even for root.
    const blocked = path.join(dir, "snaps");
    writeFileSync(blocked, "not a folder");
    const lost: string[] = [];
    const w = new SnapshotWriter(blocked, (id) => lost.push(id));
    for (const id of ["a", "b"]) {
      w.capture(id, frame());
      await expect(w.write(ev(id))).rejects.toThrow();
      await w.release(id); // ended: still kept, to be written later
    }
    expect(w.heldCount).toBe(2);
    expect(await w.retryHeld()).toBe(2); // still blocked: kept, nothing encoded
    rmSync(blocked);
    expect(await w.retryHeld()).toBe(0);
    expect(existsSync(path.join(blocked, "gate", "a.jpg"))).toBe(true);
    expect(existsSync(path.join(blocked, "gate", "b.jpg"))).toBe(true);
    expect(lost).toEqual([]);

    // Blocked again, and the agent stops: the one never written is given up and reported; one on disk is not.
    rmSync(blocked, { recursive: true });
    writeFileSync(blocked, "not a folder");
    w.capture("c", frame());
    await expect(w.write(ev("c"))).rejects.toThrow();
    w.giveUpHeld();
    expect(lost).toEqual(["c"]);
    expect(w.lost("c")).toBe(true);
    expect(w.lost("a")).toBe(false);
    expect(w.heldCount).toBe(0);
  });
});
