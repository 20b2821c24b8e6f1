// Losses beyond the [N, C] case and sampling: K-dim and unbatched cross_entropy, label
// smoothing, the binary and regression losses and their modules (values against PyTorch are in
// test_op_parity), argument errors by text, and multinomial's statistics.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <set>

#include "tapegrad/autograd/ops.hpp"
#include "tapegrad/autograd/tape.hpp"
#include "tapegrad/nn/loss.hpp"
#include "test_checks.hpp"

using namespace tg;
using tg::testing::check_values;

namespace {

Tensor leaf(const std::vector<double>& values, const Shape& shape, DType dtype = DType::Float32) {
  return Tensor::from_vector(values, shape, dtype, true);
}

template <class F>
std::vector<std::string> recorded_ops(F f) {
  std::vector<std::string> ops;
  for (const auto& node : graph_nodes({f()})) ops.push_back(node->op);
  return ops;
}

CrossEntropyOptions with_reduction(Reduction r) {
  CrossEntropyOptions o;
  o.reduction(r);
  return o;
}

}  // namespace

TEST_CASE("cross_entropy over [N, C, d]: the class axis second, per-element shape", "[loss]") {
  // Logits [2, 3, 2]: each sample's class scores repeated along d; the values are PyTorch's.
  const Tensor x = leaf({0, 0, 1, 1, 2, 2, 3, 3, 0.5, 0.5, -1, -1}, {2, 3, 2}, DType::Float64);
  const Indices targets({0, 0, 1, 2}, {2, 2});
  const Tensor none = cross_entropy(x, targets, with_reduction(Reduction::None));
  CHECK(none.shape() == Shape{2, 2});
  const std::vector<double> expected = {2.407605964444, 2.407605964444, 2.595674329414, 4.095674329414};
  for (std::size_t i = 0; i < 4; ++i) CHECK(none.to_vector()[i] == Approx(expected[i]).epsilon(1e-12));
  const Tensor mean = cross_entropy(x, targets);
  CHECK(mean.shape() == Shape{});
  CHECK(mean.item() == Approx(2.8766401469293816).epsilon(1e-12));
  mean.backward();
  CHECK(x.grad_tensor().shape() == Shape{2, 3, 2});

  // One sample [C] with a scalar target: a scalar loss, whatever the reduction.
  const Tensor one = leaf({0, 1, 2}, {3}, DType::Float64);
  const Tensor l = cross_entropy(one, Indices({0}, Shape{}), with_reduction(Reduction::None));
  CHECK(l.shape() == Shape{});
  CHECK(l.item() == Approx(2.407605964444).epsilon(1e-12));
}

TEST_CASE("the [N, C] case stays one node, other shapes are views of it", "[loss]") {
  const Tensor logits = leaf({1, 2, 3, 4, 5, 6}, {2, 3});
  CrossEntropyOptions smoothing;
  smoothing.label_smoothing(0.1);
  CHECK(recorded_ops([&] { return cross_entropy(logits, Indices({0, 2}), smoothing); }) ==
        std::vector<std::string>{"cross_entropy"});
  const Tensor kdim = leaf({1, 2, 3, 4, 5, 6}, {1, 3, 2});
  const auto ops = recorded_ops([&] { return cross_entropy(kdim, Indices({0, 2}, {1, 2})); });
  CHECK(std::count(ops.begin(), ops.end(), "cross_entropy") == 1);
}

TEST_CASE("label smoothing 0 changes nothing, nll_loss refuses it", "[loss]") {
  const Tensor x = leaf({1, 2, 0.5, -1, 0, 3}, {2, 3}, DType::Float64);
  CrossEntropyOptions zero;
  zero.label_smoothing(0.0);
  CHECK(cross_entropy(x, Indices({1, 2}), zero).item() == cross_entropy(x, Indices({1, 2})).item());
  // e = 1: the loss is the mean of -sum_c log p_c / C alone.
  CrossEntropyOptions full;
  full.label_smoothing(1.0);
  const Tensor lp = log_softmax(x, 1);
  CHECK(cross_entropy(x, Indices({1, 2}), full).item() ==
        Approx(-sum(lp).item() / 3 / 2).epsilon(1e-12));
  CHECK_THROWS_WITH(nll_loss(lp, Indices({1, 2}), full),
                    "nll_loss: label_smoothing is an option of cross_entropy, not of nll_loss (got 1)");
}

TEST_CASE("classification losses name the bad shape or option", "[loss]") {
  const Tensor x = Tensor::zeros({2, 3, 5});
  CHECK_THROWS_WITH(cross_entropy(x, Indices({0, 1, 2, 0, 1, 2, 0, 1}, {2, 4})),
                    "cross_entropy: targets of shape [2,4] for input [2,3,5] (expected [2,5])");
  CHECK_THROWS_WITH(nll_loss(x, Indices(std::vector<std::int64_t>(10, 3), {2, 5})),
                    "nll_loss: target 3 (element 0) out of range for C = 3 classes (input [2,3,5])");
  CHECK_THROWS_WITH(cross_entropy(Tensor::zeros({3}), Indices({0, 1, 2})),
                    "cross_entropy: targets of shape [3] for input [3] (expected [])");
  CHECK_THROWS_WITH(cross_entropy(Tensor::scalar(1.0), Indices({0}, Shape{})),
                    "cross_entropy: input must be [C], [N, C] or [N, C, d1, ...], got []");
  CrossEntropyOptions bad;
  bad.label_smoothing(1.5);
  CHECK_THROWS_WITH(cross_entropy(Tensor::zeros({2, 3}), Indices({0, 1}), bad),
                    "cross_entropy: label_smoothing must be in [0, 1], got 1.5");
}

TEST_CASE("binary_cross_entropy clamps its logs at -100, as PyTorch", "[loss]") {
  const Tensor p = leaf({0, 1, 0.5}, {3});
  const Tensor t = Tensor::from_vector({1, 0, 1}, {3});
  check_values(binary_cross_entropy(p, t, {}, Reduction::None), {100, 100, 0.6931471806}, 1e-5);
  CHECK_THROWS_WITH(binary_cross_entropy(Tensor::from_vector({0.5, 1.5}, {2}), Tensor::zeros({2})),
                    "binary_cross_entropy: input values must be probabilities in [0, 1], got 1.5 "
                    "(element 1 of input [2])");
  CHECK_THROWS_WITH(binary_cross_entropy(Tensor::full({1}, 0.5), Tensor::zeros({2})),
                    "binary_cross_entropy: target of shape [2] for input [1] (they must be equal)");
  CHECK_THROWS_WITH(binary_cross_entropy(Tensor::full({2, 3}, 0.5), Tensor::zeros({2, 3}), Tensor::ones({2})),
                    "binary_cross_entropy: shapes [2,3] and [2] cannot be broadcast");
  CHECK_THROWS_WITH(binary_cross_entropy(Tensor::full({1, 3}, 0.5), Tensor::zeros({1, 3}), Tensor::ones({2, 3})),
                    "binary_cross_entropy: weight of shape [2,3] does not broadcast to the input's "
                    "shape [1,3]");
}

TEST_CASE("binary_cross_entropy_with_logits is finite at logits of 1000 in float32", "[loss]") {
  // PyTorch: 666.8977 and gradient [1/3, -1/3, 0].
  const Tensor x = leaf({1000, -1000, 0}, {3});
  const Tensor loss = binary_cross_entropy_with_logits(x, Tensor::from_vector({0, 1, 0.5}, {3}));
  CHECK(loss.item() == Approx(666.897705078125).epsilon(1e-6));
  loss.backward();
  check_values(x.grad_tensor(), {1.0 / 3, -1.0 / 3, 0});
  CHECK_THROWS_WITH(binary_cross_entropy_with_logits(Tensor::zeros({2, 3}), Tensor::zeros({2, 3}),
                                                     {}, Tensor::ones({2, 1, 3})),
                    "binary_cross_entropy_with_logits: pos_weight of shape [2,1,3] does not "
                    "broadcast to the input's shape [2,3]");
}

TEST_CASE("regression losses: the two pieces and their arguments", "[loss]") {
  const Tensor x = leaf({-3, -0.5, 0, 0.25, 2}, {5}, DType::Float64);
  const Tensor t = Tensor::zeros({5}, DType::Float64);
  check_values(l1_loss(x, t, Reduction::None), {3, 0.5, 0, 0.25, 2});
  check_values(smooth_l1_loss(x, t, Reduction::None, 0.5), {2.75, 0.25, 0, 0.0625, 1.75});
  check_values(huber_loss(x, t, Reduction::None, 0.5), {1.375, 0.125, 0, 0.03125, 0.875});
  CHECK(huber_loss(x, t, Reduction::Sum, 2.0).item() == Approx(4 + 0.125 + 0.03125 + 2));
  // beta = 0 is l1_loss itself (as F.smooth_l1_loss).
  CHECK(recorded_ops([&] { return smooth_l1_loss(x, t, Reduction::Mean, 0.0); }) ==
        std::vector<std::string>{"l1_loss"});
  CHECK_THROWS_WITH(smooth_l1_loss(x, t, Reduction::Mean, -1.0),
                    "smooth_l1_loss: beta must be >= 0, got -1 (input [5])");
  CHECK_THROWS_WITH(huber_loss(x, t, Reduction::Mean, 0.0),
                    "huber_loss: delta must be > 0, got 0 (input [5])");
  CHECK_THROWS_WITH(l1_loss(x, Tensor::zeros({3}, DType::Float64)),
                    "l1_loss: shapes [5] and [3] cannot be broadcast");
}

TEST_CASE("loss modules apply their options", "[loss][nn]") {
  const Tensor x = Tensor::from_vector({0.2, -1.0, 3.0, 0.7}, {2, 2}, DType::Float64);
  const Tensor t = Tensor::from_vector({1.0, 0.0, 0.5, 1.0}, {2, 2}, DType::Float64);
  const Tensor pos = Tensor::from_vector({2.0, 0.5}, {2}, DType::Float64);
  const Tensor w = Tensor::from_vector({1.5, 0.25}, {2}, DType::Float64);
  const nn::BCEWithLogitsLoss logits_loss(
      nn::BCEWithLogitsLossOptions().pos_weight(pos).weight(w).reduction(Reduction::Sum));
  CHECK(logits_loss(x, t).item() ==
        binary_cross_entropy_with_logits(x, t, w, pos, Reduction::Sum).item());
  CHECK(logits_loss.type_name() == "BCEWithLogitsLoss");
  const nn::BCELoss bce(nn::BCELossOptions().weight(w));
  CHECK(bce(sigmoid(x), t).item() == binary_cross_entropy(sigmoid(x), t, w).item());
  CHECK(nn::L1Loss(Reduction::Sum)(x, t).item() == Approx(0.8 + 1.0 + 2.5 + 0.3));
  const nn::SmoothL1Loss smooth(nn::SmoothL1LossOptions(0.5).reduction(Reduction::None));
  CHECK(smooth.options().beta() == 0.5);
  check_values(smooth(x, t), {0.55, 0.75, 2.25, 0.09});
  const nn::HuberLoss huber(nn::HuberLossOptions().delta(2.0));
  CHECK(huber(x, t).item() == huber_loss(x, t, Reduction::Mean, 2.0).item());
  CHECK(nn::HuberLoss()(x, t).item() == huber_loss(x, t).item());

  CrossEntropyOptions smoothing;
  smoothing.label_smoothing(0.2);
  const Tensor logits = Tensor::from_vector({1, 2, 3, 0, 0, 1, 2, -1, 0, 0, 1, 1}, {2, 3, 2}, DType::Float64);
  const Indices targets({0, 2, 1, 1}, {2, 2});
  CHECK(nn::CrossEntropyLoss(smoothing)(logits, targets).item() ==
        cross_entropy(logits, targets, smoothing).item());
}

// ---- multinomial ----

namespace {

// Counts of each category in a flat list of draws.
std::vector<double> counts(const Indices& draws, std::size_t classes) {
  std::vector<double> c(classes, 0.0);
  for (std::int64_t d : draws.data) {
    REQUIRE(d >= 0);
    REQUIRE(static_cast<std::size_t>(d) < classes);
    c[d] += 1;
  }
  return c;
}

// Pearson's chi-square of observed counts against probabilities p (categories with p > 0) and
// each category's z-score; zero-probability categories must be empty.
void check_frequencies(const std::vector<double>& observed, const std::vector<double>& p, double n,
                       double chi2_limit) {
  double chi2 = 0.0;
  for (std::size_t j = 0; j < p.size(); ++j) {
    INFO("category " << j << ": " << observed[j] << " of " << n << ", p = " << p[j]);
    if (p[j] == 0.0) {
      CHECK(observed[j] == 0.0);
      continue;
    }
    const double expected = n * p[j];
    chi2 += (observed[j] - expected) * (observed[j] - expected) / expected;
    CHECK(std::abs(observed[j] - expected) / std::sqrt(expected * (1 - p[j])) < 4.0);
  }
  INFO("chi-square " << chi2);
  CHECK(chi2 < chi2_limit);
}

}  // namespace

TEST_CASE("multinomial with replacement draws each category in proportion", "[sampling]") {
  // Unnormalised weights, one of them zero: probabilities 0.1, 0, 0.3, 0.6.
  const Tensor w = Tensor::from_vector({0.2, 0.0, 0.6, 1.2}, {4});
  Generator gen(2024);
  const Indices draws = multinomial(w, 20000, true, gen);
  CHECK(draws.shape == Shape{20000});
  // Two degrees of freedom: P(chi2 > 13.8) = 0.001.
  check_frequencies(counts(draws, 4), {0.1, 0.0, 0.3, 0.6}, 20000, 13.8);

  // Rows [N, C] are independent distributions, in float64 too.
  const Tensor rows = Tensor::from_vector({1, 1, 1, 1, 0, 0, 5, 15}, {2, 4}, DType::Float64);
  const Indices both = multinomial(rows, 20000, true, gen);
  CHECK(both.shape == Shape{2, 20000});
  const Indices first(std::vector<std::int64_t>(both.data.begin(), both.data.begin() + 20000));
  const Indices second(std::vector<std::int64_t>(both.data.begin() + 20000, both.data.end()));
  check_frequencies(counts(first, 4), {0.25, 0.25, 0.25, 0.25}, 20000, 16.3);  // 3 dof, 0.001
  check_frequencies(counts(second, 4), {0, 0, 0.25, 0.75}, 20000, 10.8);       // 1 dof, 0.001
}

TEST_CASE("multinomial without replacement: distinct draws, inclusion probabilities", "[sampling]") {
  const std::vector<double> w = {1, 2, 0, 3, 4};
  const Tensor probs = Tensor::from_vector(w, {5});
  Generator gen(7);
  // Every category of non-zero weight, each once; the zero weight never.
  for (int rep = 0; rep < 50; ++rep) {
    const Indices all = multinomial(probs, 4, false, gen);
    CHECK(std::set<std::int64_t>(all.data.begin(), all.data.end()) == std::set<std::int64_t>{0, 1, 3, 4});
  }
  // Two draws: category j is in the sample with probability p_j + sum_{i != j} p_i p_j / (1 - p_i).
  const double total = 10;
  std::vector<double> inclusion(5, 0.0);
  for (std::size_t j = 0; j < 5; ++j) {
    inclusion[j] = w[j] / total;
    for (std::size_t i = 0; i < 5; ++i)
      if (i != j) inclusion[j] += (w[i] / total) * (w[j] / total) / (1 - w[i] / total);
  }
  const std::size_t reps = 20000;
  std::vector<double> included(5, 0.0);
  for (std::size_t r = 0; r < reps; ++r) {
    const Indices two = multinomial(probs, 2, false, gen);
    REQUIRE(two.data[0] != two.data[1]);
    for (std::int64_t d : two.data) included[d] += 1;
  }
  for (std::size_t j = 0; j < 5; ++j) {
    INFO("category " << j << " included " << included[j] << " times, expected " << reps * inclusion[j]);
    if (inclusion[j] == 0.0) {
      CHECK(included[j] == 0.0);
      continue;
    }
    const double sd = std::sqrt(reps * inclusion[j] * (1 - inclusion[j]));
    CHECK(std::abs(included[j] - reps * inclusion[j]) < 4 * sd);
  }
}

TEST_CASE("multinomial repeats for a seed and draws only from its generator", "[sampling]") {
  const Tensor w = Tensor::from_vector({0.5, 1, 2, 0.25, 3}, {5});
  Generator a(99), b(99), c(100);
  const Indices first = multinomial(w, 200, true, a);
  CHECK(first.data == multinomial(w, 200, true, b).data);
  CHECK(first.data != multinomial(w, 200, true, c).data);
  manual_seed(3);
  const Indices from_default = multinomial(w, 3, false);
  manual_seed(3);
  CHECK(from_default.data == multinomial(w, 3, false).data);
}

TEST_CASE("multinomial names what is wrong with its arguments", "[sampling]") {
  const Tensor w = Tensor::from_vector({0, 1, 0, 2}, {4});
  CHECK_THROWS_WITH(multinomial(w, 3, false),
                    "multinomial: cannot draw 3 samples without replacement from row 0 of probs [4]: "
                    "it has only 2 categories of non-zero weight");
  CHECK_NOTHROW(multinomial(w, 3, true));
  CHECK_THROWS_WITH(multinomial(Tensor::from_vector({1, -0.5}, {2}), 1),
                    "multinomial: weight -0.5 (row 0, category 1) is not a finite non-negative "
                    "number (probs [2])");
  CHECK_THROWS_WITH(multinomial(Tensor::from_vector({2, 1, 0, 0}, {2, 2}), 1),
                    "multinomial: row 1 of probs [2,2] has no positive weight");
  CHECK_THROWS_WITH(multinomial(Tensor::ones({2, 2, 2}), 1),
                    "multinomial: probs must be [C] or [N, C] with C > 0, got [2,2,2]");
  CHECK_THROWS_WITH(multinomial(w, 0),
                    "multinomial: num_samples must be positive, got 0 (probs [4])");
}
