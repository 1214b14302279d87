import type { Fix, FrameMoment, PositionSource } from "./position.js";

/** A camera that does not move: every frame is at its configured place, looking its configured way. */
export class FixedLocation implements PositionSource {
  readonly describe: string;
  private readonly fix: Fix;

  constructor(location: { lat: number; lon: number; heading: number }) {
    this.fix = { time: 0, lat: location.lat, lon: location.lon, heading: location.heading, speed: 0, fix: "fixed" };
    this.describe = `fixed location ${location.lat}, ${location.lon} heading ${location.heading}`;
  }

  start(): void {}
  stop(): void {}

  fixAt(frame: FrameMoment): Fix {
    return { ...this.fix, time: frame.time };
  }
}
