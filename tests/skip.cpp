// The skip mechanism of skip.hpp: a Catch2 listener learns whether the run failed, and an exit
// handler turns a clean run that skipped something into kSkipExitCode. Compiled once and linked
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
bool g_run_failed = true;  // until the listener has seen a run end without failures

void exit_as_skipped() {
  if (!g_skipped || g_run_failed) return;  // failures keep Catch's own exit code
  std::cout << "tapegrad: a test was skipped (exit code " << TAPEGRAD_SKIP_EXIT_CODE << ")"
            << std::endl;
  std::fflush(nullptr);
  std::_Exit(TAPEGRAD_SKIP_EXIT_CODE);
}

struct SkipListener : Catch::TestEventListenerBase {
  using TestEventListenerBase::TestEventListenerBase;
  void testRunEnded(const Catch::TestRunStats& stats) override {
    g_run_failed = stats.totals.assertions.failed > 0 || stats.totals.testCases.failed > 0 ||
                   stats.aborting;
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
  if (!g_skipped) std::atexit(exit_as_skipped);
  g_skipped = true;
}

}  // namespace tg::testing
