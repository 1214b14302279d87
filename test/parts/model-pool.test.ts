import pino from "pino";
import { describe, expect, it } from "vitest";
import type { LoadedConfig } from "../../agent/config/load.js";
import { ModelPool } from "../../agent/parts/model-pool.js";
import { ReloadError } from "../../agent/parts/part.js";

// The pool's bookkeeping on plain models (its logic only: the detector and classifier pools run it on real
// ONNX sessions in test/integration/reload*.test.ts and classify.test.ts).

class Model {
  closed = false;
  readonly provider = "cpu";
  constructor(
    readonly name: string,
    readonly version: number,
  ) {}
  async close(): Promise<void> {
    this.closed = true;
  }
}

const text = "models:\n  a:\n    path: a.onnx\n  b:\n    path: b.onnx\n";
const next = { file: "eva.yaml", text, config: {} } as unknown as LoadedConfig;

function pool(opens: Model[], failing = new Set<string>(), gate?: Promise<void>) {
  let version = 0;
  return new ModelPool<Model>({
    noun: "model",
    withoutIt: "its cameras stay off",
    log: pino({ level: "silent" }),
    open: async (_cfg, name) => {
      await gate;
      if (failing.has(name)) throw new Error(`${name} is broken`);
      const m = new Model(name, ++version);
      opens.push(m);
      return m;
    },
  });
}

describe("the model pool", () => {
  it("a reload with one model that does not load: every problem located, what did open is closed, nothing swapped", async () => {
    const opens: Model[] = [];
    const p = pool(opens, new Set(["b"]));
    await p.begin(next.config, "a");
    const running = p.get("a")!;
    const err = await p
      .prepare(
        next,
        new Map([
          ["a", ""],
          ["b", ""],
        ]),
        [],
      )
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ReloadError);
    expect((err as ReloadError).problems).toEqual([{ file: "eva.yaml", line: 5, col: 11, path: "models.b.path", message: "model does not load: b is broken" }]);
    expect(opens.map((m) => [m.version, m.closed])).toEqual([
      [1, false],
      [2, true],
    ]);
    expect(p.get("a")).toBe(running);
  });

  it("a swapped-out model closes only once the requests it holds are answered", async () => {
    const opens: Model[] = [];
    const p = pool(opens);
    await p.begin(next.config, "a");
    const old = p.get("a")!;
    let answer!: () => void;
    const request = p.track(old, new Promise<void>((r) => (answer = r)));
    const change = await p.prepare(next, new Map([["a", "edited"]]), []);
    await change.commit();
    expect(p.get("a")!.version).toBe(2);
    expect(p.keyOf("a")).toBe("edited");
    await new Promise((r) => setImmediate(r));
    expect(old.closed).toBe(false);
    answer();
    await request;
    await p.retired();
    expect(old.closed).toBe(true);
    await p.prepare(next, new Map(), ["a"]).then((c) => c.commit());
    await p.retired();
    expect([p.get("a"), opens[1]!.closed]).toEqual([undefined, true]);
  });

  it("a model loading at start is waited for; one that fails is a health reason and stops nothing else", async () => {
    let open!: () => void;
    const p = pool([], new Set(["b"]), new Promise<void>((r) => (open = r)));
    const loads = [p.begin(next.config, "a"), p.begin(next.config, "b")];
    expect([p.isLoading("a"), p.get("a")]).toEqual([true, undefined]);
    const waited = p.whenLoaded("a")!.then(() => p.get("a")?.name);
    open();
    await Promise.all(loads);
    expect(await waited).toBe("a");
    expect(p.isLoading("a")).toBe(false);
    expect(p.healthReasons()).toEqual(["model models.b.path: b is broken"]);
    await p.stop();
    expect(p.get("a")).toBeUndefined();
  });
});
