// What a model expects of its input picture and where a frame lands in it: read by the detector's pre-processing
// and by every output format's decoder.

/** How a frame is written into a model's input tensor. */
export interface InputSpec {
  width: number;
  height: number;
  layout: "NCHW" | "NHWC";
  dtype: "float32" | "uint8";
  color: "RGB" | "BGR";
  resize: "letterbox" | "stretch";
  /** fill for the letterbox border, in 0–255 pixel units (YOLOX and Ultralytics use 114) */
  padValue: number;
  /** multiplier from 0–255 pixel values to the model's range (1 for YOLOX, 1/255 for most others; ignored for uint8) */
  scale: number;
}

/**
 * Where the frame landed inside the model input: model = frame * scale + offset. The content covers
 * [offsetX, offsetX + contentWidth) × [offsetY, offsetY + contentHeight); the rest is padding.
 */
export interface Placement {
  scaleX: number;
  scaleY: number;
  offsetX: number;
  offsetY: number;
  contentWidth: number;
  contentHeight: number;
}
