#!/bin/bash
# Old and new builds' example programs side by side, alternating: name_language (2 epochs on the
# 18-language set) and baby_lm (3 window epochs), on THREADS BLAS threads (default 1). Prints, per
# run, the throughput the run's metrics.csv reports (names/s, windows/s per epoch) and its wall
# time.
#   bash bench/ab_examples.sh OLD_BUILD NEW_BUILD [ROUNDS] [THREADS]
set -euo pipefail
old=$(cd "$1" && pwd)/examples new=$(cd "$2" && pwd)/examples rounds=${3:-5} threads=${4:-1}
here=$(cd "$(dirname "$0")/.." && pwd)
names=$here/../shared/data/names
[ -d "$names" ] || { echo "ab_examples: $names is missing (the surname set)" >&2; exit 2; }
work=$(mktemp -d) && trap 'rm -rf "$work"' EXIT && cd "$work"
for round in $(seq "$rounds"); do
  for side in old new; do
    bin=$([ $side = old ] && echo "$old" || echo "$new")
    s=$(date +%s.%N)
    "$bin/name_language" train --threads "$threads" --data "$names" --epochs 2 --patience 0 --seed 1 \
      --out "n_${side}_$round" > /dev/null 2>&1
    m=$(date +%s.%N)
    "$bin/baby_lm" --threads "$threads" train --corpus "$here/data/baby" --epochs 3 --patience 0 --seed 3 \
      --out "b_${side}_$round" > /dev/null 2>&1
    e=$(date +%s.%N)
    echo "round $round $side  names/s $(tail -n 2 "n_${side}_$round/metrics.csv" | cut -d, -f10 | paste -sd' ')" \
         " windows/s $(tail -n 3 "b_${side}_$round/metrics.csv" | cut -d, -f5 | paste -sd' ')" \
         " wall s $(echo "$m - $s" | bc) $(echo "$e - $m" | bc)"
  done
done
