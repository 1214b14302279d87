import sharp from "sharp";
import type { Box } from "../../agent/core/geometry.js";

// Road signs drawn here from SVG — independently of the training renderer (scripts/training/signs.py) — so the
// shipped model is checked on pictures it was not trained to draw.

export interface PlacedSign {
  label: string;
  box: Box;
}

type Sign = "stop" | "yield" | "no entry" | "priority road" | "speed limit (50km/h)" | "general caution" | "keep right";

function signSvg(kind: Sign, s: number): string {
  const h = s / 2;
  switch (kind) {
    case "stop": {
      const r = h,
        k = r * 0.4142;
      const pts = [
        [-k, -r],
        [k, -r],
        [r, -k],
        [r, k],
        [k, r],
        [-k, r],
        [-r, k],
        [-r, -k],
      ]
        .map(([x, y]) => `${h + x!},${h + y!}`)
        .join(" ");
      return `<polygon points="${pts}" fill="#c8102e" stroke="#fff" stroke-width="${s * 0.04}"/>
<text x="${h}" y="${h + s * 0.11}" font-family="DejaVu Sans" font-weight="bold" font-size="${s * 0.3}" fill="#fff" text-anchor="middle">STOP</text>`;
    }
    case "yield":
      return `<polygon points="${s * 0.02},${s * 0.08} ${s * 0.98},${s * 0.08} ${h},${s * 0.94}" fill="#fff" stroke="#c8102e" stroke-width="${s * 0.12}" stroke-linejoin="round"/>`;
    case "no entry":
      return `<circle cx="${h}" cy="${h}" r="${h * 0.97}" fill="#c8102e"/><rect x="${s * 0.18}" y="${s * 0.42}" width="${s * 0.64}" height="${s * 0.16}" fill="#fff"/>`;
    case "priority road":
      return `<polygon points="${h},0 ${s},${h} ${h},${s} 0,${h}" fill="#fff" stroke="#333" stroke-width="${s * 0.01}"/>
<polygon points="${h},${s * 0.2} ${s * 0.8},${h} ${h},${s * 0.8} ${s * 0.2},${h}" fill="#f5c400"/>`;
    case "speed limit (50km/h)":
      return `<circle cx="${h}" cy="${h}" r="${h * 0.88}" fill="#fff" stroke="#c8102e" stroke-width="${s * 0.13}"/>
<text x="${h}" y="${h + s * 0.15}" font-family="DejaVu Sans" font-weight="bold" font-size="${s * 0.44}" fill="#111" text-anchor="middle">50</text>`;
    case "general caution":
      return `<polygon points="${h},${s * 0.06} ${s * 0.98},${s * 0.92} ${s * 0.02},${s * 0.92}" fill="#fff" stroke="#c8102e" stroke-width="${s * 0.11}" stroke-linejoin="round"/>
<rect x="${h - s * 0.04}" y="${s * 0.36}" width="${s * 0.08}" height="${s * 0.3}" fill="#111"/><circle cx="${h}" cy="${s * 0.76}" r="${s * 0.05}" fill="#111"/>`;
    case "keep right":
      return `<circle cx="${h}" cy="${h}" r="${h * 0.97}" fill="#1f5fb4" stroke="#fff" stroke-width="${s * 0.03}"/>
<path d="M ${s * 0.3} ${s * 0.3} L ${s * 0.62} ${s * 0.62}" stroke="#fff" stroke-width="${s * 0.1}"/>
<polygon points="${s * 0.74},${s * 0.74} ${s * 0.44},${s * 0.7} ${s * 0.7},${s * 0.44}" fill="#fff"/>`;
  }
}

/**
 * A 640×360 street-side scene (sky, trees, road) with the given signs on poles; returns RGB bytes and the truth.
 * `scale` draws the same scene bigger (2.125 gives a 1360×765 dashcam-sized frame); sign positions and sizes are
 * given in 640×360 units and the truth is in output pixels.
 */
export async function renderSignScene(
  signs: { kind: Sign; x: number; y: number; size: number }[],
  scale = 1,
): Promise<{ rgb: Uint8Array; width: number; height: number; truth: PlacedSign[]; png: Buffer }> {
  const width = 640;
  const height = 360;
  const poles = signs
    .map((g) => `<rect x="${g.x + g.size / 2 - 2}" y="${g.y + g.size}" width="4" height="${height - g.y - g.size - 60}" fill="#777"/>`)
    .join("");
  const bodies = signs.map((g) => `<g transform="translate(${g.x},${g.y})">${signSvg(g.kind, g.size)}</g>`).join("");
  const outW = Math.round(width * scale);
  const outH = Math.round(height * scale);
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${outW}" height="${outH}" viewBox="0 0 ${width} ${height}">
<defs><linearGradient id="sky" x1="0" y1="0" x2="0" y2="1"><stop offset="0" stop-color="#7fa8d8"/><stop offset="1" stop-color="#d9e4ef"/></linearGradient></defs>
<rect width="${width}" height="200" fill="url(#sky)"/>
<rect y="120" width="${width}" height="110" fill="#3d6b35"/>
<ellipse cx="90" cy="140" rx="120" ry="50" fill="#2f5a2a"/><ellipse cx="520" cy="135" rx="150" ry="45" fill="#34612d"/>
<polygon points="0,${height} ${width},${height} ${width},230 0,230" fill="#55585c"/>
<rect y="292" width="${width}" height="6" fill="#e8e8e8"/>
${poles}${bodies}
</svg>`;
  const img = sharp(Buffer.from(svg)).blur(0.6 * scale);
  const png = await img.clone().png().toBuffer();
  const { data } = await img.removeAlpha().raw().toBuffer({ resolveWithObject: true });
  const truth = signs.map((g) => ({ label: g.kind, box: [g.x, g.y, g.x + g.size, g.y + g.size].map((v) => v * scale) as Box }));
  return { rgb: new Uint8Array(data.buffer, data.byteOffset, data.length), width: outW, height: outH, truth, png };
}
