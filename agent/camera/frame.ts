/**
 * One decoded camera frame as the camera stage hands it on: packed RGB24 at the camera's detect size.
 * `data` is a view into a SharedArrayBuffer slot owned by the camera's frame pool, so the detector worker
 * reads it without a copy; it is valid until the consumer calls `release()`.
 */
export interface Frame {
  camera: string;
  /** frame number since this camera's ffmpeg was (re)started */
  seq: number;
  /** wall-clock time the last byte of the frame arrived, ms since epoch */
  time: number;
  width: number;
  height: number;
  data: Uint8Array;
  /**
   * the same picture scaled by ffmpeg to what the detector wants (when it differs from the frame), packed RGB24
   * rows `stride` bytes apart, in the same slot as `data`
   */
  scaled?: { data: Uint8Array; width: number; height: number; stride: number };
  release(): void;
}
