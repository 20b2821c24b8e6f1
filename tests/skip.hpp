// Skipping a test whose data or tool is missing, so that CTest reports it as skipped, not passed.
//
// TG_SKIP(requirement, reason) inside a TEST_CASE prints "SKIPPED: reason" and returns. When the
// test program ends with nothing failed, it exits with kSkipExitCode, which tests/CMakeLists.txt
// registers as every discovered test's SKIP_RETURN_CODE: CTest counts the test as "Skipped" and
// lists it under "The following tests did not run". (CTest runs one test case per process, so
// only the test that skipped is reported so; a whole-program run that skipped something ends 77.)
//
// A requirement listed in the environment variable TAPEGRAD_REQUIRE (comma-separated, or "all")
// must be met: its absence fails the test instead. scripts/test.sh sets it in CI.
#pragma once

#include <string>

namespace tg::testing {

// What a test may need that a checkout can lack.
inline const char* const kNeedsShared = "shared";  // ../shared/data beside the checkout
inline const char* const kNeedsNumpy = "numpy";    // /usr/bin/python3 with numpy
inline const char* const kNeedsBf16 = "bf16";  // oneDNN, and AMX or AVX512-BF16 in the CPU
inline const char* const kNeedsOneDnn = "onednn";  // a build with oneDNN (libdnnl-dev)

// Whether `requirement` is listed in TAPEGRAD_REQUIRE.
bool required(const std::string& requirement);

// Records the skip (or, if the requirement is required, fails the current test with `reason`).
void skip(const std::string& requirement, const std::string& reason);

}  // namespace tg::testing

#define TG_SKIP(requirement, reason)                 \
  do {                                               \
    ::tg::testing::skip((requirement), (reason));    \
    return;                                          \
  } while (false)
