#!/usr/bin/env bash
# Installs tapegrad's build dependencies from Debian 12's packages, only those still missing.
set -euo pipefail
packages=(pkg-config ccache libxtensor-dev libxtensor-blas-dev libxsimd-dev xtl-dev
          libopenblas-pthread-dev libfmt-dev catch2 libcli11-dev libutf8proc-dev libzip-dev python3-numpy
          libopenmpi-dev openmpi-bin
          # oneDNN: bf16 products (tg::AutocastGuard) and some float32 ones; optional at configure
          libdnnl-dev
          # ONNX export (tapegrad::onnx) and what its tests check it with: ONNX's checker, Node.js
          # for ONNX Runtime (npm packages below), Chromium for the web page's test
          libonnx-dev libprotobuf-dev python3-onnx chromium)
# Node.js and npm: Debian's packages, unless a node and npm are already there (e.g. NodeSource's
# nodejs, which ships npm inside and conflicts with Debian's npm package).
command -v node >/dev/null || packages+=(nodejs)
command -v npm >/dev/null || packages+=(npm)
# --fuzz: also clang and libFuzzer's runtime, for scripts/fuzz_npz.sh.
# --bench: also libtorch's C++ API, for bench/libtorch_workloads (never needed by the tests).
for arg in "$@"; do
  case "$arg" in
    --fuzz) packages+=(clang-14 libclang-rt-14-dev) ;;
    --bench) packages+=(libtorch-dev) ;;
  esac
done
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "tapegrad: installing ${missing[*]}"
  sudo_cmd=()
  [ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
  "${sudo_cmd[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends \
    "${missing[@]}" >/dev/null
fi

# ONNX Runtime for the tests: onnxruntime-node (CPU) and onnxruntime-web, at the versions of
# tests/onnx/package-lock.json, into tests/onnx/node_modules. --ignore-scripts: the packages' install
# script only downloads GPU binaries from outside, which nothing here may fetch; the CPU runtime
# is in the package itself.
onnx_tests="$(cd "$(dirname "$0")/.." && pwd)/tests/onnx"
if [ ! -f "$onnx_tests/node_modules/onnxruntime-node/package.json" ] ||
   [ ! -f "$onnx_tests/node_modules/onnxruntime-web/package.json" ]; then
  echo "tapegrad: installing onnxruntime-node and onnxruntime-web into $onnx_tests/node_modules"
  (cd "$onnx_tests" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error >/dev/null)
fi
