#!/usr/bin/env bash
# The test command: installs what is missing, builds everything, runs every test.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/build.sh
# A test whose data or tool is missing exits 77 and CTest reports it as skipped (tests/skip.hpp).
# In CI (CI=true, as GitHub Actions and most CI systems set it) a skip of something CI is meant
# to have is a failure instead, through TAPEGRAD_REQUIRE:
#  - numpy, mpi, onednn, onnx, onnxruntime, chromium: scripts/deps.sh installs python3-numpy,
#    Open MPI, libdnnl-dev, libonnx-dev and python3-onnx, onnxruntime-node/-web (npm) and
#    Chromium, so their absence means a broken image (bf16 is not among them: it needs the
#    CPU's bf16 units, which a CI machine may lack);
#  - shared: only when ../shared exists beside the checkout. A CI job that places the shared data
#    there means to test with it, so a missing or moved file in it must fail, not skip; a CI job
#    without ../shared never had those tests to run (they show as skipped in the summary).
# An explicit TAPEGRAD_REQUIRE (e.g. "all", or "" to require nothing) wins.
if [ "${CI:-}" = true ] && [ -z "${TAPEGRAD_REQUIRE+set}" ]; then
  TAPEGRAD_REQUIRE=numpy,mpi,onednn,onnx,onnxruntime,chromium
  if [ -d ../shared ]; then TAPEGRAD_REQUIRE+=,shared; fi
  export TAPEGRAD_REQUIRE
  echo "tapegrad: CI: a skip for lack of ${TAPEGRAD_REQUIRE} fails the test"
fi
# --no-tests=error: a build that registered no tests (a discovery failure) is an error, not a pass.
log=build/ctest.log
set +e
ctest --test-dir build --output-on-failure --no-tests=error -j"$(nproc)" 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
set -e
# CTest 3.25's summary line ("100% tests passed, 0 tests failed out of N") counts a skipped test
# with the passed ones and lists skips only below it; say it in one line of our own.
skipped=$(grep -c '(Skipped)$' "$log" || true)
if [ "$skipped" -gt 0 ]; then
  echo "tapegrad: $skipped test(s) SKIPPED, not passed (listed under 'The following tests did not run')"
fi
exit "$status"
