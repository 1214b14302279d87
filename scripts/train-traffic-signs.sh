#!/usr/bin/env bash
# Reproduce models/traffic-signs.onnx from a seed, then score and time it.
#   scripts/train-traffic-signs.sh [seed]   (default 1; ~5 min data + ~35 min training on 2 cores)
set -euo pipefail
cd "$(dirname "$0")/.."
seed="${1:-1}"
/usr/bin/python3 scripts/training/train.py --seed "$seed"
/usr/bin/python3 scripts/training/evaluate.py --model models/traffic-signs.onnx
node scripts/bench-model.mjs --runs 100
