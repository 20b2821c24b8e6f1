// The skip mechanism of skip.hpp: a Catch2 listener learns whether the run failed, and an exit
// handler turns a clean run that skipped something into exit code TAPEGRAD_SKIP_EXIT_CODE. Compiled once and linked
// into every test program (an object library: a listener in a static library would be dropped
// by the linker, nothing referring to it).
#include "skip.hpp"

#define CATCH_CONFIG_EXTERNAL_INTERFACES
#include <catch2/catch.hpp>

#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <sstream>

#ifndef TAPEGRAD_SKIP_EXIT_CODE
#error "TAPEGRAD_SKIP_EXIT_CODE must come from tests/CMakeLists.txt (the SKIP_RETURN_CODE)"
#endif

namespace tg::testing {
namespace {

bool g_skipped = false;
bool g_run_ended = false;   // the listener saw the run end (not a listing, not a crash)
bool g_run_failed = false;
bool g_empty_test = false;  // a test case ran no assertion

// Runs after main has returned Catch's exit code (the count of failed assertions, at most 255)
// and replaces it: a failed run exits 1, so that exactly 77 failures cannot pass for a skip; a
// clean run that skipped exits 77; anything else (a pass, or 2 for "no test matched") stands.
void fix_exit_code() {
  if (!g_run_ended) return;
  if (!g_run_failed && !g_skipped) return;
  if (!g_run_failed)
    std::cout << "tapegrad: a test was skipped (exit code " << TAPEGRAD_SKIP_EXIT_CODE << ")"
              << std::endl;
  std::cout.flush();
  std::fflush(nullptr);
  std::_Exit(g_run_failed ? 1 : TAPEGRAD_SKIP_EXIT_CODE);
}

struct SkipListener : Catch::TestEventListenerBase {
  using TestEventListenerBase::TestEventListenerBase;
  void testRunStarting(const Catch::TestRunInfo& info) override {
    TestEventListenerBase::testRunStarting(info);
    std::atexit(fix_exit_code);
  }
  // A test case that checked nothing fails the run: it would otherwise pass having proven
  // nothing (Catch's --warn NoAssertions does this, but v2 accepts only one --warn and the
  // discovered tests already use it for NoTests).
  void testCaseEnded(const Catch::TestCaseStats& stats) override {
    TestEventListenerBase::testCaseEnded(stats);
    if (stats.totals.assertions.total() == 0) {
      std::cout << "tapegrad: FAILED: test case '" << stats.testInfo.name
                << "' checked nothing (no assertion ran)" << std::endl;
      g_empty_test = true;
    }
  }
  void testRunEnded(const Catch::TestRunStats& stats) override {
    TestEventListenerBase::testRunEnded(stats);
    g_run_ended = true;
    g_run_failed = stats.totals.assertions.failed > 0 || stats.totals.testCases.failed > 0 ||
                   stats.aborting || g_empty_test;
  }
};

CATCH_REGISTER_LISTENER(SkipListener)

}  // namespace

bool required(const std::string& requirement) {
  const char* env = std::getenv("TAPEGRAD_REQUIRE");
  if (env == nullptr) return false;
  std::stringstream list(env);
  for (std::string item; std::getline(list, item, ',');)
    if (item == requirement || item == "all") return true;
  return false;
}

void skip(const std::string& requirement, const std::string& reason) {
  if (required(requirement))
    FAIL("required by TAPEGRAD_REQUIRE (" << requirement << ") but missing: " << reason);
  WARN("SKIPPED: " << reason);
  // Counted as an assertion so that the empty-test rule below does not turn the skip into a
  // failure; the exit code 77 is what reports it.
  SUCCEED("skip recorded");
  g_skipped = true;
}

}  // namespace tg::testing
