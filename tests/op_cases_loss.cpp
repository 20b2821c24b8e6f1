// Gradcheck cases of the losses beyond [N, C] classification: K-dimensional and unbatched
// cross_entropy / nll_loss, label smoothing, the binary cross-entropies and the robust
// regression losses. Inputs near a loss's kink (|input - target| = beta) are kept away by
// construction: the element scales below put each element clearly inside or outside.
#include <utility>

#include "op_cases.hpp"
#include "tapegrad/autograd/ops.hpp"

namespace tg::testing {

namespace {

using In = const std::vector<Tensor>&;

Tensor constant(std::vector<double> values, Shape shape) {
  return Tensor::from_vector(values, shape, DType::Float64);
}

void add_classification_nd_cases(std::vector<GradcheckCase>& cases) {
  const Tensor weights = constant({0.5, 2.0, 1.0}, {3});
  // [2, 3, 4] logits (C = 3 on axis 1), targets [2, 4].
  const Indices targets({0, 2, 1, 1, 2, 0, 0, 1}, {2, 4});
  using Loss = Tensor (*)(const Tensor&, const Indices&, const CrossEntropyOptions&);
  for (auto [name, op] : {std::pair<const char*, Loss>{"cross_entropy", &cross_entropy},
                          {"nll_loss", &nll_loss}}) {
    auto loss = [op = op, targets](CrossEntropyOptions o) {
      return [op, targets, o](In in) { return op(in[0], targets, o); };
    };
    cases.push_back({name, "K-dim, mean", {{2, 3, 4}}, loss(ce_options(Reduction::Mean))});
    cases.push_back({name, "K-dim, no reduction", {{2, 3, 4}}, loss(ce_options(Reduction::None))});
    cases.push_back({name, "K-dim, weights and ignore_index, mean", {{2, 3, 4}},
                     loss(ce_options(Reduction::Mean, 1, weights))});
    cases.push_back({name, "K-dim, weights, sum", {{2, 3, 4}}, loss(ce_options(Reduction::Sum, -100, weights))});
    cases.push_back({name, "two spatial axes", {{2, 3, 2, 2}}, [op = op](In in) {
                       return op(in[0], Indices({2, 0, 1, 1, 0, 0, 2, 1}, {2, 2, 2}), {});
                     }});
    cases.push_back({name, "unbatched [C], scalar target", {{5}}, [op = op](In in) {
                       return op(in[0], Indices({3}, Shape{}), ce_options(Reduction::None));
                     }});
  }
  const Indices rows({1, 0, 2, 1});
  auto smoothed = [](Indices t, CrossEntropyOptions o) {
    return [t, o](In in) { return cross_entropy(in[0], t, o); };
  };
  cases.push_back({"cross_entropy", "label smoothing, mean", {{4, 3}}, smoothed(rows, ce_options(Reduction::Mean, -100, {}, 0.2))});
  cases.push_back({"cross_entropy", "label smoothing, weights, ignore_index, mean", {{4, 3}},
                   smoothed(rows, ce_options(Reduction::Mean, 0, weights, 0.3))});
  cases.push_back({"cross_entropy", "label smoothing, weights, none", {{4, 3}},
                   smoothed(rows, ce_options(Reduction::None, 2, weights, 0.1))});
  cases.push_back({"cross_entropy", "label smoothing, K-dim, sum", {{2, 3, 4}},
                   smoothed(targets, ce_options(Reduction::Sum, 1, {}, 0.25))});
  cases.push_back({"cross_entropy", "label smoothing 1, weights, K-dim", {{2, 3, 4}},
                   smoothed(targets, ce_options(Reduction::Mean, -100, weights, 1.0))});
}

void add_binary_cases(std::vector<GradcheckCase>& cases) {
  const Tensor w = constant({0.5, 2.0, 1.0, 0.25}, {4});
  const Tensor pos = constant({3.0, 0.5, 1.0, 2.0}, {4});
  auto bce = [](Reduction r, Tensor weight) {
    return [r, weight](In in) { return binary_cross_entropy(sigmoid(in[0] * 2.0), sigmoid(in[1]), weight, r); };
  };
  cases.push_back({"binary_cross_entropy", "mean", {{3, 4}, {3, 4}}, bce(Reduction::Mean, {})});
  cases.push_back({"binary_cross_entropy", "sum, weight [4]", {{3, 4}, {3, 4}}, bce(Reduction::Sum, w)});
  cases.push_back({"binary_cross_entropy", "no reduction, weight", {{3, 4}, {3, 4}}, bce(Reduction::None, w)});
  cases.push_back({"binary_cross_entropy", "hard labels", {{5}}, [](In in) {
                     return binary_cross_entropy(sigmoid(in[0]), constant({0, 1, 1, 0, 1}, {5}));
                   }});
  auto logits = [](Reduction r, Tensor weight, Tensor pos_weight) {
    return [r, weight, pos_weight](In in) {
      return binary_cross_entropy_with_logits(in[0] * 3.0, sigmoid(in[1]), weight, pos_weight, r);
    };
  };
  const char* name = "binary_cross_entropy_with_logits";
  cases.push_back({name, "mean", {{3, 4}, {3, 4}}, logits(Reduction::Mean, {}, {})});
  cases.push_back({name, "no reduction, weight", {{3, 4}, {3, 4}}, logits(Reduction::None, w, {})});
  cases.push_back({name, "sum, pos_weight [4]", {{3, 4}, {3, 4}}, logits(Reduction::Sum, {}, pos)});
  cases.push_back({name, "mean, weight and pos_weight", {{3, 4}, {3, 4}}, logits(Reduction::Mean, w, pos)});
  cases.push_back({name, "large logits", {{4}}, [](In in) {
                     return binary_cross_entropy_with_logits(in[0] * 60.0, constant({0, 1, 0.3, 1}, {4}));
                   }});
}

void add_regression_cases(std::vector<GradcheckCase>& cases) {
  using D = GradcheckCase::Domain;
  // |input| is 0.3 |x| <= 0.39 (inside) or big |x| >= 1.2 (outside) on alternate elements; the
  // target, 0.1 |y| <= 0.13, leaves every |input - target| at least 0.07 from the kink.
  auto scaled = [](double big) {
    std::vector<double> s;
    for (int i = 0; i < 12; ++i) s.push_back(i % 2 ? big : 0.3);
    return constant(s, {3, 4});
  };
  const Tensor smooth_scale = scaled(4.0), huber_scale = scaled(6.0);
  auto smooth_l1 = [smooth_scale](Reduction r) {
    return [r, smooth_scale](In in) { return smooth_l1_loss(in[0] * smooth_scale, in[1] * 0.1, r, 1.0); };
  };
  auto huber = [huber_scale](Reduction r) {
    return [r, huber_scale](In in) { return huber_loss(in[0] * huber_scale, in[1] * 0.1, r, 1.5); };
  };
  auto l1 = [](Reduction r) { return [r](In in) { return l1_loss(in[0], in[1] * 0.1, r); }; };
  for (auto [label, r] : {std::pair{"mean", Reduction::Mean}, {"sum", Reduction::Sum}, {"no reduction", Reduction::None}}) {
    cases.push_back({"l1_loss", label, {{3, 4}, {3, 4}}, l1(r), D::AwayFromZero});
    cases.push_back({"smooth_l1_loss", label, {{3, 4}, {3, 4}}, smooth_l1(r), D::AwayFromZero});
    cases.push_back({"huber_loss", label, {{3, 4}, {3, 4}}, huber(r), D::AwayFromZero});
  }
  cases.push_back({"l1_loss", "broadcast target", {{3, 4}, {4}}, l1(Reduction::Mean), D::AwayFromZero});
  cases.push_back({"smooth_l1_loss", "broadcast target, all inside (beta 5)", {{3, 4}, {4}}, [](In in) {
                     return smooth_l1_loss(in[0], in[1] * 0.1, Reduction::Sum, 5.0);
                   }, D::AwayFromZero});
  cases.push_back({"huber_loss", "broadcast target", {{3, 4}, {4}}, [huber_scale](In in) {
                     return huber_loss(in[0] * huber_scale, in[1] * 0.1, Reduction::Mean, 1.5);
                   }, D::AwayFromZero});
}

}  // namespace

void add_more_loss_cases(std::vector<GradcheckCase>& cases) {
  add_classification_nd_cases(cases);
  add_binary_cases(cases);
  add_regression_cases(cases);
}

}  // namespace tg::testing
