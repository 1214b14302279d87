import { describe, expect, it } from "vitest";
import { editShapes } from "../../agent/console/shape-edit.js";

const frame = { width: 640, height: 360 };

const text = `# pole 17, north entrance
device: {id: pole-17}   # unique per broker
cameras:
  entrance:
    source: rtsp://cam/stream2
    detect: {model: coco}
    zones:
      door:   # the doorway
        points:
          - [10, 20]   # top left
          - [200, 20]
          - [200, 300]
        labels: [person]
      yard:
        points: [[0.5, 0.5], [0.9, 0.5], [0.9, 0.9]]   # fractions of the frame
    lines:
      gate: {points: [[320, 0], [320, 360]], hysteresis_px: 8}  # counting line
    masks:
      - [[600, 0], [640, 0], [640, 40]]
`;

describe("editShapes", () => {
  it("changes only the moved numbers: comments, flow style and spacing stay", () => {
    const out = editShapes(
      text,
      "entrance",
      {
        lines: {
          gate: [
            [320, 0],
            [300, 340],
          ],
        },
      },
      frame,
    );
    expect(out).toEqual({ text: text.replace("[[320, 0], [320, 360]]", "[[320, 0], [300, 340]]") });
  });

  it("keeps a block list and its comments when the number of points is the same", () => {
    const out = editShapes(
      text,
      "entrance",
      {
        zones: {
          door: [
            [12.4, 20],
            [200, 20],
            [210, 299.6],
          ],
        },
      },
      frame,
    );
    expect(out).toEqual({ text: text.replace("- [10, 20]   # top left", "- [12, 20]   # top left").replace("- [200, 300]", "- [210, 300]") });
  });

  it("writes a corner added to a block list as one more line at the same indent", () => {
    const out = editShapes(
      text,
      "entrance",
      {
        zones: {
          door: [
            [10, 20],
            [200, 20],
            [200, 300],
            [10, 300],
          ],
        },
      },
      frame,
    ) as { text: string };
    expect(out.text).toBe(
      text.replace(
        "          - [10, 20]   # top left\n          - [200, 20]\n          - [200, 300]\n",
        "          - [10, 20]\n          - [200, 20]\n          - [200, 300]\n          - [10, 300]\n",
      ),
    );
  });

  it("keeps fractions as fractions, and a flow list flow when corners are removed or added", () => {
    const out = editShapes(
      text,
      "entrance",
      {
        zones: {
          yard: [
            [320, 180],
            [576, 180],
            [576, 324],
            [320, 324],
          ],
        },
      },
      frame,
    ) as { text: string };
    expect(out.text).toContain("points: [[0.5, 0.5], [0.9, 0.5], [0.9, 0.9], [0.5, 0.9]]   # fractions of the frame");
  });

  it("edits masks by their index", () => {
    const out = editShapes(
      text,
      "entrance",
      {
        masks: {
          "0": [
            [590, 0],
            [640, 0],
            [640, 40],
          ],
        },
      },
      frame,
    ) as { text: string };
    expect(out.text).toContain("- [[590, 0], [640, 0], [640, 40]]");
  });

  it("masks added and deleted: the camera's list is written anew, in place, the rest of the file as it was", () => {
    const square: Array<[number, number]> = [
      [0, 300],
      [100, 300],
      [100, 360],
      [0, 360],
    ];
    const added = editShapes(
      text,
      "entrance",
      {
        maskList: [
          [
            [600, 0],
            [640, 0],
            [640, 40],
          ],
          square,
        ],
      },
      frame,
    ) as { text: string };
    expect(added.text).toBe(
      text.replace(
        "      - [[600, 0], [640, 0], [640, 40]]\n",
        "      - [[600, 0], [640, 0], [640, 40]]\n      - [[0, 300], [100, 300], [100, 360], [0, 360]]\n",
      ),
    );
    const none = editShapes(added.text, "entrance", { maskList: [] }, frame) as { text: string };
    expect(none.text).toBe(text.replace("    masks:\n      - [[600, 0], [640, 0], [640, 40]]\n", "    masks: []\n"));
    // a camera without masks gets the key
    const first = editShapes(none.text.replace("    masks: []\n", ""), "entrance", { maskList: [square] }, frame) as { text: string };
    expect(first.text).toBe(text.replace("      - [[600, 0], [640, 0], [640, 40]]\n", "      - [[0, 300], [100, 300], [100, 360], [0, 360]]\n"));
    expect(editShapes(text, "entrance", { maskList: [[[1, 2, 3]]] as never }, frame)).toEqual({ error: "masks: a list of [x, y] point lists" });
  });

  it("adds a new zone or line at the end of the camera's list, or as a new key, in the list's own style", () => {
    const added = editShapes(
      text,
      "entrance",
      {
        added: {
          zones: {
            bench: [
              [10, 10],
              [50, 10],
              [50.4, 50],
            ],
          },
        },
      },
      frame,
    ) as { text: string };
    expect(added.text).toBe(text.replace("fractions of the frame\n", "fractions of the frame\n      bench: {points: [[10, 10], [50, 10], [50, 50]]}\n"));
    const flow = "cameras:\n  a:\n    source: x\n    lines: {gate: {points: [[1, 2], [3, 4]]}}   # one\n";
    expect(
      editShapes(
        flow,
        "a",
        {
          added: {
            lines: {
              exit: [
                [5, 6],
                [7, 8],
              ],
            },
          },
        },
        frame,
      ),
    ).toEqual({
      text: "cameras:\n  a:\n    source: x\n    lines: {gate: {points: [[1, 2], [3, 4]]}, exit: {points: [[5, 6], [7, 8]]}}   # one\n",
    });
    const none = "cameras:\n  a:\n    source: x   # the camera\n  b:\n    source: y\n";
    expect(
      editShapes(
        none,
        "a",
        {
          added: {
            zones: {
              door: [
                [1, 1],
                [9, 1],
                [9, 9],
              ],
            },
          },
        },
        frame,
      ),
    ).toEqual({
      text: "cameras:\n  a:\n    source: x   # the camera\n    zones:\n      door: {points: [[1, 1], [9, 1], [9, 9]]}\n  b:\n    source: y\n",
    });
    expect(
      editShapes(
        text,
        "entrance",
        {
          added: {
            lines: {
              gate: [
                [1, 1],
                [2, 2],
              ],
            },
          },
        },
        frame,
      ),
    ).toEqual({ error: "camera 'entrance' already has a line 'gate'" });
    expect(
      editShapes(
        text,
        "entrance",
        {
          added: {
            lines: {
              "a: b": [
                [1, 1],
                [2, 2],
              ],
            },
          },
        },
        frame,
      ),
    ).toEqual({ error: "new line 'a: b': use letters, digits, '_' or '-'" });
  });

  it("deletes a zone or line with its lines in the file; the last one leaves an empty mapping", () => {
    const out = editShapes(text, "entrance", { removed: { zones: ["door"] } }, frame) as { text: string };
    expect(out.text).toBe(
      text.replace(
        "      door:   # the doorway\n        points:\n          - [10, 20]   # top left\n          - [200, 20]\n          - [200, 300]\n        labels: [person]\n",
        "",
      ),
    );
    const last = editShapes(text, "entrance", { removed: { lines: ["gate"] } }, frame) as { text: string };
    expect(last.text).toBe(text.replace("lines:\n      gate: {points: [[320, 0], [320, 360]], hysteresis_px: 8}  # counting line", "lines: {}"));
    const flow = "cameras:\n  a:\n    lines: {gate: {points: [[1, 2], [3, 4]]}, exit: {points: [[5, 6], [7, 8]]}, side: {points: [[0, 0], [9, 9]]}}\n";
    expect(editShapes(flow, "a", { removed: { lines: ["exit"] } }, frame)).toEqual({ text: flow.replace("exit: {points: [[5, 6], [7, 8]]}, ", "") });
    expect(editShapes(flow, "a", { removed: { lines: ["side"] } }, frame)).toEqual({ text: flow.replace(", side: {points: [[0, 0], [9, 9]]}", "") });
    expect(editShapes(text, "entrance", { removed: { zones: ["nope"] } }, frame)).toEqual({ error: "camera 'entrance' has no zone 'nope' in the file" });
    expect(
      editShapes(
        text,
        "entrance",
        {
          zones: {
            door: [
              [1, 1],
              [5, 1],
              [5, 5],
            ],
          },
          removed: { zones: ["door"] },
        },
        frame,
      ),
    ).toEqual({ error: "a shape is both changed and deleted" });
    // the last line replaced by a new one in one save
    const swapped = editShapes(
      text,
      "entrance",
      {
        added: {
          lines: {
            exit: [
              [1, 1],
              [9, 9],
            ],
          },
        },
        removed: { lines: ["gate"] },
      },
      frame,
    ) as { text: string };
    expect(swapped.text).toBe(
      text.replace("      gate: {points: [[320, 0], [320, 360]], hysteresis_px: 8}  # counting line\n", "      exit: {points: [[1, 1], [9, 9]]}\n"),
    );
  });

  it("says what is wrong instead of writing anything odd", () => {
    expect(
      editShapes(
        text,
        "entrance",
        {
          lines: {
            nope: [
              [0, 0],
              [1, 1],
            ],
          },
        },
        frame,
      ),
    ).toEqual({ error: "camera 'entrance' has no line 'nope' in the file" });
    expect(
      editShapes(
        text,
        "ghost",
        {
          zones: {
            door: [
              [0, 0],
              [1, 1],
              [2, 0],
            ],
          },
        },
        frame,
      ),
    ).toEqual({ error: "camera 'ghost' has no zone 'door' in the file" });
    expect(editShapes(text, "entrance", { lines: { gate: [[0, "x"]] as never } }, frame)).toEqual({ error: "line 'gate': points must be [x, y] number pairs" });
    expect(editShapes("cameras: {a: [", "a", {}, frame)).toMatchObject({ error: expect.stringContaining("does not parse") });
    const aliased = "p: &p [[1, 2], [3, 4]]\ncameras:\n  a:\n    lines:\n      l: {points: *p}\n";
    expect(
      editShapes(
        aliased,
        "a",
        {
          lines: {
            l: [
              [5, 6],
              [7, 8],
            ],
          },
        },
        frame,
      ),
    ).toMatchObject({ error: expect.stringContaining("edit it by hand") });
  });
});
