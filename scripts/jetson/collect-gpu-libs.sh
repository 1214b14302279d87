#!/usr/bin/env bash
# Copies the CUDA, cuDNN and TensorRT libraries that onnxruntime's providers (and the binaries named after
# OUT_DIR, e.g. trtexec) need into OUT_DIR, so the runtime image carries them without the 10 GB of JetPack's
# compilers and headers. ldd finds the direct ones; cuDNN 9's engine libraries and TensorRT's builder resource
# are opened with dlopen, so their families go whole.
#   scripts/jetson/collect-gpu-libs.sh BINDING_DIR OUT_DIR [BINARY...]
# Fails when a library is "not found" (ldd itself exits 0 then), before and after the copy, except the driver
# libraries that the NVIDIA container runtime mounts from the host at run time.
set -euo pipefail
bin="${1:?binding dir}"; out="${2:?out dir}"; shift 2
libdir="/usr/lib/$(uname -m)-linux-gnu"
die() { echo "collect-gpu-libs: $*" >&2; exit 1; }
# libcuda.so and the libnvrm*/tegra driver libraries stay the host's: the NVIDIA container runtime mounts them.
host='libcuda\.so|libnvrm|libnvos|libnvsciipc|libnvsocsys|libnvtegrahv|libnvdla_runtime|libnvcucompat'
gpu='libcu|libnv(infer|onnxparser|rtc|JitLink|ToolsExt)|libcudnn'
targets=("$bin"/libonnxruntime_providers_*.so "$bin/libonnxruntime.so.1" "$@")
for t in "${targets[@]}"; do [ -f "$t" ] || die "$t missing"; done

# ldd prints "libfoo.so.1 => not found" and still exits 0: each such line fails the step, naming its file.
missing() { # LD_LIBRARY_PATH FILE...
  local path="$1" f; shift
  for f in "$@"; do
    LD_LIBRARY_PATH="$path" ldd "$f" | awk -v f="$(basename "$f")" '/not found/ {print "  " f ": " $1}' | grep -vE "$host" || true
  done
}
gone=$(missing "${LD_LIBRARY_PATH:-}" "${targets[@]}")
[ -z "$gone" ] || die "libraries not found on this machine (install them, or set LD_LIBRARY_PATH):
$gone"

mkdir -p "$out"
ldd "${targets[@]}" \
  | awk '/=> \// {print $3}' \
  | grep -E "$gpu" \
  | grep -vE "$host" \
  | sort -u | while read -r lib; do cp -L "$lib" "$out/"; done
for family in "libcudnn*.so.9*" "libnvinfer*.so.10*" "libnvonnxparser*.so.10*"; do
  # -a keeps the soname links as links: TensorRT's builder resource alone is over a gigabyte.
  for lib in $libdir/$family; do [ -e "$lib" ] && cp -a "$lib" "$out/"; done
done

# The copies' own dependencies (the dlopen'ed families were not in ldd's list above) must be in OUT_DIR too:
# the runtime image has OUT_DIR and the base system, nothing else of JetPack's.
gone=$(
  missing "$out" "$out"/*.so*
  for f in "${targets[@]}" "$out"/*.so*; do
    LD_LIBRARY_PATH="$out" ldd "$f" | awk '/=> \// {print $1}' | grep -E "$gpu" | grep -vE "$host" \
      | while read -r dep; do [ -e "$out/$dep" ] || echo "  $(basename "$f"): $dep"; done || true
  done
)
[ -z "$gone" ] || die "not in $out, so missing from the runtime image:
$gone"
ls "$out" | sed 's/^/  /'
du -sh "$out"
