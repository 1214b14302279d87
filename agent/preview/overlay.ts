import sharp from "sharp";
import type { CameraShapes } from "../config/analytics-schema.js";
import { inDirection, toPixels, type Point } from "../core/geometry.js";

// The picture an installer checks polygons on: one frame with the camera's zones (green), lines (yellow, with
// an arrow pointing to the `in` side) and masks (red), each with its name. Drawn as SVG over the frame.

export const OVERLAY_COLORS = { zone: "#00ff00", line: "#ffd000", mask: "#ff0000" } as const;
/** length of a line's `in` arrow in pixels */
export const ARROW_LENGTH = 36;
const STROKE = 3;

const esc = (s: string) => s.replace(/[<>&"']/g, (c) => `&#${c.charCodeAt(0)};`);
const pts = (p: readonly Point[]) => p.map(([x, y]) => `${round(x)},${round(y)}`).join(" ");
const round = (v: number) => Math.round(v * 10) / 10;

function label(text: string, [x, y]: Point, color: string, width: number, height: number): string {
  const w = text.length * 8 + 8;
  const lx = Math.min(Math.max(x + 4, 0), Math.max(width - w, 0));
  const ly = Math.min(Math.max(y - 20, 0), Math.max(height - 18, 0));
  return (
    `<rect x="${round(lx)}" y="${round(ly)}" width="${w}" height="18" fill="#000000" fill-opacity="0.6"/>` +
    `<text x="${round(lx + 4)}" y="${round(ly + 13)}" font-family="DejaVu Sans Mono, monospace" font-size="13" fill="${color}">${esc(text)}</text>`
  );
}

/** SVG drawing of a camera's shapes over a width × height frame (shapes in pixels or 0–1 fractions). */
export function overlaySvg(shapes: CameraShapes, width: number, height: number): string {
  const parts: string[] = [];
  for (const m of shapes.masks) {
    const p = toPixels(m.points, width, height);
    parts.push(`<polygon points="${pts(p)}" fill="${OVERLAY_COLORS.mask}" fill-opacity="0.35" stroke="${OVERLAY_COLORS.mask}" stroke-width="${STROKE}"/>`);
    parts.push(label(`mask ${m.name}`, p[0]!, OVERLAY_COLORS.mask, width, height));
  }
  for (const z of shapes.zones) {
    const p = toPixels(z.points, width, height);
    parts.push(
      `<polygon points="${pts(p)}" fill="${OVERLAY_COLORS.zone}" fill-opacity="0.15" stroke="${OVERLAY_COLORS.zone}" stroke-width="${STROKE}" stroke-linejoin="round"/>`,
    );
    parts.push(label(z.name, p[0]!, OVERLAY_COLORS.zone, width, height));
  }
  for (const l of shapes.lines) {
    const [a, b] = toPixels(l.points, width, height) as [Point, Point];
    const [nx, ny] = inDirection([a, b]);
    const mid: Point = [(a[0] + b[0]) / 2, (a[1] + b[1]) / 2];
    const tip: Point = [mid[0] + nx * ARROW_LENGTH, mid[1] + ny * ARROW_LENGTH];
    // arrow head: two points back from the tip, either side of the shaft
    const back: Point = [tip[0] - nx * 12, tip[1] - ny * 12];
    const left: Point = [back[0] - ny * 8, back[1] + nx * 8];
    const right: Point = [back[0] + ny * 8, back[1] - nx * 8];
    const c = OVERLAY_COLORS.line;
    parts.push(
      `<line x1="${round(a[0])}" y1="${round(a[1])}" x2="${round(b[0])}" y2="${round(b[1])}" stroke="${c}" stroke-width="${STROKE}" stroke-linecap="round"/>`,
    );
    parts.push(`<circle cx="${round(a[0])}" cy="${round(a[1])}" r="5" fill="${c}"/>`);
    parts.push(`<line x1="${round(mid[0])}" y1="${round(mid[1])}" x2="${round(back[0])}" y2="${round(back[1])}" stroke="${c}" stroke-width="${STROKE}"/>`);
    parts.push(`<polygon points="${pts([tip, left, right])}" fill="${c}"/>`);
    parts.push(label(l.name, a, c, width, height));
    parts.push(label("in", [tip[0] + nx * 6, tip[1] + ny * 6 + 10], c, width, height));
  }
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}">${parts.join("")}</svg>`;
}

/** PNG of a packed RGB24 frame with the camera's shapes drawn on it. */
export function drawOverlay(rgb: Uint8Array, width: number, height: number, shapes: CameraShapes): Promise<Buffer> {
  return sharp(rgb, { raw: { width, height, channels: 3 } })
    .composite([{ input: Buffer.from(overlaySvg(shapes, width, height)), top: 0, left: 0 }])
    .png()
    .toBuffer();
}
