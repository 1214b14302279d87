#!/usr/bin/env bash
# Reproduce models/traffic-signs.onnx from a seed, then score and time it.
#   scripts/train-traffic-signs.sh [seed]        (default 1)
# Seven stages, exactly as the shipped model was made (see scripts/training/README.md):
#   1. 800 steps of a 2400-step cosine schedule from scratch;
#   2. its EMA weights annealed for 500 steps (lr 3.4e-3 -> ~0) with a fresh optimizer;
#   3. a warm restart from stage 2's EMA weights: 1300 steps, lr 3e-3 -> ~0;
#   4. a warm restart from stage 3's EMA weights: 1500 steps, lr 2.5e-3 -> ~0;
#   5. a warm restart from stage 4's EMA weights: 900 steps, lr 2e-3 -> ~0;
#   6. a warm restart from stage 5's EMA weights: 1400 steps, lr 1.5e-3 -> ~0;
#   7. a warm restart from stage 6's EMA weights: 1200 steps, lr 1.2e-3 -> ~0.
# About 3 min of scene rendering plus 110-210 min of training on 2 cores, depending on load.
set -euo pipefail
cd "$(dirname "$0")/.."
seed="${1:-1}"
work=scripts/training/work
/usr/bin/python3 scripts/training/train.py --seed "$seed" --iters 2400 --stop-at 800 \
  --ckpt "$work/stage1_s$seed.pt" --out "$work/stage1_s$seed.onnx"
# Continuation stages: stage, steps, peak learning rate. Each starts from the previous stage's checkpoint;
# the last one writes the shipped model.
stages="2 500 3.4e-3
3 1300 3e-3
4 1500 2.5e-3
5 900 2e-3
6 1400 1.5e-3
7 1200 1.2e-3"
last=7
while read -r stage iters lr; do
  out="$work/stage${stage}_s$seed.onnx"
  [ "$stage" = "$last" ] && out=models/traffic-signs.onnx
  /usr/bin/python3 scripts/training/train.py --seed "$seed" --stage "$stage" --init "$work/stage$((stage - 1))_s$seed.pt" \
    --iters "$iters" --lr "$lr" --warmup 30 --final-lr 0.01 --ckpt "$work/stage${stage}_s$seed.pt" --out "$out" </dev/null
done <<< "$stages"
/usr/bin/python3 scripts/training/evaluate.py --model models/traffic-signs.onnx
node scripts/bench-model.mjs --runs 100
