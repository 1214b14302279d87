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
// The preview picture's colours (agent/preview/overlay.ts), so the PNG and the page look alike.
const COLOR: Record<Kind, string> = { zones: "#00ff00", lines: "#ffd000", masks: "#ff0000" };
/** handle radius in CSS pixels, whatever the frame's size */
const HANDLE_PX = 7;

/** Changed and new shapes, as the save route takes them. */
export type SceneEdits = Partial<Record<Kind, Record<string, XY[]>>> & {
  added?: { zones?: Record<string, XY[]>; lines?: Record<string, XY[]> };
  removed?: { zones?: string[]; lines?: string[] };
};

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
  /** the zone or line last touched, for Delete */
  private selected: { kind: "zones" | "lines"; name: string } | null = null;
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
    if (this.canvas.width !== scene.width || this.canvas.height !== scene.height) {
      this.canvas.width = scene.width;
      this.canvas.height = scene.height;
    }
    this.draw();
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
    this.canvas.classList.remove("editing");
    this.draw();
  }

  /** The shapes whose points differ from the running config's, and the new ones. */
  edits(): SceneEdits {
    const out: SceneEdits = {};
    if (!this.draft || !this.scene) return out;
    for (const kind of KINDS) {
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

  /** The selected zone or line, if any ("zone door", "line gate"). */
  get selection(): string | null {
    return this.selected ? `${this.selected.kind === "zones" ? "zone" : "line"} ${this.selected.name}` : null;
  }

  /** Deletes the selected zone or line from the draft. */
  deleteSelected(): void {
    const sel = this.selected;
    if (!this.draft || !sel) return;
    this.draft[sel.kind] = this.draft[sel.kind].filter((s) => s.name !== sel.name);
    const id = `${sel.kind}/${sel.name}`;
    if (!this.added.delete(id)) this.removed.add(id);
    this.selected = null;
    this.draw();
    this.onDraftChange();
  }

  /** The zone or line under p: a handle, a line's stroke, or a zone's inside. */
  private shapeAt(p: XY): { kind: "zones" | "lines"; name: string } | null {
    if (!this.draft) return null;
    const hit = this.hit(p);
    if (hit && hit.kind !== "masks") return { kind: hit.kind, name: this.draft[hit.kind][hit.shape]!.name };
    const line = this.draft.lines.find((l) => nearestEdge(l.points, p, HANDLE_PX * this.scale()) >= 0);
    if (line) return { kind: "lines", name: line.name };
    const zone = [...this.draft.zones].reverse().find((z) => insidePolygon(z.points, p));
    return zone ? { kind: "zones", name: zone.name } : null;
  }

  /** Names already used by a zone or line of this camera (running or drawn). */
  has(kind: "zones" | "lines", name: string): boolean {
    return !!(this.draft ?? this.scene)?.[kind].some((s) => s.name === name);
  }

  /** A new zone (a square in the middle) or line (across the middle), to drag into place. */
  addShape(kind: "zones" | "lines", name: string): void {
    if (!this.draft) return;
    const { width: w, height: h } = this.draft;
    const points: XY[] =
      kind === "zones"
        ? [
            [w * 0.4, h * 0.35],
            [w * 0.6, h * 0.35],
            [w * 0.6, h * 0.65],
            [w * 0.4, h * 0.65],
          ]
        : [
            [w * 0.25, h * 0.5],
            [w * 0.75, h * 0.5],
          ];
    this.draft[kind].push({ name, points: points.map(([x, y]) => [Math.round(x), Math.round(y)] as XY) });
    this.added.add(`${kind}/${name}`);
    this.selected = { kind, name };
    this.draw();
    this.onDraftChange();
  }

  /** Where a frame point is on the page, for tests and tooltips. */
  pagePoint(p: XY): XY {
    const r = this.canvas.getBoundingClientRect();
    return [r.left + (p[0] * r.width) / this.canvas.width, r.top + (p[1] * r.height) / this.canvas.height];
  }

  private toFrame(e: MouseEvent): XY {
    const r = this.canvas.getBoundingClientRect();
    return [((e.clientX - r.left) * this.canvas.width) / r.width, ((e.clientY - r.top) * this.canvas.height) / r.height];
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
    if (!this.drag) {
      this.canvas.style.cursor = this.hit(p) ? "grab" : "";
      return;
    }
    const { kind, shape, point } = this.drag;
    this.draft[kind][shape]!.points[point] = clampToFrame(p, this.canvas.width, this.canvas.height);
    this.draw();
    this.onDraftChange();
  }

  private pointerUp(e: PointerEvent): void {
    if (!this.drag) return;
    this.drag = null;
    if (this.canvas.hasPointerCapture(e.pointerId)) this.canvas.releasePointerCapture(e.pointerId);
  }

  private doubleClick(e: MouseEvent): void {
    if (!this.draft) return;
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
        s.points.splice(nearestEdge(s.points, p, radius) + 1, 0, clampToFrame(p, this.canvas.width, this.canvas.height));
        break;
      }
    }
    this.draw();
    this.onDraftChange();
  }

  draw(): void {
    const ctx = this.canvas.getContext("2d");
    if (!ctx) return;
    const { width, height } = this.canvas;
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
    if (!this.draft) this.drawDetections(ctx, k);
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
        label(ctx, kind === "masks" ? `mask ${s.name}` : s.name, lx + 6 * k, ly - 6 * k, c, k);
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
