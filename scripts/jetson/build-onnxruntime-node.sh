#!/usr/bin/env bash
# Builds onnxruntime-node with the CUDA and TensorRT providers and eva's provider-options patch, for a Jetson
# (JetPack 6: CUDA 12.6, cuDNN 9, TensorRT 10.3) or any CUDA 12 machine. Run inside the l4t-jetpack image
# (Dockerfile.jetson does) or on the device itself with JetPack installed.
#
#   scripts/jetson/build-onnxruntime-node.sh OUT_DIR
#   ORT_TAG=v1.30.0 CUDA_ARCHS=87 PARALLEL=4 scripts/jetson/build-onnxruntime-node.sh /tmp/ort-node
#
# CUDA_ARCHS: 87 Orin (default), 72 Xavier, "72;87" both. A build without the device's architecture lists the
# provider and then fails at the first kernel with cudaErrorNoKernelImageForDevice.
# Time and memory: hours on an Orin; on an 8 GB Orin Nano keep PARALLEL at 2–4 and add swap.
#
# OUT_DIR receives onnxruntime-node/ and onnxruntime-common/ (drop-in replacements for node_modules/…),
# with libonnxruntime.so.1 and the providers' libraries beside the binding, and BUILD-INFO.txt.
set -euo pipefail

out="${1:?usage: build-onnxruntime-node.sh OUT_DIR}"
ORT_TAG="${ORT_TAG:-v1.30.0}"
CUDA_ARCHS="${CUDA_ARCHS:-87}"
PARALLEL="${PARALLEL:-$(nproc)}"
CUDA_HOME="${CUDA_HOME:-/usr/local/cuda}"
LIBDIR="${LIBDIR:-/usr/lib/$(uname -m)-linux-gnu}"
here="$(cd "$(dirname "$0")" && pwd)"
patch="$here/onnxruntime-node-provider-options.patch"
die() { echo "build-onnxruntime-node: $*" >&2; exit 1; }

# Fail in the first second, with the reason, rather than an hour into the build.
command -v git >/dev/null || die "git missing"
command -v cmake >/dev/null || die "cmake missing (apt-get install cmake; ORT needs >= 3.28: pip3 install cmake)"
command -v node >/dev/null && command -v npm >/dev/null || die "node and npm missing (the binding is built with cmake-js)"
[ -x "$CUDA_HOME/bin/nvcc" ] || die "no nvcc at $CUDA_HOME/bin/nvcc (JetPack's cuda-nvcc; set CUDA_HOME)"
for h in NvInfer.h NvOnnxParser.h cudnn.h; do
  [ -e "/usr/include/$h" ] || [ -e "/usr/include/$(uname -m)-linux-gnu/$h" ] || die "header $h missing (libnvinfer-dev, libnvonnxparsers-dev, libcudnn9-dev)"
done
ls "$LIBDIR"/libnvinfer.so.* >/dev/null 2>&1 || die "libnvinfer not in $LIBDIR (set LIBDIR)"
mkdir -p "$out"
out="$(cd "$out" && pwd)"

work="${WORK:-$(mktemp -d)}"
echo "building onnxruntime $ORT_TAG for sm_$CUDA_ARCHS in $work"
git clone --depth 1 --branch "$ORT_TAG" https://github.com/microsoft/onnxruntime.git "$work/onnxruntime"
cd "$work/onnxruntime"
git submodule update --init --recursive --depth 1
# The patch was diffed against a file near the tag: any hunk that does not apply to the tag stops here, named.
git apply --check --verbose "$patch" || die "$(basename "$patch") does not apply to $ORT_TAG: try git apply -3, or apply its hunks by hand"
git apply "$patch"

# --build_nodejs builds js/common and js/node with npm (registry access needed) after the shared library.
./build.sh --config Release --update --build --parallel "$PARALLEL" --nvcc_threads 1 \
  --build_shared_lib --build_nodejs --skip_tests --allow_running_as_root --compile_no_warning_as_error \
  --use_cuda --cuda_home "$CUDA_HOME" --cudnn_home "$LIBDIR" \
  --use_tensorrt --tensorrt_home "$LIBDIR" \
  --cmake_extra_defines "CMAKE_CUDA_ARCHITECTURES=$CUDA_ARCHS" onnxruntime_BUILD_UNIT_TESTS=OFF \
    onnxruntime_USE_FLASH_ATTENTION=OFF onnxruntime_USE_MEMORY_EFFICIENT_ATTENTION=OFF

arch="$(node -p process.arch)"
bin="js/node/bin/napi-v6/linux/$arch"
[ -f "$bin/onnxruntime_binding.node" ] || die "no binding at $bin after the build"
# onnxruntime loads provider libraries from its own folder; the binding's RPATH is $ORIGIN.
for p in shared cuda tensorrt; do cp -L "build/Linux/Release/libonnxruntime_providers_$p.so" "$bin/"; done
[ -e "$bin/libonnxruntime.so.1" ] || cp -L build/Linux/Release/libonnxruntime.so.1 "$bin/"

# The built binding must offer both providers, or the image would quietly run on the CPU.
backends="$(cd js/node && node -p 'require("./dist/index.js").listSupportedBackends().map(b => b.name).join(",")')"
case ",$backends," in *,tensorrt,*) ;; *) die "the binding lists '$backends': no tensorrt" ;; esac
case ",$backends," in *,cuda,*) ;; *) die "the binding lists '$backends': no cuda" ;; esac

rm -rf "$out/onnxruntime-node" "$out/onnxruntime-common"
mkdir -p "$out/onnxruntime-node/bin/napi-v6/linux" "$out/onnxruntime-common"
cp -r js/node/package.json js/node/dist "$out/onnxruntime-node/"
cp -r "$bin" "$out/onnxruntime-node/bin/napi-v6/linux/"
cp -r js/common/package.json js/common/dist "$out/onnxruntime-common/"
{
  echo "onnxruntime $ORT_TAG ($(git rev-parse HEAD)) + $(basename "$patch") sha256 $(sha256sum "$patch" | cut -d' ' -f1)"
  echo "CUDA $("$CUDA_HOME/bin/nvcc" --version | sed -n 's/.*release \([0-9.]*\).*/\1/p'), archs $CUDA_ARCHS"
  echo "TensorRT $(ls "$LIBDIR"/libnvinfer.so.*.*.* | sed 's/.*libnvinfer\.so\.//' | sort | tail -1)"
  echo "providers: $backends"
} | tee "$out/BUILD-INFO.txt"
