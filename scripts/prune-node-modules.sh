#!/bin/sh
# Cuts a production node_modules down to what runs on this platform: onnxruntime-node ships its native build for
# every OS and CPU (darwin/win32/linux × x64/arm64, ~290 MB, of which one ~25–45 MB folder is used), and
# fluent-ffmpeg ships its test-coverage report and old docs. Run after `npm ci && npm prune --omit=dev` in an
# image (Dockerfile.jetson can call it the same way), never in a developer's checkout that other platforms share.
#
#   scripts/prune-node-modules.sh [NODE_MODULES] [--platform linux] [--arch x64|arm64] [--dry-run]
#
# Platform and arch default to the machine's (node's process.platform / process.arch); a cross-built image
# passes the target's. Exits non-zero, removing nothing, if the target's onnxruntime build is not there.
set -eu

dir=node_modules
platform=$(node -p process.platform)
arch=$(node -p process.arch)
dry=false
while [ $# -gt 0 ]; do
  case "$1" in
    --platform) platform=$2; shift 2 ;;
    --arch) arch=$2; shift 2 ;;
    --dry-run) dry=true; shift ;;
    -*) echo "prune-node-modules: unknown option $1" >&2; exit 2 ;;
    *) dir=$1; shift ;;
  esac
done
[ -d "$dir" ] || { echo "prune-node-modules: no folder $dir" >&2; exit 2; }

ort="$dir/onnxruntime-node/bin"
keep=$(ls -d "$ort"/napi-v*/"$platform"/"$arch" 2>/dev/null | head -1 || true)
if [ -d "$ort" ] && [ -z "$keep" ]; then
  echo "prune-node-modules: no onnxruntime-node build for $platform/$arch under $ort; nothing removed" >&2
  exit 1
fi

before=$(du -sk "$dir" | cut -f1)
remove() {
  [ -e "$1" ] || return 0
  if $dry; then echo "would remove $1 ($(du -sh "$1" | cut -f1))"; else rm -rf "$1"; echo "removed $1"; fi
}
if [ -d "$ort" ]; then
  for p in "$ort"/napi-v*/*; do
    [ -d "$p" ] || continue
    if [ "$(basename "$p")" != "$platform" ]; then remove "$p"; continue; fi
    for a in "$p"/*; do [ "$(basename "$a")" = "$arch" ] || remove "$a"; done
  done
fi
for junk in coverage doc OLD; do remove "$dir/fluent-ffmpeg/$junk"; done
after=$(du -sk "$dir" | cut -f1)
echo "node_modules: $((before / 1024)) MB -> $((after / 1024)) MB (kept onnxruntime for $platform/$arch)"
