import { clampToFrame, inArrow, inNormal, insidePolygon, nearestEdge, nearestPoint, type XY } from "./scene-geometry.js";

/** A camera's shapes as /api/state gives them: detect-frame pixels. */
export interface Shape {
  name: string;
  points: XY[];
}

/** What the detector saw in the frame shown. */
export type SeenBoxes = Array<{ label: string; score: number; box: [number, number, number, number] }>;

export interface Scene {
  width: number;
  height: number;
  zones: Shape[];
  lines: Shape[];
  masks: Shape[];
}

type Kind = "zones" | "lines" | "masks";
const KINDS: Kind[] = ["masks", "zones", "lines"];
const SINGULAR: Record<Kind, string> = { zones: "zone", lines: "line", masks: "mask" };
// The preview picture's colours (agent/preview/overlay.ts), so the PNG and the page look alike.
const COLOR: Record<Kind, string> = { zones: "#00ff00", lines: "#ffd000", masks: "#ff0000" };
/** handle radius in CSS pixels, whatever the frame's size */
const HANDLE_PX = 7;

/** Changed and new shapes, as the save route takes them; masks, which have no names, go as the whole new list. */
export type SceneEdits = Partial<Record<"zones" | "lines", Record<string, XY[]>>> & {
  masks?: Record<string, XY[]>;
  added?: { zones?: Record<string, XY[]>; lines?: Record<string, XY[]> };
  removed?: { zones?: string[]; lines?: string[] };
  mask_list?: XY[][];
};

/** A shape being drawn by clicks: its kind, its name (masks have none) and the corners placed so far. */
interface Drawing {
  kind: Kind;
  name: string;
  points: XY[];
}

const copy = (s: Scene): Scene => ({ ...s, zones: s.zones.map(cloneShape), lines: s.lines.map(cloneShape), masks: s.masks.map(cloneShape) });
const cloneShape = (s: Shape): Shape => ({ name: s.name, points: s.points.map((p) => [p[0], p[1]] as XY) });

/**
 * The live view: the camera's latest frame with its zones, lines and masks drawn; in edit mode their points
 * can be dragged (zone and mask corners added by double-clicking an edge, removed by double-clicking a corner).
 */
export class LiveView {
  private frame: ImageBitmap | null = null;
  private seen: SeenBoxes | null = null;
  private scene: Scene | null = null;
  private draft: Scene | null = null;
  private drag: { kind: Kind; shape: number; point: number } | null = null;
  /** zones and lines drawn in this edit, and those deleted, as "kind/name" */
  private readonly added = new Set<string>();
  private readonly removed = new Set<string>();
  /** the zone, line or mask last touched, for Delete */
  private selected: { kind: Kind; name: string } | null = null;
  /** masks were added or deleted in this edit: the save sends the whole list */
  private masksChanged = false;
  private drawing: Drawing | null = null;
  /** where the pointer is, for the rubber band of a shape being drawn */
  private pointer: XY | null = null;
  /**
   * Room around the frame, in frame pixels, so a handle on the frame's edge is drawn whole and can be grabbed
   * from outside the picture.
   */
  private margin = 0;
  onDraftChange: () => void = () => {};

  constructor(private readonly canvas: HTMLCanvasElement) {
    canvas.addEventListener("pointerdown", (e) => this.pointerDown(e));
    canvas.addEventListener("pointermove", (e) => this.pointerMove(e));
    canvas.addEventListener("pointerup", (e) => this.pointerUp(e));
    canvas.addEventListener("pointercancel", (e) => this.pointerUp(e));
    canvas.addEventListener("dblclick", (e) => this.doubleClick(e));
  }

  get editing(): boolean {
    return this.draft !== null;
  }

  /** The running config's shapes; ignored for drawing while a draft is being edited. */
  setScene(scene: Scene): void {
    this.scene = scene;
    const margin = Math.round(Math.max(scene.width, scene.height) * 0.025);
    if (this.margin !== margin || this.canvas.width !== scene.width + 2 * margin || this.canvas.height !== scene.height + 2 * margin) {
      this.margin = margin;
      this.canvas.width = scene.width + 2 * margin;
      this.canvas.height = scene.height + 2 * margin;
      // for tests and tools: where the frame sits in the canvas
      this.canvas.dataset.margin = String(margin);
      this.canvas.dataset.frameWidth = String(scene.width);
      this.canvas.dataset.frameHeight = String(scene.height);
    }
    this.draw();
  }

  private get frameWidth(): number {
    return this.canvas.width - 2 * this.margin;
  }

  private get frameHeight(): number {
    return this.canvas.height - 2 * this.margin;
  }

  setFrame(frame: ImageBitmap, time: string, seen: SeenBoxes | null): void {
    this.frame?.close();
    this.frame = frame;
    this.seen = seen;
    this.canvas.dataset.frameTime = time;
    this.canvas.dataset.seen = (seen ?? []).map((b) => b.label).join(",");
    this.draw();
  }

  clearFrame(): void {
    this.frame?.close();
    this.frame = null;
    this.seen = null;
    delete this.canvas.dataset.frameTime;
    this.draw();
  }

  startEditing(): void {
    if (!this.scene) return;
    this.draft = copy(this.scene);
    this.canvas.classList.add("editing");
    this.draw();
  }

  stopEditing(): void {
    this.draft = null;
    this.added.clear();
    this.removed.clear();
    this.selected = null;
    this.drag = null;
    this.drawing = null;
    this.masksChanged = false;
    delete this.canvas.dataset.drawing;
    this.canvas.classList.remove("editing");
    this.draw();
  }

  /** The shapes whose points differ from the running config's, and the new ones. */
  edits(): SceneEdits {
    const out: SceneEdits = {};
    if (!this.draft || !this.scene) return out;
    if (this.masksChanged) out.mask_list = this.draft.masks.map((m) => m.points);
    for (const kind of KINDS) {
      if (kind === "masks" && this.masksChanged) continue;
      for (const s of this.draft[kind]) {
        if (kind !== "masks" && this.added.has(`${kind}/${s.name}`)) {
          ((out.added ??= {})[kind] ??= {})[s.name] = s.points;
          continue;
        }
        const running = this.scene[kind].find((r) => r.name === s.name);
        if (JSON.stringify(s.points) !== JSON.stringify(running?.points)) (out[kind] ??= {})[s.name] = s.points;
      }
    }
    for (const id of this.removed) {
      const [kind, name] = id.split("/") as ["zones" | "lines", string];
      ((out.removed ??= {})[kind] ??= []).push(name);
    }
    return out;
  }

  /** The selected zone, line or mask, if any ("zone door", "line gate", "mask 1"). */
  get selection(): string | null {
    return this.selected ? `${SINGULAR[this.selected.kind]} ${this.selected.name}` : null;
  }

  /** What is being drawn ("line exit"), while it is. */
  get drawingNow(): { kind: Kind; name: string; points: number } | null {
    return this.drawing ? { kind: this.drawing.kind, name: this.drawing.name, points: this.drawing.points.length } : null;
  }

  /** Deletes the selected zone, line or mask from the draft. */
  deleteSelected(): void {
    const sel = this.selected;
    if (!this.draft || !sel) return;
    if (sel.kind === "masks") {
      this.draft.masks = this.draft.masks.filter((s) => s.name !== sel.name);
      this.renumberMasks();
    } else {
      this.draft[sel.kind] = this.draft[sel.kind].filter((s) => s.name !== sel.name);
      const id = `${sel.kind}/${sel.name}`;
      if (!this.added.delete(id)) this.removed.add(id);
    }
    this.selected = null;
    this.draw();
    this.onDraftChange();
  }

  /** Masks are named by their place in the list, as the config keys them. */
  private renumberMasks(): void {
    this.draft!.masks.forEach((m, i) => (m.name = String(i)));
    this.masksChanged = true;
  }

  /** The shape under p: a handle, a line's stroke, or a zone's or mask's inside (zones drawn above masks). */
  private shapeAt(p: XY): { kind: Kind; name: string } | null {
    if (!this.draft) return null;
    const hit = this.hit(p);
    if (hit) return { kind: hit.kind, name: this.draft[hit.kind][hit.shape]!.name };
    const line = this.draft.lines.find((l) => nearestEdge(l.points, p, HANDLE_PX * this.scale()) >= 0);
    if (line) return { kind: "lines", name: line.name };
    const zone = [...this.draft.zones].reverse().find((z) => insidePolygon(z.points, p));
    if (zone) return { kind: "zones", name: zone.name };
    const mask = [...this.draft.masks].reverse().find((z) => insidePolygon(z.points, p));
    return mask ? { kind: "masks", name: mask.name } : null;
  }

  /** Names already used by a zone or line of this camera (running or drawn). */
  has(kind: "zones" | "lines", name: string): boolean {
    return !!(this.draft ?? this.scene)?.[kind].some((s) => s.name === name);
  }

  /**
   * Starts drawing a new shape by clicks on the picture: a line takes two, a zone or mask three or more corners,
   * closed by clicking its first corner again or by finishDrawing().
   */
  startDrawing(kind: Kind, name: string): void {
    if (!this.draft) return;
    this.drawing = { kind, name: kind === "masks" ? String(this.draft.masks.length) : name, points: [] };
    this.selected = null;
    this.canvas.dataset.drawing = kind;
    this.draw();
    this.onDraftChange();
  }

  /** Closes the zone or mask being drawn; false when it has fewer than three corners. */
  finishDrawing(): boolean {
    const d = this.drawing;
    if (!this.draft || !d || d.kind === "lines" || d.points.length < 3) return false;
    this.place(d);
    return true;
  }

  cancelDrawing(): void {
    this.drawing = null;
    delete this.canvas.dataset.drawing;
    this.draw();
    this.onDraftChange();
  }

  private place(d: Drawing): void {
    const points = d.points.map(([x, y]) => [Math.round(x), Math.round(y)] as XY);
    this.draft![d.kind].push({ name: d.name, points });
    if (d.kind === "masks") this.renumberMasks();
    else this.added.add(`${d.kind}/${d.name}`);
    this.selected = { kind: d.kind, name: d.name };
    this.drawing = null;
    delete this.canvas.dataset.drawing;
    this.draw();
    this.onDraftChange();
  }

  private drawClick(p: XY): void {
    const d = this.drawing!;
    const at = clampToFrame(p, this.frameWidth, this.frameHeight);
    // clicking the first corner again closes a zone or mask
    if (d.kind !== "lines" && d.points.length >= 3 && nearestPoint([d.points[0]!], at, HANDLE_PX * 1.6 * this.scale()) === 0) {
      this.place(d);
      return;
    }
    d.points.push(at);
    if (d.kind === "lines" && d.points.length === 2) {
      this.place(d);
      return;
    }
    this.draw();
    this.onDraftChange();
  }

  /** Where a frame point is on the page, for tests and tooltips. */
  pagePoint(p: XY): XY {
    const r = this.canvas.getBoundingClientRect();
    return [r.left + ((p[0] + this.margin) * r.width) / this.canvas.width, r.top + ((p[1] + this.margin) * r.height) / this.canvas.height];
  }

  private toFrame(e: MouseEvent): XY {
    const r = this.canvas.getBoundingClientRect();
    return [((e.clientX - r.left) * this.canvas.width) / r.width - this.margin, ((e.clientY - r.top) * this.canvas.height) / r.height - this.margin];
  }

  /** frame pixels per CSS pixel */
  private scale(): number {
    const r = this.canvas.getBoundingClientRect();
    return r.width ? this.canvas.width / r.width : 1;
  }

  private hit(p: XY): { kind: Kind; shape: number; point: number } | null {
    if (!this.draft) return null;
    const radius = HANDLE_PX * 1.6 * this.scale();
    // Lines first: their end points sit on top of zones when drawn.
    for (const kind of ["lines", "zones", "masks"] as Kind[]) {
      for (let s = this.draft[kind].length - 1; s >= 0; s--) {
        const point = nearestPoint(this.draft[kind][s]!.points, p, radius);
        if (point >= 0) return { kind, shape: s, point };
      }
    }
    return null;
  }

  private pointerDown(e: PointerEvent): void {
    if (!this.draft || e.button !== 0) return;
    const p = this.toFrame(e);
    if (this.drawing) {
      this.drawClick(p);
      e.preventDefault();
      return;
    }
    this.selected = this.shapeAt(p);
    this.draw();
    this.onDraftChange();
    const hit = this.hit(p);
    if (!hit) return;
    this.drag = hit;
    this.canvas.setPointerCapture(e.pointerId);
    e.preventDefault();
  }

  private pointerMove(e: PointerEvent): void {
    if (!this.draft) return;
    const p = this.toFrame(e);
    if (this.drawing) {
      this.pointer = clampToFrame(p, this.frameWidth, this.frameHeight);
      this.canvas.style.cursor = "crosshair";
      this.draw();
      return;
    }
    if (!this.drag) {
      this.canvas.style.cursor = this.hit(p) ? "grab" : "";
      return;
    }
    const { kind, shape, point } = this.drag;
    this.draft[kind][shape]!.points[point] = clampToFrame(p, this.frameWidth, this.frameHeight);
    this.draw();
    this.onDraftChange();
  }

  private pointerUp(e: PointerEvent): void {
    if (!this.drag) return;
    this.drag = null;
    if (this.canvas.hasPointerCapture(e.pointerId)) this.canvas.releasePointerCapture(e.pointerId);
  }

  private doubleClick(e: MouseEvent): void {
    if (!this.draft || this.drawing) return;
    const p = this.toFrame(e);
    const hit = this.hit(p);
    if (hit && hit.kind !== "lines") {
      const pts = this.draft[hit.kind][hit.shape]!.points;
      if (pts.length > 3) pts.splice(hit.point, 1);
    } else if (!hit) {
      const radius = HANDLE_PX * this.scale();
      for (const kind of ["zones", "masks"] as Kind[]) {
        const s = this.draft[kind].find((shape) => nearestEdge(shape.points, p, radius) >= 0);
        if (!s) continue;
        s.points.splice(nearestEdge(s.points, p, radius) + 1, 0, clampToFrame(p, this.frameWidth, this.frameHeight));
        break;
      }
    }
    this.draw();
    this.onDraftChange();
  }

  draw(): void {
    const ctx = this.canvas.getContext("2d");
    if (!ctx) return;
    ctx.setTransform(1, 0, 0, 1, 0, 0);
    ctx.fillStyle = "#1b1f26";
    ctx.fillRect(0, 0, this.canvas.width, this.canvas.height);
    // frame coordinates from here on; the margin around it is where edge handles overhang
    ctx.translate(this.margin, this.margin);
    const width = this.frameWidth;
    const height = this.frameHeight;
    ctx.fillStyle = "#000";
    ctx.fillRect(0, 0, width, height);
    if (this.frame) ctx.drawImage(this.frame, 0, 0, width, height);
    else {
      ctx.fillStyle = "#8b93a1";
      ctx.font = `${Math.round(height / 20)}px sans-serif`;
      ctx.fillText("no picture yet", width / 20, height / 2);
    }
    const scene = this.draft ?? this.scene;
    if (!scene) return;
    const k = this.scale();
    // the boxes stay while editing: they show where feet actually pass
    this.drawDetections(ctx, k);
    ctx.lineJoin = "round";
    ctx.lineWidth = 2.5 * k;
    ctx.font = `${Math.round(13 * k)}px "DejaVu Sans Mono", monospace`;
    for (const kind of KINDS) {
      for (const s of scene[kind]) {
        const c = COLOR[kind];
        const chosen = this.draft && this.selected?.kind === kind && this.selected.name === s.name;
        ctx.lineWidth = (chosen ? 5 : 2.5) * k;
        ctx.strokeStyle = c;
        ctx.fillStyle = c;
        ctx.beginPath();
        s.points.forEach(([x, y], i) => (i ? ctx.lineTo(x, y) : ctx.moveTo(x, y)));
        if (kind !== "lines") {
          ctx.closePath();
          ctx.globalAlpha = kind === "masks" ? 0.35 : 0.15;
          ctx.fill();
          ctx.globalAlpha = 1;
        }
        ctx.stroke();
        if (kind === "lines" && s.points.length === 2) this.drawInArrow(ctx, s.points[0]!, s.points[1]!, k);
        const [lx, ly] = s.points[0]!;
        label(ctx, kind === "masks" ? `mask ${s.name}` : s.name, lx + 6 * k, Math.max(ly - 6 * k, 14 * k), c, k);
        if (this.draft) {
          for (const [x, y] of s.points) {
            ctx.beginPath();
            ctx.arc(x, y, HANDLE_PX * k, 0, Math.PI * 2);
            ctx.fillStyle = "#000";
            ctx.fill();
            ctx.stroke();
          }
        }
      }
    }
    this.drawDrawing(ctx, k);
  }

  /** The shape being drawn: its corners so far and a rubber band to the pointer. */
  private drawDrawing(ctx: CanvasRenderingContext2D, k: number): void {
    const d = this.drawing;
    if (!d) return;
    const pts = this.pointer ? [...d.points, this.pointer] : d.points;
    ctx.strokeStyle = COLOR[d.kind];
    ctx.setLineDash([8 * k, 6 * k]);
    ctx.lineWidth = 2.5 * k;
    ctx.beginPath();
    pts.forEach(([x, y], i) => (i ? ctx.lineTo(x, y) : ctx.moveTo(x, y)));
    ctx.stroke();
    ctx.setLineDash([]);
    for (const [x, y] of d.points) {
      ctx.beginPath();
      ctx.arc(x, y, HANDLE_PX * k, 0, Math.PI * 2);
      ctx.fillStyle = COLOR[d.kind];
      ctx.fill();
    }
  }

  /** The boxes the detector found in the picture shown. */
  private drawDetections(ctx: CanvasRenderingContext2D, k: number): void {
    if (!this.seen) return;
    ctx.lineWidth = 2 * k;
    ctx.font = `${Math.round(12 * k)}px "DejaVu Sans Mono", monospace`;
    for (const { label: name, score, box } of this.seen) {
      const [x1, y1, x2, y2] = box;
      ctx.strokeStyle = "#4dd0ff";
      ctx.strokeRect(x1, y1, x2 - x1, y2 - y1);
      label(ctx, `${name} ${Math.round(score * 100)}%`, x1 + 4 * k, Math.max(y1 - 4 * k, 14 * k), "#4dd0ff", k);
    }
  }

  private drawInArrow(ctx: CanvasRenderingContext2D, a: XY, b: XY, k: number): void {
    const arrow = inArrow(a, b, 48 * k);
    ctx.beginPath();
    ctx.moveTo(...arrow.from);
    ctx.lineTo(...arrow.tip);
    ctx.stroke();
    ctx.beginPath();
    ctx.moveTo(...arrow.tip);
    ctx.lineTo(...arrow.left);
    ctx.lineTo(...arrow.right);
    ctx.closePath();
    ctx.fill();
    // the label beyond the tip, on the in side, so it never hides the arrow
    const [nx, ny] = inNormal(a, b);
    label(ctx, "in", arrow.tip[0] + nx * 14 * k - 7 * k, arrow.tip[1] + ny * 14 * k + 5 * k, COLOR.lines, k);
  }
}

function label(ctx: CanvasRenderingContext2D, text: string, x: number, y: number, color: string, k: number): void {
  const w = ctx.measureText(text).width + 8 * k;
  ctx.fillStyle = "rgba(0,0,0,0.6)";
  ctx.fillRect(x - 4 * k, y - 13 * k, w, 18 * k);
  ctx.fillStyle = color;
  ctx.fillText(text, x, y);
}
