"""Run the exported detector over a video the way the agent would, and show what it finds.

    /usr/bin/python3 scripts/training/preview_clip.py scripts/demo/traffic-signs.mp4 [--sheet out.jpg]

Frames are letterboxed to the model input (pad 114, bottom/right) by ffmpeg, scored through
onnxruntime-node (predict-onnx.mjs), reduced by class-aware NMS, and summarised per frame.
"""
import argparse
import os
import subprocess
import sys

import cv2
import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from evaluate import model_input_size, nms_per_image  # noqa: E402
from signs import CLASS_NAMES  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("clip")
    ap.add_argument("--model", default=os.path.join(HERE, "..", "..", "models", "traffic-signs.onnx"))
    ap.add_argument("--threshold", type=float, default=0.4)
    ap.add_argument("--sheet", default=None, help="contact sheet of every n-th frame (JPEG)")
    ap.add_argument("--every", type=int, default=12)
    ap.add_argument("--work", default=os.path.join(HERE, "work"))
    args = ap.parse_args()
    h, w = model_input_size(args.model)
    raw = os.path.join(args.work, "clip.u8")
    vf = f"scale={w}:{h}:force_original_aspect_ratio=decrease,pad={w}:{h}:0:0:color=0x727272"
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", args.clip, "-vf", vf, "-f", "rawvideo", "-pix_fmt", "rgb24", raw],
                   check=True)
    n = os.path.getsize(raw) // (h * w * 3)
    out = os.path.join(args.work, "clip_predictions.f32")
    subprocess.run(["node", os.path.join(HERE, "predict-onnx.mjs"), os.path.abspath(args.model), raw, str(n), str(h), str(w),
                    out, "0.05"], check=True)
    dets = nms_per_image(np.fromfile(out, np.float32).reshape(-1, 7), n)
    frames = np.memmap(raw, np.uint8, "r", shape=(n, h, w, 3))
    seen = {}
    tiles = []
    for i, d in enumerate(dets):
        d = d[d[:, 4] >= args.threshold]
        for x1, y1, x2, y2, s, c in d:
            seen.setdefault(int(c), []).append((i, round(float(s), 2), int(max(x2 - x1, y2 - y1))))
        if args.sheet and i % args.every == 0:
            img = cv2.cvtColor(np.array(frames[i]), cv2.COLOR_RGB2BGR)
            for x1, y1, x2, y2, s, c in d:
                cv2.rectangle(img, (int(x1), int(y1)), (int(x2), int(y2)), (0, 220, 255), 1)
                cv2.putText(img, f"{CLASS_NAMES[int(c)][:22]} {s:.2f}", (int(x1) - 40, max(8, int(y1) - 3)),
                            cv2.FONT_HERSHEY_SIMPLEX, 0.32, (0, 220, 255), 1, cv2.LINE_AA)
            tiles.append(img)
    print(f"{n} frames, detections with score >= {args.threshold}:")
    for c, hits in sorted(seen.items(), key=lambda kv: kv[1][0][0]):
        print(f"  {c:2d} {CLASS_NAMES[c]:<45} frames {hits[0][0]}-{hits[-1][0]} ({len(hits)} hits, "
              f"max score {max(s for _, s, _ in hits):.2f}, sizes {min(z for *_, z in hits)}-{max(z for *_, z in hits)} px)")
    if args.sheet and tiles:
        while len(tiles) % 3:
            tiles.append(np.zeros_like(tiles[0]))
        cv2.imwrite(args.sheet, np.vstack([np.hstack(tiles[k:k + 3]) for k in range(0, len(tiles), 3)]),
                    [cv2.IMWRITE_JPEG_QUALITY, 80])


if __name__ == "__main__":
    main()
