// nn::max_over_steps and nn::mean_over_steps: against PyTorch 1.13's amax and mean over each
// sequence's unpadded steps (tests/fixtures/sequence_pooling_fixtures.py) and a loop in both
// layouts, padded steps without influence or gradient, gradcheck and gradgradcheck in float64,
// and the one-line errors.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <limits>

#include "tapegrad/autograd/gradcheck.hpp"
#include "tapegrad/autograd/ops.hpp"
#include "tapegrad/nn/npz.hpp"
#include "tapegrad/nn/pooling.hpp"
#include "compare.hpp"
#include "test_checks.hpp"

using namespace tg;

namespace {

// x's element (t, b, f) in either layout.
double at(const std::vector<double>& x, const Shape& shape, bool batch_first, std::size_t t,
          std::size_t b, std::size_t f) {
  const std::size_t F = shape[2];
  return batch_first ? x[(b * shape[1] + t) * F + f] : x[(t * shape[1] + b) * F + f];
}

// What the functions should give, computed one sequence at a time: [B * F] maxima and means.
std::pair<std::vector<double>, std::vector<double>> looped(const Tensor& x,
                                                           const std::vector<std::size_t>& lengths,
                                                           bool batch_first) {
  const Shape& s = x.shape();
  const std::size_t B = s[batch_first ? 0 : 1], F = s[2];
  const std::vector<double> v = x.to_vector();
  std::vector<double> maxima, means;
  for (std::size_t b = 0; b < B; ++b)
    for (std::size_t f = 0; f < F; ++f) {
      double largest = -std::numeric_limits<double>::infinity(), total = 0;
      for (std::size_t t = 0; t < lengths[b]; ++t) {
        largest = std::max(largest, at(v, s, batch_first, t, b, f));
        total += at(v, s, batch_first, t, b, f);
      }
      maxima.push_back(largest);
      means.push_back(total / double(lengths[b]));
    }
  return {maxima, means};
}

}  // namespace

TEST_CASE("max_over_steps and mean_over_steps give PyTorch's amax and mean over the unpadded "
          "steps, and their gradients, ties shared", "[nn][pool][parity]") {
  const std::string dir = std::string(TAPEGRAD_FIXTURES_DIR) + "/sequence_pooling/";
  const std::vector<std::string> names = tg::testing::fixture_index(dir);
  REQUIRE(names.size() >= 4);
  for (const std::string& name : names) {
    SECTION(name) {
      const nn::Archive a = nn::load_npz(dir + name + ".npz");
      const bool batch_first = a.integers.at("batch_first").data.at(0) != 0;
      std::vector<std::size_t> lengths;
      for (std::int64_t n : a.integers.at("lengths").data) lengths.push_back(std::size_t(n));
      const Tensor x = a.tensors.at("input").to(DType::Float64).set_requires_grad();
      const Tensor largest = nn::max_over_steps(x, lengths, batch_first);
      const Tensor average = nn::mean_over_steps(x, lengths, batch_first);
      const auto error = [](const Tensor& ours, const Tensor& theirs) {
        REQUIRE(ours.shape() == theirs.shape());
        return tg::testing::max_rel_error(ours.to_vector(), theirs.to_vector(), 1e-6);
      };
      CHECK(error(largest, a.tensors.at("max")) <= 1e-12);
      CHECK(error(average, a.tensors.at("mean")) <= 1e-12);
      sum(largest * a.tensors.at("proj/max") + average * a.tensors.at("proj/mean")).backward();
      CHECK(error(x.grad_tensor(), a.tensors.at("grads/input")) <= 1e-12);
    }
  }
}

TEST_CASE("max_over_steps and mean_over_steps read each sequence up to its own length",
          "[nn][pool]") {
  Generator gen(11);
  const std::vector<std::size_t> lengths{5, 2, 1, 4};
  for (bool batch_first : {false, true}) {
    INFO((batch_first ? "batch first" : "time major"));
    const Shape shape = batch_first ? Shape{4, 5, 3} : Shape{5, 4, 3};
    // Padded steps hold large values: were they read, the maxima and means would show it.
    Tensor x = Tensor::normal(shape, 0.0, 1.0, DType::Float64, gen);
    std::vector<double> v = x.to_vector();
    for (std::size_t b = 0; b < 4; ++b)
      for (std::size_t t = lengths[b]; t < 5; ++t)
        for (std::size_t f = 0; f < 3; ++f)
          v[batch_first ? (b * 5 + t) * 3 + f : (t * 4 + b) * 3 + f] = 100.0;
    x = Tensor::from_vector(v, shape, DType::Float64, true);
    const auto [maxima, means] = looped(x, lengths, batch_first);
    const Tensor largest = nn::max_over_steps(x, lengths, batch_first);
    const Tensor average = nn::mean_over_steps(x, lengths, batch_first);
    CHECK(largest.shape() == Shape{4, 3});
    tg::testing::check_values(largest, maxima, 1e-12);
    tg::testing::check_values(average, means, 1e-12);
    // No gradient reaches a padded step.
    sum(largest + average).backward();
    const std::vector<double> grad = x.grad_tensor().to_vector();
    for (std::size_t b = 0; b < 4; ++b)
      for (std::size_t t = lengths[b]; t < 5; ++t)
        for (std::size_t f = 0; f < 3; ++f)
          CHECK(grad[batch_first ? (b * 5 + t) * 3 + f : (t * 4 + b) * 3 + f] == 0.0);
    // Without lengths (or all full), every step counts: max and mean over the steps' axis.
    const int steps = batch_first ? 1 : 0;
    const std::vector<std::size_t> full(4, 5);
    tg::testing::check_values(nn::max_over_steps(x, {}, batch_first), max(x, {steps}).to_vector(),
                              0);
    tg::testing::check_values(nn::mean_over_steps(x, full, batch_first),
                              mean(x, {steps}).to_vector(), 1e-12);
  }
}

TEST_CASE("max_over_steps and mean_over_steps pass gradcheck and gradgradcheck",
          "[nn][pool][gradcheck]") {
  Generator gen(12);
  const std::vector<std::size_t> lengths{3, 1, 4};
  for (bool batch_first : {false, true}) {
    INFO((batch_first ? "batch first" : "time major"));
    const Tensor x = tg::testing::leaf64(
        Tensor::normal(batch_first ? Shape{3, 4, 2} : Shape{4, 3, 2}, 0.0, 1.0, DType::Float64, gen));
    const auto f = [&] {
      return concat({nn::max_over_steps(x, lengths, batch_first),
                     nn::mean_over_steps(x, lengths, batch_first)},
                    1);
    };
    const GradcheckReport first = gradcheck(f, {x});
    INFO(first.message());
    CHECK(first.ok);
    const GradcheckReport second = gradgradcheck(f, {x});
    INFO(second.message());
    CHECK(second.ok);
  }
}

TEST_CASE("max_over_steps and mean_over_steps refuse bad shapes and lengths in one line",
          "[nn][pool][errors]") {
  const Tensor x = Tensor::zeros({5, 2, 3});
  CHECK_THROWS_WITH(nn::max_over_steps(Tensor::zeros({5, 2})),
                    "max_over_steps: x must be [T, B, F], got [5,2]");
  CHECK_THROWS_WITH(nn::mean_over_steps(Tensor::zeros({5, 2}), {}, true),
                    "mean_over_steps: x must be [B, T, F], got [5,2]");
  CHECK_THROWS_WITH(nn::max_over_steps(x, {5, 2, 1}), "max_over_steps: 3 lengths for a batch of 2");
  CHECK_THROWS_WITH(nn::mean_over_steps(x, {0, 2}),
                    "mean_over_steps: sequence 0 has length 0 (expected 1 to 5)");
  CHECK_THROWS_WITH(nn::max_over_steps(x, {2, 6}),
                    "max_over_steps: sequence 1 has length 6 (expected 1 to 5)");
}
