import { writeFileSync } from "node:fs";
import { grabFrame, redactCredentials } from "../camera/ffmpeg.js";
import { cameraShapes } from "../config/analytics-schema.js";
import { checkModelFile } from "../check/config-check.js";
import { loadConfigFile } from "../config/load.js";
import { drawOverlay } from "../preview/overlay.js";
import { parse, UsageError } from "./args.js";

/** `eva preview`: one frame of a camera with its zones, lines and masks drawn, to check them by eye. */
export async function preview(args: string[]): Promise<number> {
  const { values } = parse(args, { config: { type: "string", short: "c" }, camera: { type: "string" }, out: { type: "string", short: "o" } });
  if (!values.config || !values.camera || !values.out) throw new UsageError("usage: eva preview --config FILE --camera NAME --out FILE.png");
  const { config } = loadConfigFile(values.config);
  const cam = config.cameras[values.camera];
  if (!cam) throw new UsageError(`no camera '${values.camera}' in ${values.config}; cameras: ${Object.keys(config.cameras).join(", ")}`);

  // The frame is drawn at the detect size: zones and lines are in detect-frame pixels.
  let { width, height } = cam.detect;
  if (!width || !height) {
    const facts = await checkModelFile(config.models[cam.detect.model]!.path);
    if (typeof facts === "string" || !facts.inputSize) {
      throw new UsageError(
        `camera '${values.camera}': set detect.width and detect.height (${typeof facts === "string" ? facts : "the model's input size is dynamic"})`,
      );
    }
    width ??= facts.inputSize.width;
    height ??= facts.inputSize.height;
  }
  let rgb: Buffer;
  try {
    rgb = await grabFrame({ source: cam.source, width, height, rtspTransport: cam.rtsp_transport, timeoutSeconds: cam.stall_seconds });
  } catch (err) {
    throw Object.assign(new Error(`camera '${values.camera}': no frame from ${redactCredentials(cam.source)}: ${(err as Error).message}`), {
      code: "EVA_PREVIEW",
    });
  }
  const shapes = cameraShapes(cam);
  writeFileSync(values.out, await drawOverlay(rgb, width, height, shapes));
  process.stdout.write(`${values.out}: ${width}×${height}, ${shapes.zones.length} zones, ${shapes.lines.length} lines, ${shapes.masks.length} masks\n`);
  return 0;
}
