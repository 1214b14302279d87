import type { Logger } from "pino";
import { sourceKind } from "../camera/ffmpeg.js";
import type { CameraConfig } from "../config/schema.js";
import { FixedLocation } from "./fixed-location.js";
import { GpsdSource } from "./gpsd.js";
import type { PositionSource } from "./position.js";
import { TrackFile } from "./track-file.js";

/** A camera's position source from its config (location or gps); null for a camera with neither. */
export function positionSourceFor(camera: string, cam: CameraConfig, log: Logger): PositionSource | null {
  if (cam.location) return new FixedLocation(cam.location);
  const gps = cam.gps;
  if (!gps) return null;
  if ("track" in gps) {
    const source = cam.detect_source ?? cam.source;
    return new TrackFile(gps.track, { source, file: sourceKind(source) === "file", loop: cam.loop, fps: cam.fps }, gps.offset_seconds, (err) =>
      log.error({ camera, err: err.message }, "track file unreadable: sightings are stored unlocated"),
    );
  }
  const m = /^(\[[^\]]+\]|[^:]+)(?::(\d+))?$/.exec(gps.gpsd)!;
  return new GpsdSource({
    host: m[1]!.replace(/^\[|\]$/g, ""),
    port: m[2] ? Number(m[2]) : 2947,
    maxAgeMs: gps.max_age_seconds * 1000,
    onProblem: (message) => log.warn({ camera, err: message }, "gpsd unavailable: frames have no fix until it is back"),
    onConnected: () => log.info({ camera, gpsd: gps.gpsd }, "gpsd connected again"),
  });
}
