#!/usr/bin/env bash
# Fetches the third-party COCO models eva's example configs use, from their upstream repositories at pinned
# commits, and checks them against known hashes. (models/traffic-signs.onnx is ours and ships in the repo.)
# Usage: scripts/download-models.sh [DEST_DIR]   (default: models/)
set -euo pipefail
dest=${1:-"$(dirname "$0")/../models"}
mkdir -p "$dest"

fetch() { # name url sha256
  local out="$dest/$1"
  if [ -f "$out" ] && echo "$3  $out" | sha256sum -c --status; then echo "$1: already there"; return; fi
  echo "$1: downloading $2"
  curl -fL --retry 3 -o "$out.part" "$2"
  if ! echo "$3  $out.part" | sha256sum -c --status; then
    echo "$1: checksum mismatch; not installed" >&2; rm -f "$out.part"; return 1
  fi
  mv "$out.part" "$out"
}

# YOLOX-Nano (Apache-2.0), input 1x3x416x416 BGR 0-255, letterbox with 114.
fetch yolox_nano.onnx \
  https://github.com/Kazuhito00/YOLOX-ONNX-TFLite-Sample/raw/3d4f1119/model/yolox_nano.onnx \
  695e750a5d5754bb5a8d5325643b59282191a7e7a564e435a415fd3c578eab14
# FastestDet (BSD-3-Clause), input 1x3x352x352 BGR /255, stretched.
fetch fastestdet.onnx \
  https://github.com/dog-qiuqiu/FastestDet/raw/50473cd1/example/onnx-runtime/FastestDet.onnx \
  31cb14c017fce347cb4c846ec62fdf00d76bb3beecdf4be21e7116ac67feb880
fetch coco.names \
  https://github.com/dog-qiuqiu/FastestDet/raw/50473cd1/example/onnx-runtime/coco.names \
  634a1132eb33f8091d60f2c346ababe8b905ae08387037aed883953b7329af84
