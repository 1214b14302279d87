"""Write models/README.md from the evaluation report and a benchmark log, so the card's numbers
are the measured ones.

    /usr/bin/python3 scripts/training/model_card.py --eval work/eval.json --bench work/bench.txt \
        --head card/head.md --tail card/tail.md --out models/README.md \
        --dashcam traffic-signs.onnx=work/dashcam_traffic-signs.json \
                  traffic-signs-1024.onnx=work/dashcam_traffic-signs-1024.json

scripts/train-traffic-signs.sh runs it last, with the paths from the repo root.
"""
import argparse
import json

from signs import CLASS_NAMES


def dashcam_section(specs):
    """Side-by-side table of evaluate.py --dashcam reports (1360x800 frames, 20-60 px signs)."""
    if not specs:
        return []
    bad = [s for s in specs if "=" not in s]
    if bad:
        raise SystemExit(f"--dashcam {bad[0]}: expected MODEL=REPORT.json")
    reps = [(name, json.load(open(path))) for name, path in (s.split("=", 1) for s in specs)]
    r0 = reps[0][1]
    lines = ["### Dashcam frames (1360×800, signs 20–60 px)", "",
             f"{r0['images']} held-out frames rendered at 1360×800 (seed {r0['seed']}, the held-out background "
             f"families) with {r0['signs']} signs of 20–60 px, the setting of real dashcam photos; each model gets "
             "them letterboxed to its own input, as the agent does (`evaluate.py --dashcam`). Sizes are in frame pixels.",
             "", "| metric | " + " | ".join(f"`{n}` ({r['input'][1]}×{r['input'][0]})" for n, r in reps) + " |",
             "|---|" + "---:|" * len(reps),
             "| mAP@0.5 | " + " | ".join(f"**{r['map50']:.3f}**" for _, r in reps) + " |",
             "| recall at ≤ 0.1 FP / image | " + " | ".join(f"{r['recall_at_0.1fp']:.3f}" for _, r in reps) + " |"]
    for k in r0["recall_by_size_at_0.1fp"]:
        if r0["recall_by_size_at_0.1fp"][k]["n"]:
            lines.append(f"| recall, signs {k.replace('-inf', '+')} (n = {r0['recall_by_size_at_0.1fp'][k]['n']}) | " +
                         " | ".join(f"{r['recall_by_size_at_0.1fp'][k]['recall']:.3f}" for _, r in reps) + " |")
    return lines + [""]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--eval", required=True)
    ap.add_argument("--bench", required=True)
    ap.add_argument("--head", required=True, help="hand-written markdown before the figures")
    ap.add_argument("--tail", required=True, help="hand-written markdown after the figures")
    ap.add_argument("--dashcam", nargs="*", default=[], metavar="MODEL=REPORT.json",
                    help="evaluate.py --dashcam reports, one per model, shown side by side")
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    r = json.load(open(a.eval))
    bench = open(a.bench).read().strip()
    ok_map = "met" if r["map50"] >= 0.95 else "**missed**"
    lines = [open(a.head).read().rstrip(), "", "## Measured accuracy (held-out synthetic set)", ""]
    if r.get("input") and r["input"] != [288, 512]:
        raise SystemExit(f"{a.eval}: the card's main figures are for the 512x288 model, this report is {r['input']}")
    lines += [
        f"{r['images']} scenes with {r['signs']} signs, rendered with seed {r['seed']} on background families never "
        f"used in training ({', '.join(r['families'])}). Scored on the shipped `.onnx` through onnxruntime-node "
        "(`scripts/training/evaluate.py`), class-aware NMS at IoU 0.5, VOC all-point AP.",
        "",
        "| metric | value | target |",
        "|---|---:|---|",
        f"| mAP@0.5 (mean over 43 classes) | **{r['map50']:.3f}** | ≥ 0.95: {ok_map} |",
        f"| mAP@0.5, signs ≥ 20 px (smaller ones ignored, COCO-style) | {r['map50_min20px']:.3f} | |",
        f"| AP@0.5, class-agnostic (is a sign found at all) | {r['ap50_class_agnostic']:.3f} | |",
        f"| recall at ≤ 0.1 false positives / image | **{r['recall_at_0.1fp']:.3f}** | (score ≥ {r['score_threshold_at_0.1fp']:.2f}, "
        f"{r['fp_at_threshold']} FP on {r['images']} images) |",
    ]
    for k, v in r["recall_by_size_at_0.1fp"].items():
        lines.append(f"| recall at that threshold, signs {k.replace('-inf', '+')} | {v['recall']:.3f} | n = {v['n']} |")
    lines += ["", "![held-out detections](traffic-signs-eval.jpg)", "",
              "*Held-out scenes: green = ground truth, yellow = correct detection, red = false or misclassified "
              "detection, at the 0.1 FP/image threshold.*", "",
              *dashcam_section(a.dashcam),
              "### Per-class AP@0.5", "", "| id | class | AP@0.5 | held-out signs |", "|---:|---|---:|---:|"]
    for c, name in enumerate(CLASS_NAMES):
        v = r["per_class"][name]
        lines.append(f"| {c} | {name} | {v['ap']:.3f} | {v['n_gt']} |")
    lines += ["", "## Measured speed", "",
              "onnxruntime-node 1.30, 1 intra-op thread, sequential execution, median of interleaved runs "
              "(`node scripts/bench-model.mjs --runs 100`), all models in the same process on the same machine:",
              "", "```", bench, "```", ""]
    lines.append(open(a.tail).read().rstrip())
    open(a.out, "w").write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
