#!/usr/bin/env bash
# Fuzzes the checkpoint loader (nn::load_npz) with libFuzzer for SECONDS (default 60), starting
# from the committed seed corpus. Not part of CI. Builds build-fuzz/ with clang, AddressSanitizer,
# UndefinedBehaviorSanitizer and libFuzzer's coverage instrumentation on the whole library (the
# first build takes a few minutes); new inputs go to build-fuzz/corpus, the seeds stay untouched.
# A finding is written as build-fuzz/crash-* (replay: build-fuzz/tests/fuzz/fuzz_npz FILE).
# Needs clang++ and libclang-rt-14-dev (libFuzzer's runtime): scripts/deps.sh --fuzz installs them.
set -euo pipefail
seconds="${1:-60}"
root="$(cd "$(dirname "$0")/.." && pwd)"
build="$root/build-fuzz"
cxx="${CXX_FUZZ:-$(command -v clang++ || command -v clang++-14 || true)}"
[ -n "$cxx" ] || { echo "fuzz_npz.sh: clang++ not found (apt-get install clang libclang-rt-14-dev)" >&2; exit 2; }

cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_COMPILER="$cxx" \
  -DTAPEGRAD_SANITIZE=address,undefined,fuzzer-no-link -DTAPEGRAD_FUZZ=ON \
  -DTAPEGRAD_BUILD_EXAMPLES=OFF -DTAPEGRAD_BUILD_BENCH=OFF >/dev/null
nice -n 10 cmake --build "$build" --target fuzz_npz -j2
mkdir -p "$build/corpus"
cd "$build"
# -rss_limit_mb / -malloc_limit_mb: an input that makes the loader allocate 1 GB is a finding.
# UBSan aborts on the first report (-fno-sanitize-recover=all), so libFuzzer sees it as a crash.
nice -n 10 "$build/tests/fuzz/fuzz_npz" -max_total_time="$seconds" -rss_limit_mb=2048 \
  -malloc_limit_mb=1024 -timeout=10 -print_final_stats=1 \
  "$build/corpus" "$root/tests/fuzz/corpus/npz"
