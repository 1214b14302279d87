import { Candidates, mapToFrame } from "../formats/candidates.js";
import { classThresholds, type DetectFilter } from "./detect-filter.js";
import type { Box } from "../core/geometry.js";
import type { Detection } from "../core/detection.js";
import { detectorFormat, type DetectorFormat } from "../formats/registry.js";
import { inputSpecOf, type ModelInfo } from "./model-info.js";
import {
  allocateModelInput,
  fillPadding,
  isIdentityPlacement,
  placeFrame,
  writeModelInput,
  writeScaledInput,
  type InputSpec,
  type Placement,
  type ScaledPicture,
  type ScaledYuv,
} from "./model-input.js";
import { yuv420ToInput, yuv420ToRgb, type Yuv420 } from "../core/pixels.js";
import { nonMaxSuppression } from "./non-max-suppression.js";

/**
 * Everything around one model's inference that needs no runtime: frame → input tensor data, output tensor
 * → detections in frame pixels. Owns the buffers, sized once, that every frame reuses.
 */
export class DetectionPipeline {
  readonly spec: InputSpec;
  private readonly format: DetectorFormat;
  /** the input tensor's data, rewritten by `prepare` */
  readonly input: Float32Array | Uint8Array;
  private readonly thresholds: Float32Array;
  private candidates = new Candidates(0);
  private order = new Int32Array(0);
  private thresholdsFor: DetectFilter | null = null;
  /** content size the border was last written for (width × 65536 + height); -1: unknown */
  private paddedFor = -1;
  private readonly reuse: ScaledPicture = { data: new Uint8Array(0), width: 0, height: 0, stride: 0 };
  /** a YUV picture's colours, converted here before the layout conversion; grown once, reused */
  private rgb = new Uint8Array(0);
  private readonly rgbPicture: ScaledPicture = { data: new Uint8Array(0), width: 0, height: 0, stride: 0 };
  /** a camera's frames keep one size: its placement is worked out once, not per frame */
  private placed: { width: number; height: number; placement: Placement } | null = null;

  constructor(readonly info: ModelInfo) {
    const format = detectorFormat(info.format);
    if (!format) throw new Error(`no detector format '${info.format}'`);
    this.format = format;
    this.spec = inputSpecOf(info);
    this.input = allocateModelInput(this.spec);
    this.thresholds = new Float32Array(info.labels.length);
  }

  private placementFor(width: number, height: number): Placement {
    const c = this.placed;
    if (c && c.width === width && c.height === height) return c.placement;
    const placement = placeFrame(width, height, this.spec);
    this.placed = { width, height, placement };
    return placement;
  }

  /** Writes a packed RGB24 frame into `input`; the placement maps boxes back in `finish`. */
  prepare(rgb: Uint8Array, width: number, height: number): Placement {
    const placement = this.placementFor(width, height);
    if (isIdentityPlacement(placement, this.spec)) {
      // The frame is the model's size already: a conversion, no resize (a plain copy for uint8 RGB models).
      this.reuse.data = rgb;
      this.reuse.width = width;
      this.reuse.height = height;
      this.reuse.stride = width * 3;
      writeScaledInput(this.reuse, this.spec, this.input);
      this.paddedFor = -1; // it covered the whole input, border included
      return placement;
    }
    writeModelInput(rgb, width, height, this.spec, placement, this.input);
    this.paddedFor = -1; // the resize wrote the border itself, over the whole input
    return placement;
  }

  /** `prepare` for a planar YUV 4:2:0 frame (its colours converted first, into a reused buffer). */
  prepareYuv(yuv: Yuv420, width: number, height: number): Placement {
    return this.prepare(this.toRgb(yuv).data, width, height);
  }

  /** `prepareScaled` for a YUV picture: colours, layout and range converted in one pass into the input. */
  prepareScaledYuv(src: ScaledYuv, width: number, height: number): Placement {
    const { spec } = this;
    const placement = this.checkScaled(src, width, height);
    const scale = spec.dtype === "uint8" ? 1 : spec.scale;
    yuv420ToInput(src.yuv, this.input, spec.width, spec.layout === "NCHW", spec.width * spec.height, spec.color === "BGR", scale);
    return placement;
  }

  private toRgb(yuv: Yuv420): ScaledPicture {
    const bytes = yuv.width * yuv.height * 3;
    if (this.rgb.length < bytes) this.rgb = new Uint8Array(bytes);
    yuv420ToRgb(yuv, this.rgb);
    const p = this.rgbPicture;
    p.data = this.rgb.length === bytes ? this.rgb : this.rgb.subarray(0, bytes);
    p.width = yuv.width;
    p.height = yuv.height;
    p.stride = yuv.width * 3;
    return p;
  }

  /** Whether a scaled picture of this size is what this model wants for a width × height frame. */
  fitsScaled(src: { width: number; height: number }, width: number, height: number): boolean {
    const p = this.placementFor(width, height);
    return src.width === p.contentWidth && src.height === p.contentHeight;
  }

  /**
   * Writes a picture ffmpeg already scaled to the model's content size for a width × height frame; boxes map
   * back to that frame. Throws when the picture is not the size the placement wants (a caller's bug).
   */
  prepareScaled(src: ScaledPicture, width: number, height: number): Placement {
    const placement = this.checkScaled(src, width, height);
    writeScaledInput(src, this.spec, this.input);
    return placement;
  }

  /** The placement a scaled picture must match, with the border written once per content size. */
  private checkScaled(src: { width: number; height: number }, width: number, height: number): Placement {
    const placement = this.placementFor(width, height);
    if (src.width !== placement.contentWidth || src.height !== placement.contentHeight) {
      throw new Error(
        `scaled picture ${src.width}×${src.height} does not match the model's ${placement.contentWidth}×${placement.contentHeight} for a ${width}×${height} frame`,
      );
    }
    const key = placement.contentWidth * 65536 + placement.contentHeight;
    if (this.paddedFor !== key) {
      fillPadding(this.spec, this.input);
      this.paddedFor = key;
    }
    return placement;
  }

  finish(output: Float32Array, dims: readonly number[], filter: DetectFilter, placement: Placement, width: number, height: number): Detection[] {
    const { info, thresholds } = this;
    // The worker keeps each camera's filter as one object from reconfigure to reconfigure: same object, same thresholds.
    if (filter !== this.thresholdsFor) {
      classThresholds(filter, info.labels, thresholds);
      this.thresholdsFor = filter;
    }
    const c = this.candidatesFor(dims);
    const { inputWidth: w, inputHeight: h } = info;
    this.format.decode(output, dims, w, h, thresholds, c);
    mapToFrame(c, placement, width, height);
    const kept = nonMaxSuppression(c, filter.nms_iou, this.order, filter.nms_class_agnostic);
    const detections: Detection[] = [];
    for (let k = 0; k < kept; k++) {
      const i = this.order[k];
      const b = i * 4;
      const classId = c.classIds[i];
      const box: Box = [c.boxes[b], c.boxes[b + 1], c.boxes[b + 2], c.boxes[b + 3]];
      detections.push({ label: info.labels[classId] ?? `class${classId}`, classId, score: c.scores[i], box });
    }
    return detections;
  }

  /** Output dims are only final at run time for models exported with dynamic axes, so buffers grow then. */
  private candidatesFor(dims: readonly number[]): Candidates {
    if (this.format.classCount(dims) !== this.thresholds.length) {
      throw new Error(`output shape [${dims.join(", ")}] does not match the ${this.thresholds.length} classes the model declared`);
    }
    const anchors = this.format.anchorCount(dims);
    if (this.candidates.capacity < anchors) {
      this.candidates = new Candidates(anchors);
      this.order = new Int32Array(anchors);
    }
    return this.candidates;
  }
}
