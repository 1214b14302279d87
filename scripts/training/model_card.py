"""Write models/README.md from the measured reports, so the card's numbers are the measured ones.

    /usr/bin/python3 scripts/training/model_card.py --work scripts/training/work \\
        --template scripts/training/card/README.template.md --out models/README.md

Reads from --work: real_holdout.json and real_val.json (eval_real.py on GTSDB frames 00500-00599 and
00400-00499), synthetic.json (eval_real.py --synthetic), classifier_gtsrb_test.json (eval_classifier.py),
bench.txt (bench-model.mjs), agent_val/agent_holdout .txt and .json (scripts/evaluate-signs.mjs output and report). The template's {placeholders} are filled from them; missing reports leave "n/a".
scripts/train-traffic-signs.sh runs it last.
"""
import argparse
import json
import os
import re


class Figures(dict):
    def __missing__(self, key):
        return "n/a"


def real_keys(prefix, r, out):
    f3 = lambda v: f"{v:.3f}"
    out[f"{prefix}_frames"] = str(r["n_images"])
    out[f"{prefix}_signs"] = str(r["n_gt"])
    for k in ("ap_agnostic", "map43", "map4", "recall_fp01", "cls_acc_found"):
        out[f"{prefix}_{k}"] = f3(r[k])
    out[f"{prefix}_threshold"] = f"{r['threshold']:.2f}"
    out[f"{prefix}_n_found"] = str(r["n_found"])
    if "map4_detector_only" in r:
        out[f"{prefix}_map4_det"] = f3(r["map4_detector_only"])
    for k, (rec, n) in r["recall_by_size"].items():
        key = re.sub(r"\W", "_", k.strip("-"))
        out[f"{prefix}_size_{key}"] = f"{rec:.2f}" if rec == rec else "n/a"
        out[f"{prefix}_size_{key}_n"] = str(n)


def per_class_table(r):
    rows = ["| class | AP@0.5 | signs |", "|---|---:|---:|"]
    for name, v in r["per_class"].items():
        if v["n_gt"]:
            rows.append(f"| {name} | {v['ap']:.3f} | {v['n_gt']} |")
    return "\n".join(rows)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--work", required=True)
    ap.add_argument("--template", required=True)
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    fig = Figures()
    load = lambda name: json.load(open(os.path.join(a.work, name))) if os.path.exists(os.path.join(a.work, name)) else None
    for prefix, name in (("h", "real_holdout.json"), ("v", "real_val.json"), ("s", "synthetic.json")):
        r = load(name)
        if r:
            real_keys(prefix, r, fig)
            fig[f"{prefix}_per_class"] = per_class_table(r)
    c = load("classifier_gtsrb_test.json")
    if c:
        fig["c_recut"] = f"{c['recut']['accuracy'] * 100:.1f} %"
        fig["c_as_given"] = f"{c['as_given']['accuracy'] * 100:.1f} %" if "as_given" in c else "n/a"
        fig["c_worst"] = ", ".join(f"{k} {v * 100:.0f} %" for k, v in c["recut"]["worst"])
    for prefix, name in (("ah", "agent_holdout.json"), ("av", "agent_val.json")):
        r = load(name)
        if r:
            fig[f"{prefix}_ap_agnostic"] = f"{r['ap50_class_agnostic']:.3f}"
            fig[f"{prefix}_map43"] = f"{r['map50_43class']:.3f}"
            fig[f"{prefix}_map4"] = f"{r['map50_4category']:.3f}"
            fig[f"{prefix}_recall_fp01"] = f"{r['recall_at_fp']['recall']:.3f}"
            fig[f"{prefix}_threshold"] = f"{r['recall_at_fp']['threshold']:.2f}"
            fig[f"{prefix}_cls_acc"] = f"{r['classification_accuracy_of_found']['accuracy']:.3f}"
            fig[f"{prefix}_cpu_ms"] = f"{r['timing']['cpu_ms_per_frame']:.1f}"
            fig[f"{prefix}_infer_ms"] = f"{r['timing']['infer_ms_per_frame_median']:.1f}"
            fig[f"{prefix}_load"] = f"{r['timing']['loadavg_1m']:.1f}"
    for key in ("agent_val", "agent_holdout"):
        path = os.path.join(a.work, f"{key}.txt")
        fig[key] = open(path).read().strip() if os.path.exists(path) else "(not run: scripts/evaluate-signs.mjs is not in this checkout)"
    bench = os.path.join(a.work, "bench.txt")
    if os.path.exists(bench):
        fig["bench"] = open(bench).read().strip()
        m = re.search(r"\): ([\d.]+) ms per frame", fig["bench"])
        y = re.search(r"yolox_nano.onnx\s+\S+ \S+\s+median ([\d.]+) ms", fig["bench"])
        if m:
            fig["bench_pair"] = m.group(1)
            fig["bench_target"] = "met" if float(m.group(1)) <= 15 else "missed"
        f32 = re.search(r"traffic-signs-fp32.onnx\s+\S+ \S+\s+median ([\d.]+) ms", fig["bench"])
        q8 = re.search(r"traffic-signs.onnx\s+\S+ \S+\s+median ([\d.]+) ms", fig["bench"])
        if f32 and q8:
            fig["bench_fp32"], fig["bench_int8"] = f32.group(1), q8.group(1)
            fig["bench_int8_ratio"] = f"{float(q8.group(1)) / float(f32.group(1)):.2f}"
        if y:
            fig["bench_yolox"] = y.group(1)
    text = open(a.template).read()
    missing = sorted(set(re.findall(r"(?<!\{)\{([a-z0-9_]+)\}(?!\})", text)) - set(fig))
    out = text.format_map(fig)
    with open(a.out, "w") as f:
        f.write(out)
    print(f"{a.out} written" + (f"; no figure for: {', '.join(missing)}" if missing else ""))


if __name__ == "__main__":
    main()
