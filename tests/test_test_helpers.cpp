// The tests' own comparison helpers (tests/compare.hpp): each scores a NaN or an infinity as the
// worst error, so that a result full of NaN can never pass a `<= tolerance` check.
#include <catch2/catch.hpp>

#include <cmath>
#include <filesystem>
#include <limits>
#include <vector>

#include "compare.hpp"
#include "optim_test_util.hpp"
#include "skip.hpp"
#include "test_support.hpp"

using tg::testing::kWorstError;

namespace {
const double kInf = std::numeric_limits<double>::infinity();
const std::vector<double> kRef{1.0, -2.0, 4.0};
}  // namespace

TEST_CASE("raise_to keeps the largest error and makes NaN the worst", "[test_helpers]") {
  double worst = 0.0;
  CHECK(tg::testing::raise_to(worst, 0.5));
  CHECK_FALSE(tg::testing::raise_to(worst, 0.25));
  CHECK(worst == 0.5);
  CHECK(tg::testing::raise_to(worst, NAN));
  CHECK(worst == kWorstError);
  // A later finite error does not wash the NaN out (std::max(inf, x) would keep it too, but
  // std::max(x, NaN) is what dropped it in the first place).
  CHECK_FALSE(tg::testing::raise_to(worst, 1e300));
  CHECK(worst == kWorstError);
  double w2 = 0.0;
  tg::testing::raise_to(w2, -kInf);  // non-finite, whatever its sign: worst
  CHECK(w2 == kWorstError);
}

TEST_CASE("max_abs_diff: NaN or infinity anywhere is the worst error", "[test_helpers]") {
  CHECK(tg::testing::max_abs_diff(kRef, kRef) == 0.0);
  CHECK(tg::testing::max_abs_diff({1.0, -2.5, 4.0}, kRef) == 0.5);
  for (std::size_t i = 0; i < kRef.size(); ++i) {
    INFO("NaN at " << i);
    std::vector<double> bad = kRef;
    bad[i] = NAN;
    CHECK(tg::testing::max_abs_diff(bad, kRef) == kWorstError);
    CHECK(tg::testing::max_abs_diff(kRef, bad) == kWorstError);
    CHECK_FALSE(tg::testing::max_abs_diff(bad, kRef) <= 1e-3);  // how the tests use it
    bad[i] = kInf;
    CHECK(tg::testing::max_abs_diff(bad, kRef) == kWorstError);
  }
  // All NaN: the case the old std::max fold scored 0 (bit-exact).
  CHECK(tg::testing::max_abs_diff({NAN, NAN, NAN}, kRef) == kWorstError);
  CHECK_THROWS(tg::testing::max_abs_diff({1.0}, kRef));
}

TEST_CASE("max_rel_error: NaN or infinity anywhere is the worst error", "[test_helpers]") {
  CHECK(tg::testing::max_rel_error(kRef, kRef) == 0.0);
  CHECK(tg::testing::max_rel_error({1.0, -2.0, 4.4}, kRef) == Approx(0.1));
  for (std::size_t i = 0; i < kRef.size(); ++i) {
    INFO("NaN at " << i);
    std::vector<double> bad = kRef;
    bad[i] = NAN;
    CHECK(tg::testing::max_rel_error(bad, kRef) == kWorstError);
    CHECK(tg::testing::max_rel_error(kRef, bad) == kWorstError);
    CHECK(tg::testing::max_rel_error(bad, kRef, 1e-6) == kWorstError);
    CHECK_FALSE(tg::testing::max_rel_error(bad, kRef) <= 1e-6);
  }
  CHECK(tg::testing::max_rel_error({NAN, NAN, NAN}, kRef) == kWorstError);
  // A zero reference: equal is exact, different is worst without a floor, relative to it with.
  CHECK(tg::testing::max_rel_error({0.0}, {0.0}) == 0.0);
  CHECK(tg::testing::max_rel_error({1e-9}, {0.0}) == kWorstError);
  CHECK(tg::testing::max_rel_error({1e-9}, {0.0}, 1e-6) == Approx(1e-3));
}

TEST_CASE("rel_norm_error: NaN or infinity anywhere is the worst error", "[test_helpers]") {
  CHECK(tg::testing::rel_norm_error(kRef, kRef) == 0.0);
  CHECK(tg::testing::rel_norm_error({1.0, -2.0, 4.04}, kRef) == Approx(0.04 / std::sqrt(21.0)));
  for (std::size_t i = 0; i < kRef.size(); ++i) {
    std::vector<double> bad = kRef;
    bad[i] = NAN;
    CHECK(tg::testing::rel_norm_error(bad, kRef) == kWorstError);
    CHECK(tg::testing::rel_norm_error(kRef, bad) == kWorstError);
    bad[i] = -kInf;
    CHECK(tg::testing::rel_norm_error(bad, kRef) == kWorstError);
  }
  CHECK(tg::testing::rel_norm_error({1.0}, {0.0}) == kWorstError);
}

// optim_test_util.hpp's distance to the least-squares optimum, checked with `< tol` by the
// optimizer convergence tests: parameters that went NaN must be infinitely far, not at 0.
TEST_CASE("LeastSquares::distance: NaN parameters are infinitely far", "[test_helpers]") {
  optim_test::LeastSquares problem(tg::DType::Float64);
  problem.w = tg::Tensor::from_vector(problem.w_star, {2, 3}, tg::DType::Float64);
  problem.b = tg::Tensor::from_vector(problem.b_star, {2}, tg::DType::Float64);
  CHECK(problem.distance() == 0.0);
  std::vector<double> nan_w = problem.w_star;
  nan_w[4] = NAN;
  problem.w = tg::Tensor::from_vector(nan_w, {2, 3}, tg::DType::Float64);
  CHECK(problem.distance() == kWorstError);
  CHECK_FALSE(problem.distance() < 1e-4);
}

// ---- the skip mechanism (tests/skip.hpp) ----------------------------------------------------
// Hidden probes ([.] : not discovered by CTest, not run by default), run below as child
// processes of this very program, so that their exit codes can be checked.

TEST_CASE("probe: a test that skips", "[.skip_probe]") {
  TG_SKIP("probe", "the probe's requirement is never met");
}

TEST_CASE("probe: a test with exactly 77 failed assertions", "[.fail77_probe]") {
  for (int i = 0; i < 77; ++i) CHECK(i < 0);
}

TEST_CASE("probe: a test that checks nothing", "[.empty_probe]") {}

namespace {
int run_self(const std::string& env, const std::string& tag) {
  const std::string exe = std::filesystem::read_symlink("/proc/self/exe").string();
  tg::testing::TempDir dir;
  // --warn NoTests: a spec that matches nothing exits 2 instead of passing.
  return tg::testing::run_shell(env + " " + tg::testing::shell_quote(exe) + " --warn NoTests " +
                                    tg::testing::shell_quote(tag),
                                dir.path)
      .code;
}
}  // namespace

TEST_CASE("a skip exits 77 (CTest's SKIP_RETURN_CODE), a failure never does",
          "[test_helpers][skip]") {
  CHECK(run_self("", "[.skip_probe]") == 77);
  // Where CI requires the missing thing, the skip is a failure.
  CHECK(run_self("TAPEGRAD_REQUIRE=probe", "[.skip_probe]") == 1);
  CHECK(run_self("TAPEGRAD_REQUIRE=all", "[.skip_probe]") == 1);
  CHECK(run_self("TAPEGRAD_REQUIRE=numpy,shared", "[.skip_probe]") == 77);
  // Catch returns the number of failed assertions: 77 of them must not read as a skip.
  CHECK(run_self("", "[.fail77_probe]") == 1);
  // A skip next to a failure is a failure.
  CHECK(run_self("", "[.skip_probe],[.fail77_probe]") == 1);
  // And a plain pass stays 0.
  CHECK(run_self("", "raise_to keeps the largest error and makes NaN the worst") == 0);
  CHECK(run_self("", "[.no_such_probe]") == 2);
  // A test case that runs no assertion fails.
  CHECK(run_self("", "[.empty_probe]") == 1);
}
