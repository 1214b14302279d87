import type { TilesConfig } from "../config/tiles-schema.js";
import type { DetectFilter } from "./detect-filter.js";
import type { Box } from "../core/geometry.js";
import type { DetectInput, DetectResult } from "./detector.js";
import { mergeTileDetections, tileRects } from "./tiles.js";

/**
 * One camera's detection, on the whole frame or on tiles of it (`detect.tiles`). Each tile's rows are copied
 * into a reused shared buffer (row copies, no pixel loop) and sent to the detector as a frame of its own, which
 * the worker fits to the model's input as usual; the boxes come back offset to frame pixels and are merged.
 */
export class TiledDetection {
  private staging: Uint8Array[] = [];
  private rects: Box[] = [];
  private for: { width: number; height: number; tiles: TilesConfig } | undefined;

  async detect(
    detect: (frame: DetectInput, filter: DetectFilter) => Promise<DetectResult>,
    frame: DetectInput,
    filter: DetectFilter & { tiles?: TilesConfig | undefined },
  ): Promise<DetectResult & { tiles: number }> {
    const tiles = filter.tiles;
    if (!tiles) {
      // The detector's own result object gains the count: no copy of it per frame.
      const result = (await detect(frame, filter)) as DetectResult & { tiles: number };
      result.tiles = 1;
      return result;
    }
    const rects = this.rectsFor(frame.width, frame.height, tiles);
    const results = await Promise.all(
      rects.map((r, i) => {
        const w = r[2] - r[0];
        const h = r[3] - r[1];
        const view = this.staging[i];
        const rowBytes = frame.width * 3;
        for (let y = 0; y < h; y++) {
          const from = (r[1] + y) * rowBytes + r[0] * 3;
          view.set(frame.data.subarray(from, from + w * 3), y * w * 3);
        }
        return detect({ data: view, width: w, height: h }, filter).then((res) => ({ res, r }));
      }),
    );
    let inferMs = 0;
    const all = [];
    for (const { res, r } of results) {
      inferMs += res.inferMs;
      for (const d of res.detections) all.push({ ...d, box: [d.box[0] + r[0], d.box[1] + r[1], d.box[2] + r[0], d.box[3] + r[1]] as Box });
    }
    return { detections: mergeTileDetections(all, filter.nms_iou, tiles.merge_ios, filter.nms_class_agnostic ?? false), inferMs, tiles: rects.length };
  }

  /** Tiles and their buffers are worked out once per frame size and tiles config, not per frame. */
  private rectsFor(width: number, height: number, tiles: TilesConfig): Box[] {
    const f = this.for;
    // a reload hands over a new tiles object, so comparing references is enough
    if (!f || f.width !== width || f.height !== height || f.tiles !== tiles) {
      this.rects = tileRects(width, height, tiles);
      this.staging = this.rects.map((r) => new Uint8Array(new SharedArrayBuffer((r[2] - r[0]) * (r[3] - r[1]) * 3)));
      this.for = { width, height, tiles };
    }
    return this.rects;
  }
}
