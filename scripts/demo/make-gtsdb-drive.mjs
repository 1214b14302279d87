// Builds the demo drive from real dashcam photographs: a slow zoom towards the signs of a few GTSDB frames
// (like a car approaching them), a black second between scenes, a made-up road as a GPX track with times
// matching the clip, and the truth file (one {label, lat, lon} per sign). Reproducible: the same frames,
// boxes and numbers give the same files (x264 single-threaded).
//
// usage: node scripts/demo/make-gtsdb-drive.mjs [--data ../shared/data/gtsdb-train] [--out scripts/demo/gtsdb-drive]
//          [--frames 00193,00120,...]   (other scenes, for choosing them)
import { execFileSync } from "node:child_process";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const { values } = parseArgs({
  options: {
    data: { type: "string", default: path.join(repoRoot, "../shared/data/gtsdb-train") },
    out: { type: "string", default: path.join(repoRoot, "scripts/demo/gtsdb-drive") },
    frames: { type: "string" },
  },
});

// Frames whose every sign the shipped detector and classifier name right through the agent, and nothing else
// (GTSDB's training split: the models saw these photographs while training).
const SCENES = values.frames?.split(",") ?? ["00193", "00120", "00262", "00194", "00005", "00083", "00256", "00121"];

// GTSRB class ids → labels as the shipped classifier names them (its metadata; the truth file uses them).
const dist = path.join(repoRoot, "dist/agent/detect/model-file.js");
if (!existsSync(dist)) {
  console.error("make-gtsdb-drive: dist/ is not built; run `npm run build` first");
  process.exit(2);
}
const { readModel } = await import(dist);
const LABELS = JSON.parse((await readModel(path.join(repoRoot, "models/sign-classifier.onnx"))).description.metadata.labels);

const W = 816;
const H = 480;
const FPS = 10;
const ZOOM_SECONDS = 3;
// Longer than the demo config's tracker max age, so one scene's signs never continue into the next.
const GAP_SECONDS = 1;
const MAX_ZOOM = 2.2;
/** px kept between the signs and the view's edge at the closest point */
const MARGIN = 40;
/** the clip's creation_time: the GPX's first point; agents date a file's frames from it */
const START = Date.parse("2026-03-02T09:00:00Z");
// The made-up road: eastwards out of Bochum, a gentle bend to the north-east, 12 m/s (43 km/h).
const ROAD = { lat: 51.4452, lon: 7.2609, headingDeg: 95, bendDegPerS: -1.5, speed: 12 };
// Where a sign stands at the last view: a pinhole with a 60° field of view across the 816 px frame,
// signs 0.65 m across (German round signs 0.6 m, triangles 0.9 m).
const FOCAL_PX = W / 2 / Math.tan(Math.PI / 6);
const SIGN_M = 0.65;

if (!existsSync(path.join(values.data, "gt.csv"))) {
  console.error(`make-gtsdb-drive: ${values.data}/gt.csv: no such file (GTSDB training split, ../shared/data/gtsdb-train)`);
  process.exit(2);
}
const boxes = new Map();
for (const line of readFileSync(path.join(values.data, "gt.csv"), "utf8").trim().split("\n").slice(1)) {
  const [file, x1, y1, x2, y2, cls] = line.split(",");
  const id = path.basename(file, ".jpg");
  if (!boxes.has(id)) boxes.set(id, []);
  boxes.get(id).push({ box: [x1, y1, x2, y2].map(Number), label: LABELS[Number(cls)] });
}

/**
 * The zoom of one scene: about an anchor point chosen so the signs drift outwards as they grow (as they do
 * from a moving car) and end MARGIN px inside the view. Returns the anchor (frame px) and the final zoom.
 */
function zoomPlan(signs) {
  const x1 = Math.min(...signs.map((s) => s.box[0]));
  const y1 = Math.min(...signs.map((s) => s.box[1]));
  const x2 = Math.max(...signs.map((s) => s.box[2]));
  const y2 = Math.max(...signs.map((s) => s.box[3]));
  // Zoom about point a: frame x maps to a + (x - a)·z in the view. The largest z that keeps the signs'
  // union inside the margins for some a in the frame, capped.
  const fitting = (lo, hi, size) => Math.min(MAX_ZOOM, (size - 2 * MARGIN) / (hi - lo));
  const zoom = Math.max(1, Math.min(fitting(x1, x2, W), fitting(y1, y2, H)));
  // The anchor: towards the frame's centre from the signs, so they move out from it, clamped to the margins.
  const axis = (lo, hi, size) => {
    if (zoom === 1) return size / 2;
    const centre = (lo + hi) / 2;
    const target = size / 2 + (centre - size / 2) * 1.15; // where the signs' centre ends in the view
    let a = (centre * zoom - target) / (zoom - 1);
    // keep the union inside the margins: a + (lo - a)·z ≥ MARGIN and a + (hi - a)·z ≤ size - MARGIN
    a = Math.min(a, (lo * zoom - MARGIN) / (zoom - 1));
    a = Math.max(a, (hi * zoom - (size - MARGIN)) / (zoom - 1));
    return Math.min(size, Math.max(0, a));
  };
  return { zoom, ax: axis(x1, x2, W), ay: axis(y1, y2, H) };
}

const frames = ZOOM_SECONDS * FPS;
const UP = 4; // zoompan rounds the crop to whole input pixels: upscale first so the zoom does not judder
const inputs = [];
const chains = [];
const parts = [];
const plans = SCENES.map((id, i) => {
  const signs = boxes.get(id);
  if (!signs) {
    console.error(`make-gtsdb-drive: --frames ${id}: no such frame in ${values.data}/gt.csv (frames 00000-00599 with signs)`);
    process.exit(2);
  }
  const plan = zoomPlan(signs);
  inputs.push("-i", path.join(values.data, `frames/${id}.jpg`));
  // z(t) = 1 / (1 - (1 - 1/Z)·t/T): the apparent size of something approached at a steady speed.
  const z = `1/(1-${(1 - 1 / plan.zoom).toFixed(6)}*on/${frames - 1})`;
  chains.push(
    `[${i}:v]scale=${W * UP}:${H * UP}:flags=bicubic,` +
      `zoompan=z='${z}':x='${plan.ax * UP}*(1-1/zoom)':y='${plan.ay * UP}*(1-1/zoom)':d=${frames}:s=${W}x${H}:fps=${FPS},` +
      `setsar=1,format=yuv420p[s${i}]`,
    `color=c=black:s=${W}x${H}:r=${FPS}:d=${GAP_SECONDS},setsar=1,format=yuv420p[g${i}]`,
  );
  parts.push(`[s${i}][g${i}]`);
  return { id, signs, ...plan };
});
const graph = `${chains.join(";")};${parts.join("")}concat=n=${parts.length * 2}:v=1:a=0[v]`;
const clip = `${values.out}.mp4`;
execFileSync(
  "ffmpeg",
  [
    "-y",
    "-loglevel",
    "error",
    ...inputs,
    "-filter_complex",
    graph,
    "-map",
    "[v]",
    "-c:v",
    "libx264",
    "-preset",
    "slow",
    "-crf",
    "23",
    "-threads",
    "1",
    // No B-frames: at fps ≤ 12.5 the agent's decoder skips frames nothing refers to, and every frame here counts.
    "-bf",
    "0",
    "-g",
    String(FPS * 4),
    "-pix_fmt",
    "yuv420p",
    "-movflags",
    "+faststart",
    "-map_metadata",
    "-1",
    "-metadata",
    `creation_time=${new Date(START).toISOString()}`,
    "-metadata",
    "comment=GTSDB (INI, Ruhr-Universitaet Bochum), free for research; cite Houben et al., IJCNN 2013",
    clip,
  ],
  { stdio: "inherit" },
);

// The road, integrated at 0.1 s: position (metres east/north of the start) and heading at time t.
const sceneSeconds = ZOOM_SECONDS + GAP_SECONDS;
const total = SCENES.length * sceneSeconds;
const EARTH = 6371008.8;
const track = [];
{
  let e = 0;
  let n = 0;
  for (let k = 0; k <= total * 10; k++) {
    const t = k / 10;
    const heading = ROAD.headingDeg + ROAD.bendDegPerS * t;
    track.push({ t, e, n, heading });
    const h = (heading * Math.PI) / 180;
    e += Math.sin(h) * ROAD.speed * 0.1;
    n += Math.cos(h) * ROAD.speed * 0.1;
  }
}
const toLatLon = (e, n) => ({
  lat: ROAD.lat + ((n / EARTH) * 180) / Math.PI,
  lon: ROAD.lon + ((e / (EARTH * Math.cos((ROAD.lat * Math.PI) / 180))) * 180) / Math.PI,
});
const round7 = (v) => Math.round(v * 1e7) / 1e7;

const gpx = [
  '<?xml version="1.0" encoding="UTF-8"?>',
  '<gpx version="1.1" creator="eva scripts/demo/make-gtsdb-drive.mjs" xmlns="http://www.topografix.com/GPX/1/1">',
  `  <metadata><name>eva demo drive (made-up road; frames from GTSDB)</name><time>${new Date(START).toISOString()}</time></metadata>`,
  "  <trk><name>gtsdb-drive</name><trkseg>",
  ...track
    .filter((p) => Math.round(p.t * 10) % 5 === 0)
    .map((p) => {
      const { lat, lon } = toLatLon(p.e, p.n);
      return `    <trkpt lat="${round7(lat)}" lon="${round7(lon)}"><time>${new Date(START + p.t * 1000).toISOString()}</time></trkpt>`;
    }),
  "  </trkseg></trk>",
  "</gpx>",
  "",
].join("\n");
writeFileSync(`${values.out}.gpx`, gpx);

// Each sign where the camera's last view of it puts it: ahead along the heading at the pinhole distance
// of its last box, left or right by its offset from the view's centre.
const truth = plans.flatMap((p, i) => {
  const at = track[Math.round((i * sceneSeconds + ZOOM_SECONDS - 1 / FPS) * 10)];
  const h = (at.heading * Math.PI) / 180;
  return p.signs.map((s) => {
    const size = Math.max(s.box[2] - s.box[0], s.box[3] - s.box[1]) * p.zoom;
    const ahead = (FOCAL_PX * SIGN_M) / size;
    const cx = p.ax + ((s.box[0] + s.box[2]) / 2 - p.ax) * p.zoom;
    const right = ((cx - W / 2) / FOCAL_PX) * ahead;
    const e = at.e + Math.sin(h) * ahead + Math.cos(h) * right;
    const n = at.n + Math.cos(h) * ahead - Math.sin(h) * right;
    const { lat, lon } = toLatLon(e, n);
    return { label: s.label, lat: round7(lat), lon: round7(lon) };
  });
});
writeFileSync(`${values.out}.truth.json`, `${JSON.stringify(truth, null, 2)}\n`);
console.log(
  `${clip}: ${SCENES.length} scenes, ${truth.length} signs, ${total} s at ${FPS} fps; ${values.out}.gpx, ${values.out}.truth.json\n` +
    plans
      .map((p) => `  ${p.id}: zoom ${p.zoom.toFixed(2)} about (${Math.round(p.ax)}, ${Math.round(p.ay)}): ${p.signs.map((s) => s.label).join(", ")}`)
      .join("\n"),
);
