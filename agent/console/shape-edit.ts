import { areFractions } from "../core/geometry.js";
import { isMap, isScalar, isSeq, parseDocument, type Document, type Node, type YAMLMap, type YAMLSeq } from "yaml";

// The console's editor saves zone, line and mask points into the installer's YAML file. The yaml package's
// Document API finds each points node and its source range; only those characters are replaced. Re-printing
// the whole document (doc.toString()) would move comments and re-pad every flow collection (`{id: x}` becomes
// `{ id: x }`), turning a one-number edit into a diff of the whole file.

export type XY = [number, number];

/** New points per shape, in detect-frame pixels. Masks are keyed by their index in the camera's list. */
export interface ShapeEdits {
  zones?: Record<string, XY[]>;
  lines?: Record<string, XY[]>;
  masks?: Record<string, XY[]>;
  /** new zones and lines drawn in the console, by name */
  added?: { zones?: Record<string, XY[]>; lines?: Record<string, XY[]> };
  /** zones and lines deleted in the console */
  removed?: { zones?: string[]; lines?: string[] };
  /** the camera's whole new list of masks, when masks were added or deleted (they have no names to key by) */
  maskList?: XY[][];
}

const NAME = /^[A-Za-z0-9_-]+$/;

export type ShapeEditResult = { text: string } | { error: string };

interface Splice {
  start: number;
  end: number;
  text: string;
}

/**
 * The config text with a camera's edited shapes written in. A shape written in 0–1 fractions of the frame stays
 * in fractions (4 decimals); one in pixels stays in whole pixels. Points keep their style (flow `[[x, y], …]` or
 * a block list) and, when their number is unchanged, every comment around them.
 */
export function editShapes(text: string, camera: string, edits: ShapeEdits, frame: { width: number; height: number }): ShapeEditResult {
  const doc = parseDocument(text, { keepSourceTokens: false });
  if (doc.errors.length) return { error: `the config file does not parse: ${doc.errors[0]!.message.split("\n")[0]}` };
  const splices: Splice[] = [];
  const kinds = [
    ["zones", "zone"],
    ["lines", "line"],
    ["masks", "mask"],
  ] as const;
  for (const [key, kind] of kinds) {
    for (const [name, points] of Object.entries(edits[key] ?? {})) {
      if (!Array.isArray(points) || !points.every(isXY)) return { error: `${kind} '${name}': points must be [x, y] number pairs` };
      const path = key === "masks" ? ["cameras", camera, "masks", Number(name)] : ["cameras", camera, key, name, "points"];
      let node = doc.getIn(path, true) as Node | undefined;
      // A mask may be written as {points: [...]} as well as a bare list.
      if (key === "masks" && node && !isSeq(node)) node = doc.getIn([...path, "points"], true) as Node | undefined;
      if (!node) return { error: `camera '${camera}' has no ${kind} '${name}' in the file` };
      if (!isSeq(node) || !node.range) return { error: `${kind} '${name}': its points are not a list in the file (an alias or a tag?); edit it by hand` };
      const spliced = pointsSplices(text, node, points, frame);
      if ("error" in spliced) return { error: `${kind} '${name}': ${spliced.error}` };
      splices.push(...spliced.splices);
    }
  }
  for (const key of ["zones", "lines"] as const) {
    for (const [name, points] of Object.entries(edits.added?.[key] ?? {})) {
      const kind = key === "zones" ? "zone" : "line";
      if (!NAME.test(name)) return { error: `new ${kind} '${name}': use letters, digits, '_' or '-'` };
      if (!Array.isArray(points) || !points.every(isXY)) return { error: `new ${kind} '${name}': points must be [x, y] number pairs` };
      if (doc.getIn(["cameras", camera, key, name], true) !== undefined) return { error: `camera '${camera}' already has a ${kind} '${name}'` };
      const added = addedSplice(doc, text, camera, key, name, points.map(([x, y]) => `[${Math.round(x)}, ${Math.round(y)}]`).join(", "));
      if ("error" in added) return { error: `new ${kind} '${name}': ${added.error}` };
      splices.push(added);
    }
  }
  if (edits.maskList !== undefined) {
    if (edits.masks && Object.keys(edits.masks).length) return { error: "masks are both edited one by one and replaced" };
    if (!Array.isArray(edits.maskList) || !edits.maskList.every((m) => Array.isArray(m) && m.every(isXY)))
      return { error: "masks: a list of [x, y] point lists" };
    const replaced = masksSplice(doc, text, camera, edits.maskList, frame);
    if ("error" in replaced) return { error: `masks: ${replaced.error}` };
    splices.push(replaced);
  }
  splices.sort((a, b) => b.start - a.start);
  let out = text;
  for (const s of splices) out = out.slice(0, s.start) + s.text + out.slice(s.end);
  return edits.removed ? removeShapes(out, camera, edits) : { text: out };
}

/**
 * The camera's masks written anew, one `- [[x, y], ...]` line each at the list's place (`masks: []` when none
 * is left). Masks added or deleted have no names to splice by, so the list is rewritten; comments inside it go,
 * everything around it stays. Pixels or fractions as the masks were written.
 */
function masksSplice(doc: Document, text: string, camera: string, masks: XY[][], frame: { width: number; height: number }): Splice | { error: string } {
  const cam = doc.getIn(["cameras", camera], true) as Node | undefined;
  if (!cam || !isMap(cam) || cam.flow || !cam.range) return { error: `camera '${camera}' is not written as a block mapping; edit it by hand` };
  const firstKey = cam.items[0]?.key as Node | undefined;
  if (!firstKey?.range) return { error: `camera '${camera}' has no keys` };
  const indent = column(text, firstKey.range[0]);
  const node = doc.getIn(["cameras", camera, "masks"], true) as Node | undefined;
  const written = node && isSeq(node) ? JSON.stringify(node.toJSON()) : "[]";
  const numbers = (JSON.parse(written) as unknown[]).flatMap((m) => {
    const pts = Array.isArray(m) ? m : ((m as { points?: unknown[] })?.points ?? []);
    return (pts as unknown[]).flat().filter((v): v is number => typeof v === "number");
  });
  const fractions = numbers.length > 0 && areFractions(numbers);
  const fmt = (v: number, size: number) => (fractions ? String(Math.round((v / size) * 10_000) / 10_000) : String(Math.round(v)));
  const lines = masks.map((m) => `${" ".repeat(indent + 2)}- [${m.map(([x, y]) => `[${fmt(x, frame.width)}, ${fmt(y, frame.height)}]`).join(", ")}]`);
  const value = lines.length ? `\n${lines.join("\n")}` : " []";
  const pair = cam.items.find((p) => isScalar(p.key) && p.key.value === "masks");
  if (pair) {
    const key = pair.key as Node;
    const start = text.indexOf(":", key.range![1]) + 1;
    const end = node?.range ? endOfContent(text, node.range[1]) : start;
    return { start, end, text: value };
  }
  const at = endOfContent(text, cam.range[1]);
  return { start: at, end: at, text: `\n${" ".repeat(indent)}masks:${value}` };
}

/** Deletions run on the text with the other edits already in (a new entry may follow a deleted one). */
function removeShapes(text: string, camera: string, edits: ShapeEdits): ShapeEditResult {
  const doc = parseDocument(text);
  const splices: Splice[] = [];
  for (const key of ["zones", "lines"] as const) {
    const names = edits.removed?.[key] ?? [];
    if (!Array.isArray(names)) return { error: `removed ${key}: a list of names` };
    for (const name of names) if (edits[key]?.[name] || edits.added?.[key]?.[name]) return { error: "a shape is both changed and deleted" };
    const map = doc.getIn(["cameras", camera, key], true) as Node | undefined;
    for (const name of names) {
      const kind = key === "zones" ? "zone" : "line";
      if (!map || !isMap(map) || !map.items.some((p) => isScalar(p.key) && p.key.value === name))
        return { error: `camera '${camera}' has no ${kind} '${name}' in the file` };
    }
    if (names.length && map && isMap(map)) {
      const cam = doc.getIn(["cameras", camera], true) as YAMLMap;
      const keyNode = cam.items.find((p) => isScalar(p.key) && p.key.value === key)!.key as Node;
      const removed = removedSplices(text, map, new Set(names), text.indexOf(":", keyNode.range![1]) + 1);
      if ("error" in removed) return { error: `${key} of camera '${camera}': ${removed.error}` };
      splices.push(...removed.splices);
    }
  }
  splices.sort((a, b) => b.start - a.start);
  let out = text;
  for (const s of splices) out = out.slice(0, s.start) + s.text + out.slice(s.end);
  return { text: out };
}

function isXY(p: unknown): p is XY {
  return Array.isArray(p) && p.length === 2 && p.every((v) => typeof v === "number" && Number.isFinite(v));
}

function writtenPoint(item: unknown): [Node, Node] | null {
  if (!isSeq(item) || item.items.length !== 2) return null;
  const [x, y] = item.items;
  return isScalar(x) && isScalar(y) && typeof x.value === "number" && typeof y.value === "number" && x.range && y.range ? [x, y] : null;
}

function pointsSplices(text: string, seq: YAMLSeq, points: XY[], frame: { width: number; height: number }): { splices: Splice[] } | { error: string } {
  const written = seq.items.map(writtenPoint);
  if (written.some((w) => w === null)) return { error: "its points are not plain [x, y] numbers in the file; edit it by hand" };
  const pairs = written as Array<[Node, Node]>;
  // As written, fractions stay fractions: the loader's rule (core/geometry.ts areFractions).
  const fractions = areFractions(pairs.flatMap(([x, y]) => [(x as { value: number }).value, (y as { value: number }).value]));
  const fmt = (v: number, size: number) => (fractions ? String(Math.round((v / size) * 10_000) / 10_000) : String(Math.round(v)));
  const values = points.map(([x, y]) => [fmt(x, frame.width), fmt(y, frame.height)] as const);

  if (values.length === pairs.length) {
    // Number by number: everything else in the list (comments, spacing, style) stays as written.
    return {
      splices: pairs.flatMap(([x, y], i) => [
        { start: x.range![0], end: x.range![1], text: values[i]![0] },
        { start: y.range![0], end: y.range![1], text: values[i]![1] },
      ]),
    };
  }
  const [start, end] = [seq.range![0], seq.range![1]];
  const written_ = text.slice(start, end);
  const trimmedEnd = start + written_.trimEnd().length;
  if (seq.flow) return { splices: [{ start, end: trimmedEnd, text: `[${values.map(([x, y]) => `[${x}, ${y}]`).join(", ")}]` }] };
  // A block list: one `- [x, y]` per line at the column of the first item.
  const indent = start - (text.lastIndexOf("\n", start - 1) + 1);
  const lines = values.map(([x, y], i) => `${i ? " ".repeat(indent) : ""}- [${x}, ${y}]`);
  return { splices: [{ start, end: trimmedEnd, text: lines.join("\n") }] };
}

/** Where a new `name: {points: [...]}` entry goes: at the end of the camera's zones/lines, or a new key. */
function addedSplice(doc: Document, text: string, camera: string, key: "zones" | "lines", name: string, points: string): Splice | { error: string } {
  const entry = `${name}: {points: [${points}]}`;
  const map = doc.getIn(["cameras", camera, key], true) as Node | undefined;
  if (map && isMap(map) && map.range) {
    if (map.flow) {
      // `{a: {...}}` → `{a: {...}, name: {...}}`, before the closing brace
      const close = map.range[0] + text.slice(map.range[0], map.range[1]).lastIndexOf("}");
      return { start: close, end: close, text: `${map.items.length ? ", " : ""}${entry}` };
    }
    const first = map.items[0]?.key as Node | undefined;
    if (!first?.range) return { error: `the ${key} of camera '${camera}' are not a plain list of names; edit it by hand` };
    const at = endOfContent(text, map.range[1]);
    return { start: at, end: at, text: `\n${" ".repeat(column(text, first.range[0]))}${entry}` };
  }
  if (map !== undefined && !(isScalar(map) && map.value === null)) return { error: `the ${key} of camera '${camera}' are not a mapping; edit it by hand` };
  const cam = doc.getIn(["cameras", camera], true) as Node | undefined;
  if (!cam || !isMap(cam) || cam.flow || !cam.range) return { error: `camera '${camera}' is not written as a block mapping; edit it by hand` };
  const firstKey = cam.items[0]?.key as Node | undefined;
  if (!firstKey?.range) return { error: `camera '${camera}' has no keys` };
  const indent = column(text, firstKey.range[0]);
  if (map !== undefined) {
    // `zones:` written with nothing under it
    const pair = cam.items.find((p) => isScalar(p.key) && p.key.value === key)!;
    const at = endOfContent(text, (pair.key as Node).range![1] + 1);
    return { start: at, end: at, text: `\n${" ".repeat(indent + 2)}${entry}` };
  }
  const at = endOfContent(text, cam.range[1]);
  return { start: at, end: at, text: `\n${" ".repeat(indent)}${key}:\n${" ".repeat(indent + 2)}${entry}` };
}

/** The offset just past the last non-blank character before `end` (a trailing comment stays on its line). */
function endOfContent(text: string, end: number): number {
  return text.slice(0, end).trimEnd().length;
}

function column(text: string, offset: number): number {
  return offset - (text.lastIndexOf("\n", offset - 1) + 1);
}

/**
 * The text of deleted entries cut out of a zones/lines mapping; when all go, `zones: {}` (an empty key would
 * be null, which the schema refuses). `afterColon` is where the mapping's key ends.
 */
function removedSplices(text: string, map: YAMLMap, names: Set<string>, afterColon: number): { splices: Splice[] } | { error: string } {
  const items = map.items.map((p) => ({ name: isScalar(p.key) ? String(p.key.value) : "", key: p.key as Node | null, value: p.value as Node | null }));
  if (items.some((it) => !it.key?.range || !it.value?.range)) return { error: "an entry is not `name: {...}`; edit it by hand" };
  if (items.every((it) => names.has(it.name))) {
    return { splices: [{ start: afterColon, end: endOfContent(text, map.range![1]), text: " {}" }] };
  }
  const splices: Splice[] = [];
  items.forEach((it, i) => {
    if (!names.has(it.name)) return;
    if (map.flow) {
      // `a: {...}, ` up to the next entry, or `, a: {...}` from the previous one when it is the last
      const next = items[i + 1];
      if (next) splices.push({ start: it.key!.range![0], end: next.key!.range![0], text: "" });
      else splices.push({ start: items[i - 1]!.value!.range![1], end: it.value!.range![1], text: "" });
      return;
    }
    // whole lines: from the key's line to the end of the line where the entry's value ends
    const start = text.lastIndexOf("\n", it.key!.range![0] - 1) + 1;
    const last = endOfContent(text, it.value!.range![1]);
    const eol = text.indexOf("\n", last);
    splices.push({ start, end: eol < 0 ? text.length : eol + 1, text: "" });
  });
  return { splices };
}
