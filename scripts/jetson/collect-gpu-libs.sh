#!/usr/bin/env bash
# Copies the CUDA, cuDNN and TensorRT libraries that onnxruntime's providers need into OUT_DIR, so the runtime
# image carries them without the 10 GB of JetPack's compilers and headers. ldd finds the direct ones; cuDNN 9's
# engine libraries and TensorRT's builder resource are opened with dlopen, so their families go whole.
#   scripts/jetson/collect-gpu-libs.sh BINDING_DIR OUT_DIR
set -euo pipefail
bin="${1:?binding dir}"; out="${2:?out dir}"
libdir="/usr/lib/$(uname -m)-linux-gnu"
mkdir -p "$out"
ldd "$bin"/libonnxruntime_providers_*.so "$bin/libonnxruntime.so.1" \
  | awk '/=> \// {print $3}' \
  | grep -E 'libcu|libnv(infer|onnxparser|rtc|JitLink|ToolsExt)|libcudnn' \
  | grep -vE 'libcuda\.so|libnvrm|libnvos' \
  | sort -u | while read -r lib; do cp -L "$lib" "$out/"; done
# libcuda.so and the libnvrm*/tegra driver libraries stay the host's: the NVIDIA container runtime mounts them.
for family in "libcudnn*.so.9*" "libnvinfer*.so.10*" "libnvonnxparser*.so.10*"; do
  # -a keeps the soname links as links: TensorRT's builder resource alone is over a gigabyte.
  for lib in $libdir/$family; do [ -e "$lib" ] && cp -a "$lib" "$out/"; done
done
ls "$out" | sed 's/^/  /'
du -sh "$out"
