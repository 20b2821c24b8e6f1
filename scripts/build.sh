#!/usr/bin/env bash
# Configures and builds tapegrad (Release) in ./build; extra arguments go to cmake --build.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j"$(nproc)" "$@"
