#!/usr/bin/env bash
# Where a cold build of the library spends its time: configures a scratch build folder whose
# compiler launcher records each translation unit's wall time, builds the library (no ccache,
# -j2 unless JOBS says otherwise), then prints the total and the slowest units. Then a one-file
# rebuild: touches an op file and times the library's rebuild and relink.
#   bash bench/compile_times.sh [BUILD_DIR]      (default /tmp/tapegrad-compile-times)
set -euo pipefail
cd "$(dirname "$0")/.."
dir=${1:-/tmp/tapegrad-compile-times}
jobs=${JOBS:-2}
rm -rf "$dir"
mkdir -p "$dir"
log="$dir/units.log"
cat > "$dir/timed.sh" <<TIMER
#!/usr/bin/env bash
# Runs the compiler and appends "seconds source" to $log.
start=\$(date +%s.%N)
"\$@"
status=\$?
src=\$(printf '%s\n' "\$@" | grep -E '\.cpp$' | tail -n 1)
echo "\$(echo "\$(date +%s.%N) - \$start" | bc) \$src" >> "$log"
exit \$status
TIMER
chmod +x "$dir/timed.sh"
cmake -S . -B "$dir/build" -DCMAKE_BUILD_TYPE=Release -DTAPEGRAD_BUILD_TESTS=OFF \
  -DTAPEGRAD_BUILD_EXAMPLES=OFF -DTAPEGRAD_BUILD_BENCH=OFF \
  -DCMAKE_CXX_COMPILER_LAUNCHER="$dir/timed.sh" > /dev/null
start=$(date +%s.%N)
CCACHE_DISABLE=1 cmake --build "$dir/build" --target tapegrad -j"$jobs" > /dev/null
total=$(echo "$(date +%s.%N) - $start" | bc)
echo "cold library build (-j$jobs, no ccache): $(printf '%.1f' "$total") s wall," \
     "$(awk '{s += $1} END {printf "%.1f", s}' "$log") s of compiler time in $(wc -l < "$log") units"
echo "slowest units (s):"
sort -rn "$log" | head -n 12 | awk '{printf "  %6.1f  %s\n", $1, $2}'
touch autograd/ops/elementwise.cpp
start=$(date +%s.%N)
CCACHE_DISABLE=1 cmake --build "$dir/build" --target tapegrad -j"$jobs" > /dev/null
echo "one op file touched (autograd/ops/elementwise.cpp), library rebuilt and relinked:" \
     "$(printf '%.1f' "$(echo "$(date +%s.%N) - $start" | bc)") s"
