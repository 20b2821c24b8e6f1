#!/usr/bin/env bash
# Installs tapegrad's build dependencies from Debian 12's packages, only those still missing.
set -euo pipefail
packages=(pkg-config ccache libxtensor-dev libxtensor-blas-dev libxsimd-dev xtl-dev
          libopenblas-pthread-dev libfmt-dev catch2 libcli11-dev libutf8proc-dev libzip-dev python3-numpy
          libopenmpi-dev openmpi-bin
          # oneDNN: bf16 products (tg::AutocastGuard) and some float32 ones; optional at configure
          libdnnl-dev)
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
