#!/usr/bin/env bash
# What eva gets from this machine's GPU, side by side in one run: `eva bench` with providers [tensorrt, cuda, cpu]
# FP32 and FP16, [cuda, cpu] and [cpu], for our traffic-sign models and YOLOX-Nano, with the nodes each provider
# ran; trtexec on the same file with the same precision as the yardstick (eva's TensorRT inference should be
# within 10 % of it); then a second start to show the TensorRT engine cache hit. For any NVIDIA machine whose onnxruntime-node has the GPU providers (x64 with
# CUDA 12, or a Jetson with the binding of scripts/jetson/). Written without a GPU to try it on: each step says
# what it could not do and the run goes on.
#
#   npm ci && npm run build            # once
#   scripts/gpu-check.sh [SECONDS]     # SECONDS per bench run, default 10
#   YOLOX=/path/yolox_nano.onnx COCO_NAMES=/path/coco.names scripts/gpu-check.sh
set -uo pipefail

cd "$(dirname "$0")/.." || exit 1
root=$(pwd)
seconds=${1:-10}
eva=(node "$root/dist/agent/cli/main.js")
work=$(mktemp -d "${TMPDIR:-/tmp}/eva-gpu-check.XXXXXX")
cache="$work/trt-cache"
results="$work/results.jsonl"
: > "$results"
echo "eva gpu-check: work folder $work (kept: logs per run)"

[ -f dist/agent/cli/main.js ] || { echo "dist/ missing: run npm ci && npm run build first"; exit 1; }
command -v ffmpeg >/dev/null || { echo "ffmpeg missing"; exit 1; }

echo
echo "== machine"
uname -m
[ -f /etc/nv_tegra_release ] && head -1 /etc/nv_tegra_release
[ -r /proc/device-tree/model ] && tr -d '\0' < /proc/device-tree/model && echo
command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>/dev/null
trt=$(ls /usr/lib/*-linux-gnu/libnvinfer.so.*.*.* 2>/dev/null | sed 's/.*libnvinfer\.so\.//' | sort | tail -1)
echo "TensorRT: ${trt:-not found (libnvinfer.so.X.Y.Z)}"
command -v nvcc >/dev/null && nvcc --version | tail -1
[ -f /opt/eva/BUILD-INFO.txt ] && cat /opt/eva/BUILD-INFO.txt
# A Jetson's figures depend on its power mode and whether its clocks are pinned: say which.
if command -v nvpmodel >/dev/null; then echo "power mode: $(nvpmodel -q 2>&1 | tr '\n' ' ')"; else echo "power mode: nvpmodel not found"; fi
if command -v jetson_clocks >/dev/null; then echo "clocks (jetson_clocks --show):"; jetson_clocks --show 2>&1 | sed 's/^/  /'; else echo "clocks: jetson_clocks not found"; fi
trtexec=${TRTEXEC:-$(command -v trtexec || ls /opt/eva/bin/trtexec /usr/src/tensorrt/bin/trtexec 2>/dev/null | head -1)}
echo "trtexec: ${trtexec:-not found (TRTEXEC=/path/to/trtexec)}"
echo "onnxruntime-node providers: $(node -p 'require("onnxruntime-node").listSupportedBackends().map(b => b.name + (b.bundled ? "" : "*")).join(", ")' 2>&1 | tail -1)  (* = libraries found at session creation, not bundled)"
echo "ffmpeg hardware decoders: $(ffmpeg -hide_banner -decoders 2>/dev/null | awk '/nvv4l2dec|nvmpi|cuvid/ {print $2}' | tr '\n' ' ')"
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"

# A 1280x720 H.264 clip: bench loops it as fast as it decodes.
clip="$work/clip.mp4"
ffmpeg -hide_banner -loglevel error -f lavfi -i "testsrc2=size=1280x720:rate=25" -t 10 -c:v libx264 -pix_fmt yuv420p "$clip" \
  || ffmpeg -hide_banner -loglevel error -f lavfi -i "testsrc2=size=1280x720:rate=25" -t 10 -pix_fmt yuv420p "$clip" \
  || { echo "could not make a test clip with ffmpeg"; exit 1; }

models=()
# The sign detector three ways: the CPU's int8 file (uint8 Q/DQ: TensorRT cannot build that as int8, so its
# nodes fall to CUDA and the CPU, which the node counts show), the int8 file quantized for TensorRT (signed,
# zero point 0: built as int8), and the float source (FP16 in the fp16 rows).
models+=("signs|$root/models/traffic-signs.onnx||640|360")
models+=("signs-tensorrt|$root/models/traffic-signs-tensorrt.onnx||640|360")
models+=("signs-fp32|$root/models/traffic-signs-fp32.onnx||640|360")
yolox=${YOLOX:-$root/../shared/models/yolox_nano.onnx}
names=${COCO_NAMES:-$(dirname "$yolox")/coco.names}
if [ -f "$yolox" ] && [ -f "$names" ]; then
  models+=("yolox-nano|$yolox|$names|640|360")
else
  echo "YOLOX-Nano not found at $yolox (scripts/download-models.sh DIR, then YOLOX=DIR/yolox_nano.onnx): skipped"
fi

# One config per run, with the providers a deployment lists from that one on: nodes the first provider does not
# take run on the next (the node counts say where); a row whose first provider did not load says so.
config() { # name model labels width height providers fp16
  local f="$work/$1.yaml" labels=""
  [ -n "$3" ] && labels=", labels: $3"
  cat > "$f" <<YAML
device: {id: gpu-check}
mqtt: {url: "mqtt://127.0.0.1:1"}
storage: {db: $work/$1.db, snapshots: $work/$1-snapshots}
models:
  m: {path: $2$labels}
detector:
  providers: [$6]
  threads: 2
  tensorrt: {fp16: $7, engine_cache: $cache, timing_cache: true}
cameras:
  clip:
    source: $clip
    fps: 25
    hwaccel: auto
    detect: {model: m, width: $4, height: $5, min_score: 0.5}
YAML
  echo "$f"
}

bench() { # label model-name config wanted-provider
  local log="$work/$1.log"
  echo "-- $1"
  if timeout $((seconds * 3 + 1800)) env EVA_LOG_LEVEL=info "${eva[@]}" bench --config "$3" --seconds "$seconds" --json > "$work/$1.json" 2> "$log"; then
    local built hit
    built=$(grep -o '"build_s":[0-9.]*' "$log" | head -1 | cut -d: -f2)
    hit=$(grep -o '"load_s":[0-9.]*' "$log" | head -1 | cut -d: -f2)
    node -e '
      const fs = require("fs");
      const [label, model, built, hit, json, log, wanted] = process.argv.slice(1);
      const r = JSON.parse(fs.readFileSync(json, "utf8").trim().split("\n").pop());
      // the detector log line "nodes per execution provider": where onnxruntime placed the graph
      const placed = fs.readFileSync(log, "utf8").split("\n").filter((l) => l.includes("nodes per execution provider")).map((l) => JSON.parse(l).nodes)[0];
      const nodes = placed ? Object.entries(placed).map(([p, v]) => `${p.replace("ExecutionProvider", "")}:${v.nodes}` + (p.startsWith("CPU") ? `(${v.ops.join(",")})` : "")).join(" ") : "";
      const fellBack = wanted && r.provider !== wanted ? `${wanted} did not load` : "";
      console.log(JSON.stringify({ ...r, label, model, nodes, note: fellBack, engine_built_s: built || null, engine_hit_s: hit || null }));
    ' "$1" "$2" "$built" "$hit" "$work/$1.json" "$log" "${4:-}" >> "$results" || echo "   no JSON from bench (see $log)"
  else
    echo "   failed: $(grep -v '^{' "$log" | tail -2 | tr '\n' ' ')$(grep -o '"err":"[^"]*"' "$log" | tail -1)"
    echo "{\"label\":\"$1\",\"model\":\"$2\",\"failed\":true}" >> "$results"
  fi
}

# trtexec on the same file, input size (the model's own, fixed) and precision as eva's FP16 TensorRT row: a Q/DQ
# model also gets --int8, as eva sets trt_int8_enable for it. Latency median = host-to-device copy, inference
# and copy back, which is what eva's infer time also holds.
trtexec_row() { # label model-name path
  local log="$work/$1.log" flags=(--fp16)
  echo "-- $1"
  [ -n "$trtexec" ] || { echo "   trtexec not found: skipped"; echo "{\"label\":\"$1\",\"model\":\"$2\",\"failed\":true}" >> "$results"; return; }
  grep -q QuantizeLinear "$3" && flags+=(--int8)
  if timeout 1800 "$trtexec" --onnx="$3" "${flags[@]}" --duration="$seconds" --warmUp=1000 > "$log" 2>&1; then
    local median
    median=$(grep -m1 'Latency: min' "$log" | sed -n 's/.*median = \([0-9.]*\) ms.*/\1/p')
    echo "{\"label\":\"$1\",\"model\":\"$2\",\"provider\":\"trtexec ${flags[*]}\",\"infer_ms_p50\":${median:-null}}" >> "$results"
  else
    echo "   failed: $(tail -2 "$log" | tr '\n' ' ')"
    echo "{\"label\":\"$1\",\"model\":\"$2\",\"failed\":true}" >> "$results"
  fi
}

echo
echo "== benches ($seconds s each; a first TensorRT run builds its engine, which takes minutes on a Jetson)"
for m in "${models[@]}"; do
  IFS='|' read -r name path labels w h <<< "$m"
  bench "$name-trt-fp32" "$name" "$(config "$name-trt-fp32" "$path" "$labels" "$w" "$h" "tensorrt, cuda, cpu" false)" tensorrt
  bench "$name-trt-fp16" "$name" "$(config "$name-trt-fp16" "$path" "$labels" "$w" "$h" "tensorrt, cuda, cpu" true)" tensorrt
  trtexec_row "$name-trtexec" "$name" "$path"
  bench "$name-cuda" "$name" "$(config "$name-cuda" "$path" "$labels" "$w" "$h" "cuda, cpu" false)" cuda
  bench "$name-cpu" "$name" "$(config "$name-cpu" "$path" "$labels" "$w" "$h" cpu false)" cpu
  # Second start with the same cache: the engine must load, not build.
  bench "$name-trt-fp16-again" "$name" "$work/$name-trt-fp16.yaml" tensorrt
done

echo
echo "== results (infer = the detector's round trip, ms; cpu_ms = CPU per analysed frame, all threads, from /proc;"
echo "   efficiency = pipeline_fps / (1000 / infer_ms_p50): how close the whole pipeline comes to its detector's rate)"
node -e '
  const rows = require("fs").readFileSync(process.argv[1], "utf8").trim().split("\n").filter(Boolean).map((l) => JSON.parse(l));
  for (const r of rows) {
    if (r.failed) continue;
    r.cpu_ms = r.eva_cpu_ms_per_frame?.total;
    r.efficiency = r.pipeline_fps && r.infer_ms_p50 ? (r.pipeline_fps / (1000 / r.infer_ms_p50)).toFixed(2) : "";
  }
  const cols = ["label", "provider", "infer_ms_p50", "infer_ms_p95", "pipeline_fps", "cpu_ms", "efficiency", "engine_built_s", "engine_hit_s", "nodes", "note"];
  const cell = (r, c) => (r.failed ? (c === "label" ? r.label : c === "provider" ? "unavailable" : "") : String(r[c] ?? ""));
  const width = cols.map((c) => Math.max(c.length, ...rows.map((r) => cell(r, c).length)));
  const line = (vals) => vals.map((v, i) => v.padEnd(width[i])).join("  ");
  console.log(line(cols));
  for (const r of rows) console.log(line(cols.map((c) => cell(r, c))));
  for (const m of [...new Set(rows.map((r) => r.model))]) {
    // a row whose provider did not load (it ran on the next one) is no figure for that provider
    const get = (s) => rows.find((r) => r.label === `${m}-${s}` && !r.failed && !r.note);
    const cpu = get("cpu"), fp16 = get("trt-fp16"), fp32 = get("trt-fp32"), cuda = get("cuda"), again = get("trt-fp16-again"), yard = get("trtexec");
    const ratio = (a, b) => (a && b && a.infer_ms_p50 > 0 ? (b.infer_ms_p50 / a.infer_ms_p50).toFixed(2) + "x" : "n/a");
    // the target: eva'"'"'s TensorRT inference within 10 % of trtexec'"'"'s on the same engine settings
    const over = fp16 && yard && yard.infer_ms_p50 > 0 ? fp16.infer_ms_p50 / yard.infer_ms_p50 - 1 : null;
    console.log(`${m}: eva trt-fp16 vs trtexec: ${over === null ? "n/a" : `${fp16.infer_ms_p50} vs ${yard.infer_ms_p50} ms, ${over >= 0 ? "+" : ""}${(over * 100).toFixed(0)} % (${over <= 0.1 ? "within" : "OUTSIDE"} the 10 % target)`}`);
    console.log(`${m}: p50 speed-up vs cpu  trt-fp16 ${ratio(fp16, cpu)}  trt-fp32 ${ratio(fp32, cpu)}  cuda ${ratio(cuda, cpu)};` +
      `  engine cache: first start built in ${fp16?.engine_built_s ?? "?"} s, second start ${again?.engine_hit_s ? "loaded in " + again.engine_hit_s + " s (hit)" : again?.engine_built_s ? "BUILT AGAIN (no hit)" : "?"}`);
  }
' "$results"
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
