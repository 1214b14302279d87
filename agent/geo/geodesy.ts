// Distances of a few hundred metres at most (a sign and the camera that saw it, assets a radius apart): a local
// flat-earth approximation is accurate to millimetres there and needs no trigonometry per point beyond cos(lat).

const EARTH_RADIUS_M = 6_371_008.8;
const RAD = Math.PI / 180;

export interface LatLon {
  lat: number;
  lon: number;
}

/** The point `distanceM` from `from` towards `bearingDeg` (0 north, 90 east). */
export function destination(from: LatLon, bearingDeg: number, distanceM: number): LatLon {
  const b = bearingDeg * RAD;
  const north = distanceM * Math.cos(b);
  const east = distanceM * Math.sin(b);
  return {
    lat: from.lat + north / EARTH_RADIUS_M / RAD,
    lon: from.lon + east / (EARTH_RADIUS_M * Math.cos(from.lat * RAD)) / RAD,
  };
}

/** Metres north and east of `origin`. */
export function offsetM(origin: LatLon, p: LatLon): { north: number; east: number } {
  return {
    north: (p.lat - origin.lat) * RAD * EARTH_RADIUS_M,
    east: (p.lon - origin.lon) * RAD * EARTH_RADIUS_M * Math.cos(origin.lat * RAD),
  };
}

export function distanceM(a: LatLon, b: LatLon): number {
  const { north, east } = offsetM(a, b);
  return Math.hypot(north, east);
}

/** Bearing from a to b in degrees, 0–360. */
export function bearingDeg(a: LatLon, b: LatLon): number {
  const { north, east } = offsetM(a, b);
  return normalizeDeg(Math.atan2(east, north) / RAD);
}

export function normalizeDeg(d: number): number {
  return ((d % 360) + 360) % 360;
}

/** The smaller angle between two headings, 0–180. */
export function headingDifference(a: number, b: number): number {
  const d = Math.abs(normalizeDeg(a) - normalizeDeg(b));
  return d > 180 ? 360 - d : d;
}

/** The heading a fraction `t` of the way from a to b, the short way round. */
export function interpolateHeading(a: number, b: number, t: number): number {
  let d = normalizeDeg(b) - normalizeDeg(a);
  if (d > 180) d -= 360;
  if (d < -180) d += 360;
  return normalizeDeg(a + d * t);
}
