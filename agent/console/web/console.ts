import { LiveView, type Scene, type SeenBoxes } from "./live-view.js";
import type { XY } from "./scene-geometry.js";

// The console page: polls /api/state once a second, the selected camera's frame once a second, and the
// records table every few seconds; the editor saves through POST /api/cameras/<camera>/shapes.

interface CameraState {
  name: string;
  enabled: boolean;
  state: string;
  reason: string | null;
  restarts: number;
  fps: { in: number; processed: number; skipped: number; gated: number; seconds: number } | null;
  inference_ms: { p50: number | null; p95: number | null } | null;
  provider: string | null;
  width: number | null;
  height: number | null;
  running: boolean;
  zones: Array<{ name: string; points: XY[] }>;
  lines: Array<{ name: string; points: XY[] }>;
  masks: Array<{ name: string; points: XY[] }>;
}

interface State {
  device: { id: string; name: string | null };
  config: { file: string; hash: string | null };
  cameras: CameraState[];
  lines: Array<{ camera: string; line: string; in: number; out: number }>;
  occupancy: Array<{ camera: string; zone: string; counts: Record<string, number>; total: number }>;
}

type Kind = "events" | "crossings" | "signs" | "sign_assets" | "alarms" | "counts";

const $ = <T extends HTMLElement>(sel: string) => document.querySelector<T>(sel)!;
const view = new LiveView($<HTMLCanvasElement>("#view"));
let state: State | null = null;
let selected: string | null = null;
let kind: Kind = "events";
/** the config file's hash when the edit began: a save refuses to overwrite a file changed meanwhile */
let editHash: string | null = null;

function el(tag: string, attrs: Record<string, string> = {}, ...children: Array<Node | string>): HTMLElement {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  e.append(...children);
  return e;
}

const num = (v: number | null | undefined, digits = 1) => (v === null || v === undefined ? "–" : v.toFixed(digits));
const localTime = (iso: string | null) => (iso ? new Date(iso).toLocaleString() : "–");

async function getJson<T>(url: string): Promise<T> {
  const res = await fetch(url, { cache: "no-store" });
  if (!res.ok) throw new Error(`${url}: ${res.status} ${await res.text()}`);
  return (await res.json()) as T;
}

// --- cameras and counts

function renderCameras(s: State): void {
  const box = $("#cameras");
  box.replaceChildren(
    ...s.cameras.map((c) => {
      const card = el(
        "button",
        { class: "camera", type: "button", "data-camera": c.name, "aria-pressed": String(c.name === selected), title: c.reason ?? "" },
        el("span", { class: "name" }, c.name),
        el("span", { class: `state ${c.state.replace(/\s+/g, "-")}`, "data-state": c.state }, c.state),
        ...(c.reason && c.state !== "online" ? [el("div", { class: "reason" }, c.reason)] : []),
        el(
          "dl",
          {},
          el(
            "dt",
            { title: "frames per second over the last few seconds: each frame in is processed, skipped (the detector was busy) or gated (no motion)" },
            "fps in / processed / skipped / gated",
          ),
          el(
            "dd",
            { "data-fig": "fps", ...(c.fps ? { "data-fps": JSON.stringify(c.fps) } : {}) },
            c.fps ? `${num(c.fps.in)} / ${num(c.fps.processed)} / ${num(c.fps.skipped)} / ${num(c.fps.gated)}` : "–",
          ),
          el("dt", {}, "inference p50 / p95"),
          el("dd", { "data-fig": "inference" }, c.inference_ms ? `${num(c.inference_ms.p50)} / ${num(c.inference_ms.p95)} ms` : "–"),
          el("dt", {}, "provider"),
          el("dd", { "data-fig": "provider" }, c.provider ?? "–"),
        ),
      );
      card.addEventListener("click", () => select(c.name));
      return card;
    }),
  );
  const cams = $<HTMLSelectElement>("#filters select[name=camera]");
  const want = ["", ...s.cameras.map((c) => c.name)];
  if ([...cams.options].map((o) => o.value).join() !== want.join()) {
    const current = cams.value;
    cams.replaceChildren(...want.map((n) => el("option", { value: n }, n || "all")));
    cams.value = want.includes(current) ? current : "";
  }
}

function renderCounts(s: State): void {
  const lines = s.cameras.flatMap((c) =>
    c.lines.map((l) => {
      const t = s.lines.find((x) => x.camera === c.name && x.line === l.name);
      return { camera: c.name, line: l.name, in: t?.in ?? 0, out: t?.out ?? 0 };
    }),
  );
  $("#lines tbody").replaceChildren(
    ...lines.map((l) =>
      el(
        "tr",
        { "data-line": `${l.camera}/${l.line}` },
        el("td", {}, l.camera),
        el("td", {}, l.line),
        el("td", { "data-dir": "in" }, String(l.in)),
        el("td", { "data-dir": "out" }, String(l.out)),
      ),
    ),
  );
  const zones = s.cameras.flatMap((c) =>
    c.zones.map((z) => {
      const o = s.occupancy.find((x) => x.camera === c.name && x.zone === z.name);
      return { camera: c.name, zone: z.name, counts: o?.counts ?? {}, total: o?.total ?? 0 };
    }),
  );
  $("#zones tbody").replaceChildren(
    ...zones.map((z) =>
      el(
        "tr",
        { "data-zone": `${z.camera}/${z.zone}` },
        el("td", {}, z.camera),
        el("td", {}, z.zone),
        el("td", {}, String(z.total)),
        el(
          "td",
          {},
          Object.entries(z.counts)
            .map(([k, v]) => `${k} ${v}`)
            .join(", ") || "–",
        ),
      ),
    ),
  );
}

function sceneOf(c: CameraState): Scene | null {
  return c.width && c.height ? { width: c.width, height: c.height, zones: c.zones, lines: c.lines, masks: c.masks } : null;
}

function select(name: string): void {
  if (view.editing && name !== selected) return; // finish or discard the edit first
  selected = name;
  $("#live-title").textContent = `Live: ${name}`;
  view.clearFrame();
  if (state) {
    renderCameras(state);
    const c = state.cameras.find((x) => x.name === name);
    const scene = c && sceneOf(c);
    if (scene) view.setScene(scene);
  }
  updateButtons();
}

async function pollState(): Promise<void> {
  try {
    state = await getJson<State>("/api/state");
    $("#device").textContent = state.device.name ? `${state.device.name} (${state.device.id})` : state.device.id;
    $("#connection").textContent = "";
    if (!selected || !state.cameras.some((c) => c.name === selected)) selected = state.cameras.find((c) => c.running)?.name ?? state.cameras[0]?.name ?? null;
    renderCameras(state);
    renderCounts(state);
    const c = state.cameras.find((x) => x.name === selected);
    const scene = c && sceneOf(c);
    if (scene) view.setScene(scene);
    $("#live-title").textContent = selected ? `Live: ${selected}` : "Live";
    updateButtons();
  } catch (err) {
    $("#connection").textContent = `agent unreachable: ${(err as Error).message}`;
  }
}

async function pollFrame(): Promise<void> {
  // nobody looking: the device encodes nothing
  if (!selected || document.hidden) return;
  const camera = selected;
  try {
    const res = await fetch(`/api/cameras/${encodeURIComponent(camera)}/frame.jpg`, { cache: "no-store" });
    if (res.status !== 200 || camera !== selected) return;
    const time = res.headers.get("x-frame-time") ?? "";
    let seen: SeenBoxes | null = null;
    try {
      seen = JSON.parse(decodeURIComponent(res.headers.get("x-detections") ?? "null")) as SeenBoxes | null;
    } catch {
      seen = null; // a picture without boxes is still the picture
    }
    view.setFrame(await createImageBitmap(await res.blob()), time, seen);
    $("#frame-time").textContent = time ? `frame ${new Date(time).toLocaleTimeString()}` : "";
  } catch {
    // the next poll tries again; the state poll reports a lost agent
  }
}

// --- records

const COLUMNS: Record<Kind, string[]> = {
  events: ["snapshot", "clip", "start", "end", "camera", "label", "score", "zones"],
  crossings: ["time", "camera", "line", "direction", "label", "track"],
  signs: ["snapshot", "first seen", "last seen", "camera", "label", "score", "sign at"],
  sign_assets: ["label", "at", "state", "passes seen", "missed", "first seen", "last seen"],
  alarms: ["time", "camera", "type", "state", "subject", "reason"],
  counts: ["interval", "camera", "line / zone", "per class", "total", "today"],
};

/** `person in 3 out 1, car in 1 out 0` from a count report's per-class figures. */
function tally(t: Record<string, Record<string, number>>): string {
  return (
    Object.entries(t)
      .map(
        ([label, f]) =>
          `${label} ${Object.entries(f)
            .map(([k, v]) => `${k} ${v}`)
            .join(" ")}`,
      )
      .join(", ") || "–"
  );
}

/** A place as degrees, linking to it on OpenStreetMap (a browser that is offline still shows the figures). */
function place(lat: unknown, lon: unknown): HTMLElement {
  if (typeof lat !== "number" || typeof lon !== "number") return el("td", { class: "muted" }, "unlocated");
  const text = `${lat.toFixed(6)}, ${lon.toFixed(6)}`;
  return el(
    "td",
    {},
    el("a", { href: `https://www.openstreetmap.org/?mlat=${lat}&mlon=${lon}#map=18/${lat}/${lon}`, target: "_blank", rel: "noopener" }, text),
  );
}

function snapshotCell(url: string | null): HTMLElement {
  if (!url) return el("td", {}, "–");
  const img = el("img", { src: url, alt: "snapshot", loading: "lazy" });
  return el("td", {}, el("a", { href: url, target: "_blank", rel: "noopener" }, img));
}

/** The event's clip, played in the list; "–" while it is being cut or when the camera does not record. */
function clipCell(url: string | null | undefined): HTMLElement {
  if (!url) return el("td", {}, "–");
  return el("td", {}, el("video", { src: url, controls: "", preload: "metadata", muted: "", playsinline: "", class: "clip" }));
}

function recordRow(k: Kind, r: Record<string, unknown>): HTMLElement {
  const td = (v: unknown) => el("td", {}, v === null || v === undefined ? "–" : String(v));
  const score = (v: unknown) => td(typeof v === "number" ? `${Math.round(v * 100)}%` : v);
  if (k === "events") {
    return el(
      "tr",
      { "data-id": String(r.id) },
      snapshotCell(r.snapshot_url as string | null),
      clipCell(r.clip_url as string | null | undefined),
      td(localTime(r.start_time as string)),
      td(r.end_time ? localTime(r.end_time as string) : "open"),
      td(r.camera),
      td(r.label),
      score(r.top_score),
      td(((r.entered_zones as string[] | undefined) ?? []).join(", ") || "–"),
    );
  }
  if (k === "signs") {
    return el(
      "tr",
      { "data-id": String(r.id) },
      snapshotCell(r.snapshot_url as string | null),
      td(localTime(r.first_seen as string)),
      td(localTime(r.last_seen as string)),
      td(r.camera),
      td(r.label),
      score(r.score),
      place(r.sign_lat, r.sign_lon),
    );
  }
  if (k === "sign_assets") {
    const state = r.changed_to ? `${String(r.state)}, now '${String(r.changed_to)}'?` : r.state;
    return el(
      "tr",
      { "data-id": String(r.id) },
      td(r.label),
      place(r.lat, r.lon),
      td(state),
      td(r.passes_seen),
      td(r.passes_missed),
      td(localTime(r.first_seen as string)),
      td(localTime(r.last_seen as string)),
    );
  }
  if (k === "alarms") {
    return el("tr", { "data-id": String(r.id) }, td(localTime(r.time as string)), td(r.camera), td(r.type), td(r.state), td(r.label ?? r.zone), td(r.reason));
  }
  if (k === "counts") {
    const i = r.interval as { start: string; seconds: number };
    const today = r.today as { totals: Record<string, number> };
    return el(
      "tr",
      { "data-id": String(r.id) },
      td(`${localTime(i.start)} (${i.seconds / 60} min${r.complete ? "" : ", so far"})`),
      td(r.camera),
      td(`${String(r.subject)} ${String(r[r.subject as string])}`),
      td(tally(r.classes as Record<string, Record<string, number>>)),
      td(tally({ all: r.totals as Record<string, number> })),
      td(tally({ all: today.totals })),
    );
  }
  return el("tr", { "data-id": String(r.id) }, td(localTime(r.time as string)), td(r.camera), td(r.line), td(r.direction), td(r.label), td(r.track_id));
}

function recordsUrl(): string {
  const form = new FormData($<HTMLFormElement>("#filters"));
  const q = new URLSearchParams({ limit: "50" });
  for (const key of ["camera", "label"]) {
    const v = String(form.get(key) ?? "").trim();
    if (v) q.set(key, v);
  }
  for (const key of ["since", "until"]) {
    const v = String(form.get(key) ?? "");
    if (v) q.set(key, new Date(v).toISOString()); // datetime-local is the browser's local time
  }
  // Count reports, sign assets and alarms are listed through the generic record route; the others keep their own.
  return kind === "counts" || kind === "sign_assets" || kind === "alarms" ? `/api/records/${kind}?${q}` : `/api/${kind}?${q}`;
}

async function pollRecords(): Promise<void> {
  const k = kind;
  // A clip someone is watching is not pulled from under them: the list refreshes once it stops.
  if ([...document.querySelectorAll<HTMLVideoElement>("#records video")].some((v) => !v.paused && !v.ended)) return;
  try {
    const { records } = await getJson<{ records: Array<Record<string, unknown>> }>(recordsUrl());
    if (k !== kind) return;
    $("#records thead").replaceChildren(el("tr", {}, ...COLUMNS[k].map((c) => el("th", {}, c))));
    $("#records tbody").replaceChildren(
      ...(records.length
        ? records.map((r) => recordRow(k, r))
        : [el("tr", {}, el("td", { colspan: String(COLUMNS[k].length), class: "muted" }, "nothing yet"))]),
    );
  } catch (err) {
    $("#records tbody").replaceChildren(el("tr", {}, el("td", { colspan: "7" }, (err as Error).message)));
  }
}

// --- editor

function updateButtons(): void {
  const c = state?.cameras.find((x) => x.name === selected);
  const edit = $<HTMLButtonElement>("#edit");
  edit.hidden = view.editing;
  edit.disabled = !c?.running;
  edit.title = c?.running ? "" : "the camera must be running to edit over its picture";
  $<HTMLButtonElement>("#save").hidden = !view.editing;
  $<HTMLButtonElement>("#save").disabled = Object.keys(view.edits()).length === 0;
  $<HTMLButtonElement>("#discard").hidden = !view.editing;
  const drawing = view.drawingNow;
  for (const id of ["#add-zone", "#add-line", "#add-mask"]) {
    $<HTMLButtonElement>(id).hidden = !view.editing;
    $<HTMLButtonElement>(id).disabled = !!drawing || !$("#new-shape").hidden;
  }
  $("#drawing").hidden = !drawing;
  if (drawing) {
    const what = drawing.kind === "masks" ? "the mask" : `${drawing.kind === "zones" ? "zone" : "line"} ${drawing.name}`;
    $("#drawing-hint").textContent =
      drawing.kind === "lines"
        ? `Click the two end points of ${what} (${drawing.points} of 2).`
        : `Click the corners of ${what} (${drawing.points} so far); click the first corner again or Finish to close.`;
    $<HTMLButtonElement>("#drawing-finish").hidden = drawing.kind === "lines";
    $<HTMLButtonElement>("#drawing-finish").disabled = drawing.points < 3;
  }
  const del = $<HTMLButtonElement>("#delete");
  del.hidden = !view.editing;
  del.disabled = !view.selection;
  del.textContent = view.selection ? `Delete ${view.selection}` : "Delete";
  $("#hint").textContent = view.editing
    ? "Drag the round handles. Double-click a zone or mask edge to add a corner, a corner to remove it. Click a zone, line or mask to select it for Delete. The arrow points to the in side."
    : "Zones green, lines yellow (the arrow points to the in side), masks red, detections blue.";
}

function showResult(kindOfResult: "applied" | "rejected", text: string): void {
  const box = $("#save-result");
  box.hidden = false;
  box.className = `result ${kindOfResult}`;
  box.dataset.result = kindOfResult;
  box.textContent = text;
}

async function save(): Promise<void> {
  if (!selected) return;
  const button = $<HTMLButtonElement>("#save");
  button.disabled = true;
  const box = $("#save-result");
  box.hidden = true;
  delete box.dataset.result;
  try {
    const res = await fetch(`/api/cameras/${encodeURIComponent(selected)}/shapes`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ hash: editHash, ...view.edits() }),
    });
    const out = (await res.json()) as { result?: string; changed?: string[]; errors?: string[]; error?: string };
    if (out.result === "applied") {
      showResult("applied", `Saved and applied${out.changed?.length ? `: ${out.changed.join(", ")}` : ""}`);
      view.stopEditing();
      await pollState();
    } else {
      showResult("rejected", `Not saved; the file is unchanged.\n${(out.errors ?? [out.error ?? `HTTP ${res.status}`]).join("\n")}`);
    }
  } catch (err) {
    showResult("rejected", `Not saved: ${(err as Error).message}`);
  } finally {
    updateButtons();
  }
}

$("#edit").addEventListener("click", () => {
  editHash = state?.config.hash ?? null;
  $("#save-result").hidden = true;
  delete $("#save-result").dataset.result;
  view.startEditing();
  updateButtons();
});
$("#discard").addEventListener("click", () => {
  view.stopEditing();
  $("#new-shape").hidden = true;
  $("#save-result").hidden = true;
  updateButtons();
});
$("#save").addEventListener("click", () => void save());
$("#delete").addEventListener("click", () => view.deleteSelected());
// A new zone or line is named in the page first (the name becomes part of MQTT topics), then drawn by clicks.
let naming: "zones" | "lines" | null = null;
for (const [button, kindOfShape] of [
  ["#add-zone", "zones"],
  ["#add-line", "lines"],
  ["#add-mask", "masks"],
] as const) {
  $(button).addEventListener("click", () => {
    if (kindOfShape === "masks") {
      view.startDrawing("masks", "");
      return;
    }
    const singular = kindOfShape === "zones" ? "zone" : "line";
    let n = 1;
    while (view.has(kindOfShape, `${singular}_${n}`)) n++;
    naming = kindOfShape;
    $("#new-shape-kind").textContent = `name of the new ${singular}`;
    $<HTMLInputElement>("#new-shape-name").value = `${singular}_${n}`;
    $("#new-shape-error").textContent = "";
    $("#new-shape").hidden = false;
    $<HTMLInputElement>("#new-shape-name").select();
    updateButtons();
  });
}
$("#new-shape").addEventListener("submit", (e) => {
  e.preventDefault();
  if (!naming) return;
  const name = $<HTMLInputElement>("#new-shape-name").value.trim();
  const why = !/^[A-Za-z0-9_-]+$/.test(name) ? "use letters, digits, '_' or '-'" : view.has(naming, name) ? "that name is taken" : "";
  if (why) {
    $("#new-shape-error").textContent = `'${name}' cannot be used: ${why}`;
    return;
  }
  $("#new-shape").hidden = true;
  view.startDrawing(naming, name);
  naming = null;
});
$("#new-shape-cancel").addEventListener("click", () => {
  naming = null;
  $("#new-shape").hidden = true;
  updateButtons();
});
$("#drawing-finish").addEventListener("click", () => view.finishDrawing());
$("#drawing-cancel").addEventListener("click", () => view.cancelDrawing());
document.addEventListener("keydown", (e) => {
  if (e.key === "Escape" && view.drawingNow) view.cancelDrawing();
});
view.onDraftChange = updateButtons;

for (const tab of document.querySelectorAll<HTMLButtonElement>(".tabs button")) {
  tab.addEventListener("click", () => {
    kind = tab.dataset.kind as Kind;
    for (const t of document.querySelectorAll(".tabs button")) t.setAttribute("aria-selected", String(t === tab));
    void pollRecords();
  });
}
$("#filters").addEventListener("input", () => void pollRecords());
$("#filters").addEventListener("submit", (e) => e.preventDefault());

/** Runs `job` now and then `everyMs` after each run ends, so a slow device never piles requests up. */
function every(everyMs: number, job: () => Promise<void>): void {
  const loop = async () => {
    await job();
    setTimeout(() => void loop(), everyMs);
  };
  void loop();
}

every(1000, pollState);
every(1000, pollFrame);
every(3000, pollRecords);
