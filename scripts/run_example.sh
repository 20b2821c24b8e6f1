#!/usr/bin/env bash
# The first command: installs what is missing, builds, and runs the main example on data/.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/build.sh
./build/examples/quickstart
