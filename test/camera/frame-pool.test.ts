import { describe, expect, it } from "vitest";
import { Backoff } from "../../agent/camera/backoff.js";
import type { Frame } from "../../agent/camera/frame.js";
import { FramePool } from "../../agent/camera/frame-pool.js";

const W = 4;
const H = 2;
const SIZE = W * H * 3;
const frameBytes = (v: number) => Buffer.alloc(SIZE, v);

/** What ffmpeg's socket does: reads into the pool's slot, as much as it offers, until reading is paused. */
function reader(pool: () => FramePool) {
  let paused = false;
  let rest = Buffer.alloc(0);
  const pump = () => {
    while (!paused && rest.length) {
      const target = pool().into();
      expect(target.length).toBeGreaterThan(0);
      const n = Math.min(target.length, rest.length);
      target.set(rest.subarray(0, n));
      rest = rest.subarray(n);
      pool().filled(n);
    }
  };
  return {
    feed(chunk: Buffer) {
      rest = Buffer.concat([rest, chunk]);
      pump();
    },
    get unread() {
      return rest.length;
    },
    pause: () => {
      paused = true;
    },
    resume: () => {
      paused = false;
      pump();
    },
  };
}

function feed(pool: FramePool, chunk: Buffer): void {
  reader(() => pool).feed(chunk);
}

describe("frame pool", () => {
  it("reassembles frames from arbitrary chunking, in shared memory", () => {
    const got: number[] = [];
    const pool = new FramePool("c", W, H, (f) => {
      got.push(f.data[0]!, f.data[SIZE - 1]!);
      expect(f.data.buffer).toBeInstanceOf(SharedArrayBuffer);
      f.release();
    });
    const stream = Buffer.concat([frameBytes(1), frameBytes(2), frameBytes(3)]);
    for (let i = 0; i < stream.length; i += 5) feed(pool, stream.subarray(i, i + 5));
    expect(got).toEqual([1, 1, 2, 2, 3, 3]);
    expect(pool.delivered).toBe(3);
    expect(pool.skipped).toBe(0);
  });

  it("while the consumer is busy, keeps only the newest frame and counts the skipped ones", () => {
    const held: Frame[] = [];
    const pool = new FramePool("c", W, H, (f) => held.push(f));
    feed(pool, frameBytes(1)); // delivered, held
    feed(pool, frameBytes(2)); // ready
    feed(pool, frameBytes(3)); // replaces 2
    feed(pool, frameBytes(4)); // replaces 3
    expect(held.map((f) => f.data[0])).toEqual([1]);
    expect(held[0]!.data[0]).toBe(1); // the held frame was never overwritten
    held[0]!.release();
    expect(held.map((f) => f.data[0])).toEqual([1, 4]);
    expect(held[1]!.seq).toBe(3);
    expect(pool.skipped).toBe(2);
  });

  it("drops a partial frame when ffmpeg restarts", () => {
    const got: number[] = [];
    const pool = new FramePool("c", W, H, (f) => {
      got.push(f.data[0]!);
      f.release();
    });
    feed(pool, frameBytes(9).subarray(0, 10));
    pool.resetPartial();
    feed(pool, frameBytes(5));
    expect(got).toEqual([5]);
  });
});

describe("backoff", () => {
  it("doubles from 0.5 s to a 3 s cap, and starts over as soon as a run delivered frames (a flapping source too)", () => {
    const b = new Backoff();
    expect([0, 0, 0, 0, 0, 0].map(() => b.next(0))).toEqual([500, 1000, 2000, 3000, 3000, 3000]);
    // drops a few seconds apart, each after frames flowed: never stuck at the cap
    for (let i = 0; i < 5; i++) expect(b.next(3000)).toBe(500);
    expect(b.next(0)).toBe(1000);
  });

  it("refused credentials wait 15 s, doubling to 5 min, apart from the link's pace; frames start both over", () => {
    const b = new Backoff();
    expect([0, 0, 0, 0, 0, 0, 0, 0].map(() => b.next(0, true))).toEqual([15_000, 30_000, 60_000, 120_000, 240_000, 300_000, 300_000, 300_000]);
    expect(b.next(0)).toBe(500);
    expect(b.next(2000, true)).toBe(15_000);
  });
});

describe("frame pool with backpressure (files read as fast as possible)", () => {
  it("hands on every frame, pausing the source while one waits, and dates frames by their number", () => {
    const held: Frame[] = [];
    const seen: number[] = [];
    const times: number[] = [];
    const calls: string[] = [];
    const take = (f: Frame) => {
      held.push(f);
      seen.push(f.data[0]!);
      times.push(f.time);
    };
    const r = reader(() => pool);
    const pool = new FramePool(
      "c",
      W,
      H,
      take,
      { backpressure: true, pause: () => (calls.push("pause"), r.pause()), resume: () => (calls.push("resume"), r.resume()) },
      (seq) => 1000 + seq * 200,
    );
    // five frames at once: the first is taken, the second waits, the rest stay unread in the pipe
    r.feed(Buffer.concat([1, 2, 3, 4, 5].map(frameBytes)));
    expect(seen).toEqual([1]);
    expect(calls).toEqual(["pause"]);
    expect(pool.waiting).toBe(true);
    expect(r.unread).toBe(3 * SIZE);
    expect(pool.drained).toBe(false);
    for (let i = 0; i < 4; i++) held[i]!.release();
    expect(seen).toEqual([1, 2, 3, 4, 5]);
    expect(times).toEqual([1000, 1200, 1400, 1600, 1800]);
    expect(pool.skipped).toBe(0);
    expect(calls.at(-1)).toBe("resume");
    expect(r.unread).toBe(0);
    held[4]!.release();
    expect(pool.drained).toBe(true);
  });
});
