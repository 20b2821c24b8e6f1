#!/usr/bin/env bash
# The first command: installs what is missing, builds what it runs (the library and name_language),
# and runs the main example on data/:
# name_language trains on the surnames shipped in data/names, then predicts a few names.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/build.sh --target name_language  # the library and this example only
run=runs/name_language/readme
./build/examples/name_language train --data data/names --out "$run" --overwrite
./build/examples/name_language predict --checkpoint "$run/model.npz" Rodrigo Nguyen Schmidt Dvorak
