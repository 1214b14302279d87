/**
 * How a position was obtained: a configured location (`fixed`), a GPS fix (`2d`, `3d`, `dgps`), or none (the
 * sighting is stored unlocated).
 */
export type FixQuality = "fixed" | "2d" | "3d" | "dgps" | "none";

/** Where a camera was at one moment (agent/geo makes them). */
export interface Fix {
  /** ms since epoch */
  time: number;
  lat: number;
  lon: number;
  /** direction of travel (or of a fixed camera's view), degrees from north; null when unknown */
  heading: number | null;
  /** metres per second; null when unknown */
  speed: number | null;
  fix: Exclude<FixQuality, "none">;
}
