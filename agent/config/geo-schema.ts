import { z } from "zod";

// Where a camera is (agent/geo): a fixed place, or live GPS from gpsd, or the track of a recorded drive.

export const locationSchema = z
  .strictObject({
    lat: z.number().min(-90).max(90).describe("latitude, degrees (WGS 84)"),
    lon: z.number().min(-180).max(180).describe("longitude, degrees (WGS 84)"),
    heading: z.number().min(0).lt(360).describe("the way the camera looks, degrees from north (90: east)"),
  })
  .describe("a fixed camera's place and view direction");

const hostPort = z
  .string()
  .regex(/^(\[[^\]]+\]|[^:\s]+)(:\d{1,5})?$/, "host or host:port, e.g. localhost:2947")
  .describe("gpsd's host:port (its JSON protocol over TCP)");

export const gpsSchema = z
  .union([
    z.strictObject({
      gpsd: hostPort,
      max_age_seconds: z.number().min(0.1).max(60).default(3).describe("a frame this much newer than gpsd's latest fix has none (the receiver lost it)"),
    }),
    z.strictObject({
      track: z.string().min(1).describe("GPX or NMEA file of a recorded drive (relative paths: the config's folder)"),
      offset_seconds: z
        .number()
        .optional()
        .describe(
          "the clip's start is this far into the track; default: the file's creation_time when the track covers it, else the track's first fix (a live source: added to the frames' time)",
        ),
    }),
  ])
  .describe(
    "a moving camera's position: live from gpsd ({gpsd: host:port, max_age_seconds: 3}) or a recorded drive's GPX or NMEA track ({track: FILE, offset_seconds: N}); see docs/sign-inventory.md",
  );

export const cameraGeoKeys = {
  location: locationSchema.optional(),
  gps: gpsSchema.optional(),
  field_of_view_degrees: z
    .number()
    .min(10)
    .max(170)
    .default(60)
    .describe("the camera's horizontal field of view: its focal length in pixels, for a sign's distance from its box"),
};
