import { describe, expect, it } from "vitest";
import { commitAll, prepareAll, ReloadError, type PreparedChange } from "../../agent/parts/part.js";

// The all-or-nothing rule on plain parts: no agent, no ffmpeg; each fake part records what happened to it.

function fakePart(name: string, log: string[], fails = false) {
  return async (): Promise<PreparedChange> => {
    log.push(`prepare ${name}`);
    if (fails) throw new ReloadError([{ file: "eva.yaml", line: 3, col: 5, path: `${name}.key`, message: `${name} cannot` }]);
    return {
      release: async () => void log.push(`release ${name}`),
      commit: async () => void log.push(`commit ${name}`),
      abort: async () => void log.push(`abort ${name}`),
    };
  };
}

describe("prepare every part, then commit all or abort all", () => {
  it("one failing part: every other part is aborted, nothing is released or committed, and every problem is listed", async () => {
    const log: string[] = [];
    const err = await prepareAll([fakePart("pool", log), fakePart("uplink", log, true), fakePart("store", log), fakePart("health", log, true)]).catch(
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(ReloadError);
    expect((err as ReloadError).problems.map((p) => p.path)).toEqual(["uplink.key", "health.key"]);
    expect(log.filter((l) => !l.startsWith("prepare")).sort()).toEqual(["abort pool", "abort store"]);
  });

  it("an unexpected exception in prepare is a problem too, not a crash", async () => {
    const log: string[] = [];
    const boom = async (): Promise<PreparedChange> => {
      throw new Error("disk on fire");
    };
    const err = (await prepareAll([fakePart("pool", log), boom]).catch((e: unknown) => e)) as ReloadError;
    expect(err.problems[0]!.message).toBe("disk on fire");
    expect(log).toContain("abort pool");
  });

  it("all prepared: users release before what they use, then commits run in dependency order", async () => {
    const log: string[] = [];
    const changes = await prepareAll([fakePart("pool", log), fakePart("store", log), fakePart("uplink", log), fakePart("cameras", log)]);
    log.length = 0;
    await commitAll(changes);
    expect(log).toEqual([
      "release cameras",
      "release uplink",
      "release store",
      "release pool",
      "commit pool",
      "commit store",
      "commit uplink",
      "commit cameras",
    ]);
  });
});
