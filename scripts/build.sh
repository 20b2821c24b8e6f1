#!/usr/bin/env bash
# Configures and builds tapegrad (Release) in ./build; extra arguments go to cmake --build.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh
# ccache hashes absolute paths: with the checkout as its base folder, a fresh clone elsewhere (a CI
# run) reuses what an earlier build of the same sources compiled.
export CCACHE_BASEDIR="${CCACHE_BASEDIR:-$(pwd)}"
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j"$(nproc)" "$@"
