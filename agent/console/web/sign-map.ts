import type * as Leaflet from "leaflet";

// The sign map: the inventory's assets and today's located sightings from /api/map on a Leaflet map (served
// by the console from the npm package, loaded as a classic script before this module). Tiles come from the
// configured server while the browser reaches it; without them (offline, or no tile URL) a plain grid.

interface MapTiles {
  url: string;
  attribution: string;
}

interface MapAsset {
  id: string;
  label: string;
  lat: number;
  lon: number;
  state: "present" | "missing";
  changed_to: string | null;
  passes_seen: number;
  passes_missed: number;
  last_seen: string;
  snapshot_url: string | null;
}

interface MapSighting {
  id: string;
  camera: string;
  label: string;
  lat: number;
  lon: number;
  score: number;
  first_seen: string;
  snapshot_url: string | null;
}

interface MapData {
  tiles: MapTiles | null;
  assets: MapAsset[];
  sightings: MapSighting[];
}

const L = (window as unknown as { L: typeof Leaflet }).L;
const REFRESH_MS = 15_000;
/** close enough to tell two signs at one junction apart, and as close as most tile servers go */
const MAX_FIT_ZOOM = 18;

const container = document.querySelector<HTMLElement>("#sign-map")!;
const note = document.querySelector<HTMLElement>("#sign-map-note")!;
const map = L.map(container, { zoomControl: true, attributionControl: true }).setView([0, 0], 2);
const assetLayer = L.layerGroup().addTo(map);
const sightingLayer = L.layerGroup().addTo(map);
L.control.layers(undefined, { "sign inventory": assetLayer, "today's sightings": sightingLayer }, { collapsed: false }).addTo(map);
let background: Leaflet.GridLayer | null = null;
let tilesUrl: string | null = null;
let fitted = false;

/** A plain grid drawn in the browser: the map still shows where signs stand relative to each other. */
class PlainGrid extends L.GridLayer {
  protected override createTile(coords: Leaflet.Coords): HTMLElement {
    const tile = document.createElement("canvas");
    const size = this.getTileSize();
    tile.width = size.x;
    tile.height = size.y;
    const g = tile.getContext("2d")!;
    g.fillStyle = "#f4f4f0";
    g.fillRect(0, 0, size.x, size.y);
    g.strokeStyle = "#c8c8c0";
    g.strokeRect(0.5, 0.5, size.x, size.y);
    g.fillStyle = "#a0a098";
    g.font = "10px sans-serif";
    g.fillText(`${coords.z}/${coords.x}/${coords.y}`, 4, 12);
    return tile;
  }
}

function useGrid(): void {
  if (background instanceof PlainGrid) return;
  background?.remove();
  background = new PlainGrid({ className: "map-grid", attribution: "no map tiles: grid" }).addTo(map);
  container.dataset.background = "grid";
}

/** The configured tiles while online; the first tile that fails to load (no route, refused, 404) turns to the grid. */
function useTiles(tiles: MapTiles | null): void {
  if (tiles?.url === tilesUrl && background) return;
  tilesUrl = tiles?.url ?? null;
  if (!tiles || !navigator.onLine) return useGrid();
  background?.remove();
  const layer = L.tileLayer(tiles.url, { attribution: escapeHtml(tiles.attribution), maxZoom: 19, crossOrigin: false });
  layer.once("tileerror", () => useGrid());
  layer.once("tileload", () => (container.dataset.background = "tiles"));
  background = layer.addTo(map);
  container.dataset.background = "loading";
}

function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

function popup(title: string, lines: string[], snapshot: string | null): HTMLElement {
  const box = document.createElement("div");
  box.className = "map-popup";
  const h = document.createElement("b");
  h.textContent = title;
  box.append(h);
  for (const line of lines) {
    const p = document.createElement("div");
    p.textContent = line;
    box.append(p);
  }
  if (snapshot) {
    const img = document.createElement("img");
    img.src = snapshot;
    img.alt = `snapshot: ${title}`;
    box.append(img);
  } else {
    const p = document.createElement("div");
    p.className = "muted";
    p.textContent = "no snapshot";
    box.append(p);
  }
  return box;
}

function render(data: MapData): void {
  assetLayer.clearLayers();
  sightingLayer.clearLayers();
  const points: Leaflet.LatLngExpression[] = [];
  for (const a of data.assets) {
    const changed = a.changed_to ? `, now ${a.changed_to}?` : "";
    L.circleMarker([a.lat, a.lon], { radius: 8, weight: 2, className: `sign-asset ${a.state}`, fillOpacity: 0.7 })
      .bindTooltip(a.label)
      .bindPopup(
        popup(
          a.label,
          [`${a.state}${changed}`, `seen on ${a.passes_seen} passes, missed ${a.passes_missed}`, `last seen ${new Date(a.last_seen).toLocaleString()}`],
          a.snapshot_url,
        ),
      )
      .addTo(assetLayer);
    points.push([a.lat, a.lon]);
  }
  for (const s of data.sightings) {
    L.circleMarker([s.lat, s.lon], { radius: 4, weight: 1, className: "sign-sighting", fillOpacity: 0.9 })
      .bindTooltip(s.label)
      .bindPopup(popup(s.label, [`${s.camera}, ${new Date(s.first_seen).toLocaleString()}`, `score ${s.score.toFixed(2)}`], s.snapshot_url))
      .addTo(sightingLayer);
    points.push([s.lat, s.lon]);
  }
  note.textContent = `${data.assets.length} signs in the inventory, ${data.sightings.length} located sightings today`;
  if (!fitted && points.length) {
    map.fitBounds(L.latLngBounds(points), { maxZoom: MAX_FIT_ZOOM, padding: [24, 24] });
    fitted = true;
  }
  container.dataset.markers = String(data.assets.length + data.sightings.length);
}

async function refresh(): Promise<void> {
  const res = await fetch("/api/map", { cache: "no-store" });
  if (!res.ok) {
    note.textContent = `map: ${res.status} ${await res.text()}`;
    return;
  }
  const data = (await res.json()) as MapData;
  useTiles(data.tiles);
  // A popup being read stays open: the markers are replaced only while none is.
  if (!container.querySelector(".leaflet-popup")) render(data);
}

async function loop(): Promise<void> {
  for (;;) {
    await refresh().catch((err: Error) => (note.textContent = `map: ${err.message}`));
    await new Promise((r) => setTimeout(r, REFRESH_MS));
  }
}

window.addEventListener("online", () => {
  tilesUrl = null; // the next refresh tries the tiles again
});
void loop();
