import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import path from "node:path";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";
import { EventStore } from "../../agent/events/store.js";
import { eva, logLines, writeTestConfig } from "../support/agent.js";
import { personPanClip } from "../support/clips.js";

const run = promisify(execFile);
const RECORDED = "2024-05-06T07:08:09.000Z";

/** The person pan with a creation_time in its container, as a dashcam or NVR export writes one. */
async function datedClip(): Promise<string> {
  const plain = await personPanClip(5, 3);
  const out = plain.replace(/\.mp4$/, "-dated.mp4");
  if (!existsSync(out)) {
    await run("ffmpeg", [
      "-hide_banner",
      "-loglevel",
      "error",
      "-y",
      "-i",
      plain,
      "-c",
      "copy",
      "-metadata",
      `creation_time=${RECORDED}`,
      `${out}.${process.pid}.tmp.mp4`,
    ]);
    await run("mv", [`${out}.${process.pid}.tmp.mp4`, out]);
  }
  return out;
}

describe("timestamps of a batch run (--exit-on-eof)", () => {
  it("a file with a creation_time is dated by it plus media time; one without by agent start plus media time; the log says which", async () => {
    const started = Date.now();
    const { file, dir } = writeTestConfig({
      brokerUrl: "mqtt://127.0.0.1:1", // no broker: events wait in the outbox, the run is about the database
      cameras: {
        dated: { source: await datedClip(), extra: "    realtime: false\n" },
        plain: { source: await personPanClip(5, 3), extra: "    realtime: false\n" },
      },
    });
    const result = await eva(["run", "--config", file, "--exit-on-eof"], { timeoutMs: 90_000 });
    expect(result.code, result.stderr.slice(-2000)).toBe(0);

    const said = logLines(result.stderr).filter((l) => l.msg.startsWith("file timestamps:"));
    expect(said.find((l) => l.camera === "dated")).toMatchObject({ msg: "file timestamps: the file's creation_time + media time", start: RECORDED });
    expect(said.find((l) => l.camera === "plain")).toMatchObject({ msg: "file timestamps: agent start + media time", basis: "agent start" });

    const store = new EventStore(path.join(dir, "eva.db"));
    const dated = store.queryEvents({ camera: "dated", sinceMs: 0 });
    const plain = store.queryEvents({ camera: "plain", sinceMs: 0 });
    store.close();
    expect(dated.length).toBeGreaterThan(0);
    expect(plain.length).toBeGreaterThan(0);
    // the person is in the clip's first 5 s: the event starts within them, counted from the recording's start
    const offset = Date.parse(dated[0]!.start_time) - Date.parse(RECORDED);
    expect(offset).toBeGreaterThanOrEqual(0);
    expect(offset).toBeLessThan(5_000);
    expect(Date.parse(plain[0]!.start_time)).toBeGreaterThanOrEqual(started);
  });
});
