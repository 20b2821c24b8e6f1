// The ops' gradcheck cases: sample inputs for every registered op, walked by the gradcheck and
// gradgradcheck tests (each case is checked both ways). They live with the tests, not in the
// library; a registered op without a case fails tests/test_gradcheck.cpp.
#include "op_cases.hpp"

#include <set>
#include <utility>

#include "tapegrad/autograd/ops.hpp"

namespace tg::testing {

namespace {

void add_elementwise_cases(std::vector<GradcheckCase>& cases) {
  using D = GradcheckCase::Domain;
  auto f2 = [](Tensor (*op)(const Tensor&, const Tensor&)) {
    return [op](const std::vector<Tensor>& in) { return op(in[0], in[1]); };
  };
  auto f1 = [](Tensor (*op)(const Tensor&)) {
    return [op](const std::vector<Tensor>& in) { return op(in[0]); };
  };
  for (auto [name, op] : {std::pair{"add", &add}, {"sub", &sub}, {"mul", &mul}}) {
    cases.push_back({name, "same shape", {{3, 4}, {3, 4}}, f2(op)});
    cases.push_back({name, "broadcast row", {{3, 4}, {4}}, f2(op)});
    cases.push_back({name, "broadcast both ways", {{3, 1}, {1, 4}}, f2(op)});
    cases.push_back({name, "scalar operand", {{2, 3}, {}}, f2(op)});
  }
  cases.push_back({"div", "same shape", {{3, 4}, {3, 4}}, f2(&div), D::AwayFromZero});
  cases.push_back({"div", "broadcast column", {{3, 4}, {3, 1}}, f2(&div), D::AwayFromZero});
  cases.push_back({"pow", "tensor exponent", {{3, 4}, {3, 4}}, f2(static_cast<Tensor (*)(const Tensor&, const Tensor&)>(&pow)), D::Positive});
  cases.push_back({"pow", "broadcast exponent", {{2, 3}, {3}}, f2(static_cast<Tensor (*)(const Tensor&, const Tensor&)>(&pow)), D::Positive});
  cases.push_back({"pow_scalar", "cube", {{3, 4}}, [](const std::vector<Tensor>& in) { return pow(in[0], 3.0); }});
  cases.push_back({"pow_scalar", "fractional", {{5}}, [](const std::vector<Tensor>& in) { return pow(in[0], -1.5); }, D::Positive});
  cases.push_back({"neg", "matrix", {{2, 3}}, f1(&neg)});
  cases.push_back({"sqrt", "positive", {{2, 3}}, f1(&sqrt), D::Positive});
  cases.push_back({"exp", "matrix", {{2, 3}}, f1(&exp)});
  cases.push_back({"exp", "size-1 axes", {{1, 3, 1}}, f1(&exp)});
  cases.push_back({"log", "positive", {{2, 3}}, f1(&log), D::Positive});
  cases.push_back({"tanh", "matrix", {{4, 5}}, f1(&tanh)});
  cases.push_back({"sigmoid", "matrix", {{4, 5}}, f1(&sigmoid)});
  cases.push_back({"relu", "away from the kink", {{4, 5}}, f1(&relu), D::AwayFromZero});
  cases.push_back({"clamp", "both bounds active", {{4, 5}},
                   [](const std::vector<Tensor>& in) { return clamp(in[0], -0.5, 0.6); }});
  cases.push_back({"add", "scalar operator, chained", {{3}},
                   [](const std::vector<Tensor>& in) { return 2.0 * in[0] * in[0] - 1.0 + in[0] / 3.0; }});
}

void add_reduction_cases(std::vector<GradcheckCase>& cases) {
  using Axes = std::vector<int>;
  using Reducer = Tensor (*)(const Tensor&, const std::vector<int>&, bool);
  auto reduce = [](Reducer op, Axes axes, bool keepdims) {
    return [op, axes, keepdims](const std::vector<Tensor>& in) { return op(in[0], axes, keepdims); };
  };
  for (auto [name, op] : {std::pair<const char*, Reducer>{"sum", &sum}, {"mean", &mean},
                          {"max", &max}, {"min", &min}, {"logsumexp", &logsumexp}}) {
    cases.push_back({name, "all axes", {{3, 4}}, reduce(op, {}, false)});
    cases.push_back({name, "all axes, keepdims", {{2, 3}}, reduce(op, {}, true)});
    cases.push_back({name, "last axis", {{3, 5}}, reduce(op, {1}, false)});
    cases.push_back({name, "first axis, keepdims", {{4, 3}}, reduce(op, {0}, true)});
    cases.push_back({name, "negative axis, keepdims", {{2, 3, 4}}, reduce(op, {-1}, true)});
    cases.push_back({name, "middle axis", {{2, 3, 4}}, reduce(op, {-2}, false)});
    cases.push_back({name, "non-adjacent axes", {{2, 3, 4}}, reduce(op, {0, 2}, false)});
    cases.push_back({name, "two axes, keepdims", {{2, 3, 4}}, reduce(op, {2, 1}, true)});
    cases.push_back({name, "size-1 axes", {{3, 1, 4, 1}}, reduce(op, {1, 2}, false)});
    cases.push_back({name, "only a size-1 axis", {{3, 1}}, reduce(op, {1}, false)});
    cases.push_back({name, "scalar input", {{}}, reduce(op, {}, false)});
  }
  cases.push_back({"sum", "chained after itself", {{2, 3, 4}}, [](const std::vector<Tensor>& in) {
                     return sum(sum(in[0], {1}, true), {0});
                   }});
  using Softmax = Tensor (*)(const Tensor&, int);
  for (auto [name, op] : {std::pair<const char*, Softmax>{"softmax", &softmax},
                          {"log_softmax", &log_softmax}}) {
    auto along = [op = op](int axis) {
      return [op, axis](const std::vector<Tensor>& in) { return op(in[0], axis); };
    };
    cases.push_back({name, "last axis", {{3, 5}}, along(-1)});
    cases.push_back({name, "first axis", {{4, 3}}, along(0)});
    cases.push_back({name, "middle axis", {{2, 3, 4}}, along(1)});
    cases.push_back({name, "1-D", {{6}}, along(0)});
    cases.push_back({name, "size-1 axis", {{3, 1}}, along(1)});
    cases.push_back({name, "large values", {{2, 4}}, [op = op](const std::vector<Tensor>& in) {
                       return op(in[0] * 30.0, -1);
                     }});
  }
}

void add_linalg_cases(std::vector<GradcheckCase>& cases) {
  auto mm = [](const std::vector<Tensor>& in) { return matmul(in[0], in[1]); };
  cases.push_back({"matmul", "2-D", {{3, 4}, {4, 5}}, mm});
  cases.push_back({"matmul", "2-D with size-1 axes", {{1, 4}, {4, 1}}, mm});
  cases.push_back({"matmul", "batched 3-D", {{2, 3, 4}, {2, 4, 2}}, mm});
  cases.push_back({"matmul", "3-D x shared 2-D", {{2, 3, 4}, {4, 5}}, mm});
  cases.push_back({"matmul", "4-D, as attention heads", {{2, 3, 4, 5}, {2, 3, 5, 2}}, mm});
  cases.push_back({"matmul", "broadcast batch axes both ways", {{2, 1, 3, 4}, {1, 3, 4, 2}}, mm});
  cases.push_back({"matmul", "2-D x batched 3-D", {{3, 4}, {2, 4, 5}}, mm});
  cases.push_back({"matmul", "missing leading axis", {{2, 2, 3, 4}, {2, 4, 3}}, mm});
  cases.push_back({"matmul", "4-D x shared 2-D", {{2, 2, 3, 4}, {4, 2}}, mm});
  cases.push_back({"linear", "with bias", {{3, 4}, {5, 4}, {5}},
                   [](const std::vector<Tensor>& in) { return linear(in[0], in[1], in[2]); }});
  cases.push_back({"linear", "3-D input, no bias", {{2, 3, 4}, {2, 4}},
                   [](const std::vector<Tensor>& in) { return linear(in[0], in[1]); }});
  cases.push_back({"transpose", "2-D default", {{3, 4}},
                   [](const std::vector<Tensor>& in) { return transpose(in[0]); }});
  cases.push_back({"transpose", "3-D permutation", {{2, 3, 4}},
                   [](const std::vector<Tensor>& in) { return transpose(in[0], {1, 2, 0}); }});
}

void add_shape_cases(std::vector<GradcheckCase>& cases) {
  using In = const std::vector<Tensor>&;
  auto constant = [](std::vector<double> values, Shape shape) {
    return Tensor::from_vector(values, shape, DType::Float64);
  };
  cases.push_back({"reshape", "inferred axis", {{2, 3, 4}}, [](In in) { return reshape(in[0], {4, -1}); }});
  cases.push_back({"reshape", "add size-1 axes", {{6}}, [](In in) { return reshape(in[0], {1, 2, 1, 3}); }});
  cases.push_back({"reshape", "to a scalar", {{1, 1}}, [](In in) { return reshape(in[0], {}); }});
  cases.push_back({"reshape", "used twice", {{2, 3}}, [](In in) {
                     return concat({reshape(in[0], {3, 2}), reshape(in[0], {-1, 2})}, 0);
                   }});

  cases.push_back({"concat", "axis 0", {{2, 3}, {4, 3}}, [](In in) { return concat({in[0], in[1]}, 0); }});
  cases.push_back({"concat", "negative axis, three inputs", {{2, 3}, {2, 1}, {2, 2}},
                   [](In in) { return concat({in[0], in[1], in[2]}, -1); }});
  cases.push_back({"concat", "middle axis of 3-D", {{2, 1, 3}, {2, 2, 3}},
                   [](In in) { return concat({in[0], in[1]}, 1); }});
  cases.push_back({"concat", "same tensor twice", {{2, 3}}, [](In in) { return concat({in[0], in[0]}, 1); }});
  cases.push_back({"concat", "single input", {{3}}, [](In in) { return concat({in[0]}); }});

  cases.push_back({"stack", "axis 0", {{2, 3}, {2, 3}, {2, 3}},
                   [](In in) { return stack({in[0], in[1], in[2]}, 0); }});
  cases.push_back({"stack", "new last axis", {{2, 3}, {2, 3}}, [](In in) { return stack({in[0], in[1]}, -1); }});
  cases.push_back({"stack", "middle axis", {{2, 3}, {2, 3}}, [](In in) { return stack({in[0], in[1]}, 1); }});
  cases.push_back({"stack", "scalars", {{}, {}}, [](In in) { return stack({in[0], in[1], in[0]}); }});

  cases.push_back({"slice", "middle columns", {{3, 5}}, [](In in) { return slice(in[0], 1, 1, 4); }});
  cases.push_back({"slice", "negative bounds and axis", {{2, 3, 5}}, [](In in) { return slice(in[0], -1, -3, -1); }});
  cases.push_back({"slice", "one row, size-1 result", {{4, 3}}, [](In in) { return slice(in[0], 0, 2, 3); }});
  cases.push_back({"slice", "end past the extent", {{2, 4, 2}}, [](In in) { return slice(in[0], 1, 1, 100); }});
  cases.push_back({"slice", "empty result", {{3, 2}}, [](In in) { return slice(in[0], 0, 2, 1); }});

  cases.push_back({"index_select", "rows, repeated", {{4, 3}}, [](In in) {
                     return index_select(in[0], 0, Indices({2, 0, 2, 3}));
                   }});
  cases.push_back({"index_select", "last axis", {{3, 4}}, [](In in) { return index_select(in[0], -1, Indices({3, 1})); }});
  cases.push_back({"index_select", "middle axis of 3-D", {{2, 3, 2}}, [](In in) {
                     return index_select(in[0], 1, Indices({1, 1, 0}));
                   }});

  cases.push_back({"embedding", "repeated indices", {{5, 3}}, [](In in) { return embedding(in[0], Indices({1, 4, 1, 0})); }});
  // The forward still reads the padding row (as PyTorch's does); masking those outputs makes the
  // numeric gradient of the padding row zero, which is what the backward must give it.
  cases.push_back({"embedding", "2-D indices with padding", {{4, 2}}, [constant](In in) {
                     const Tensor not_padding = constant({0, 1, 1, 0, 1, 1}, {2, 3, 1});
                     return embedding(in[0], Indices({0, 2, 3, 0, 3, 3}, {2, 3}), 0) * not_padding;
                   }});
  cases.push_back({"embedding", "scalar index", {{3, 4}}, [](In in) { return embedding(in[0], Indices({2}, {})); }});

  cases.push_back({"where", "same shapes", {{2, 3}, {2, 3}}, [constant](In in) {
                     return where(constant({1, 0, 0, 1, 1, 0}, {2, 3}), in[0], in[1]);
                   }});
  cases.push_back({"where", "all three broadcast", {{3, 1}, {4}}, [constant](In in) {
                     return where(constant({1, 0, 0, 1, 0, 1, 1, 0, 2, 0, -1, 0}, {3, 4}), in[0], in[1]);
                   }});
  cases.push_back({"where", "row condition, scalar b", {{3, 4}, {}}, [constant](In in) {
                     return where(constant({0, 1, 1, 0}, {4}), in[0], in[1]);
                   }});
  cases.push_back({"where", "condition computed from an input", {{3, 4}, {3, 4}, {3, 4}}, [](In in) {
                     return where(relu(in[0]), in[1], in[2]);  // gets no gradient through cond
                   }});

  cases.push_back({"masked_fill", "same shape", {{2, 3}}, [constant](In in) {
                     return masked_fill(in[0], constant({0, 1, 0, 0, 0, 1}, {2, 3}), -5.0);
                   }});
  cases.push_back({"masked_fill", "broadcast column mask", {{3, 4}}, [constant](In in) {
                     return masked_fill(in[0], constant({1, 0, 1}, {3, 1}), 0.0);
                   }});
  cases.push_back({"masked_fill", "padding mask [T, B, 1] over [T, B, F]", {{3, 2, 4}},
                   [constant](In in) {
                     return masked_fill(in[0], constant({0, 0, 0, 1, 1, 1}, {3, 2, 1}), -2.0);
                   }});
  cases.push_back({"masked_fill", "mask broadcast along a middle axis", {{2, 3, 2}},
                   [constant](In in) {
                     return masked_fill(in[0], constant({1, 0, 0, 1}, {2, 1, 2}), 3.0);
                   }});
  cases.push_back({"broadcast_to", "new leading axes", {{3}}, [](In in) { return broadcast_to(in[0], {2, 4, 3}); }});
  cases.push_back({"broadcast_to", "size-1 axes", {{3, 1}}, [](In in) { return broadcast_to(in[0], {2, 3, 5}); }});
  cases.push_back({"broadcast_to", "scalar", {{}}, [](In in) { return broadcast_to(in[0], {2, 2}); }});
}

void add_loss_cases(std::vector<GradcheckCase>& cases) {
  using In = const std::vector<Tensor>&;
  auto options = [](Reduction reduction, long ignore_index = -100, Tensor weight = Tensor()) {
    CrossEntropyOptions o;
    o.reduction(reduction);
    o.ignore_index(ignore_index);
    o.weight(std::move(weight));
    return o;
  };
  auto class_weights = [] { return Tensor::from_vector({0.5, 2.0, 1.0, 0.25, 1.5}, {5}, DType::Float64); };
  const Indices targets({1, 0, 4, 1});
  using Loss = Tensor (*)(const Tensor&, const Indices&, const CrossEntropyOptions&);
  for (auto [name, op] : {std::pair<const char*, Loss>{"cross_entropy", &cross_entropy},
                          {"nll_loss", &nll_loss}}) {
    auto loss = [op = op, targets](CrossEntropyOptions o) {
      return [op, targets, o](In in) { return op(in[0], targets, o); };
    };
    cases.push_back({name, "mean", {{4, 5}}, loss(options(Reduction::Mean))});
    cases.push_back({name, "sum", {{4, 5}}, loss(options(Reduction::Sum))});
    cases.push_back({name, "no reduction", {{4, 5}}, loss(options(Reduction::None))});
    cases.push_back({name, "ignore_index", {{4, 5}}, loss(options(Reduction::Mean, 1))});
    cases.push_back({name, "class weights, mean", {{4, 5}}, [op = op, targets, options, class_weights](In in) {
                       return op(in[0], targets, options(Reduction::Mean, -100, class_weights()));
                     }});
    cases.push_back({name, "class weights, ignore_index, none", {{4, 5}},
                     [op = op, targets, options, class_weights](In in) {
                       return op(in[0], targets, options(Reduction::None, 4, class_weights()));
                     }});
    cases.push_back({name, "one row", {{1, 3}}, [op = op](In in) { return op(in[0], Indices({2}), {}); }});
  }
  cases.push_back({"cross_entropy", "large logits", {{3, 4}}, [](In in) {
                     return cross_entropy(in[0] * 40.0, Indices({0, 3, 2}));
                   }});
  auto mse = [](Reduction r) { return [r](In in) { return mse_loss(in[0], in[1], r); }; };
  cases.push_back({"mse_loss", "mean", {{3, 4}, {3, 4}}, mse(Reduction::Mean)});
  cases.push_back({"mse_loss", "sum", {{3, 4}, {3, 4}}, mse(Reduction::Sum)});
  cases.push_back({"mse_loss", "no reduction", {{3, 4}, {3, 4}}, mse(Reduction::None)});
  cases.push_back({"mse_loss", "broadcast target", {{3, 4}, {3, 1}}, mse(Reduction::Mean)});
  cases.push_back({"mse_loss", "broadcast, no reduction", {{4}, {2, 1}}, mse(Reduction::None)});

  cases.push_back({"dropout", "p = 0.3, reseeded mask", {{4, 5}}, [](In in) {
                     Generator gen(7);  // the same mask at every evaluation
                     return dropout(in[0], 0.3, true, gen);
                   }});
  cases.push_back({"dropout", "p = 0.5, odd size, 3-D", {{3, 1, 5}}, [](In in) {
                     Generator gen(11);
                     return dropout(in[0], 0.5, true, gen);
                   }});
}

void add_activation_cases(std::vector<GradcheckCase>& cases) {
  using D = GradcheckCase::Domain;
  using In = const std::vector<Tensor>&;
  cases.push_back({"abs", "away from the kink", {{3, 4}}, [](In in) { return abs(in[0]); }, D::AwayFromZero});
  cases.push_back({"abs", "scalar", {{}}, [](In in) { return abs(in[0]); }, D::AwayFromZero});
  cases.push_back({"erf", "matrix", {{3, 4}}, [](In in) { return erf(in[0]); }});
  cases.push_back({"erf", "wide range", {{6}}, [](In in) { return erf(in[0] * 3.0); }});
  cases.push_back({"log1p", "matrix", {{3, 4}}, [](In in) { return log1p(in[0]); }, D::Positive});
  cases.push_back({"log1p", "near -1 and 0", {{5}}, [](In in) { return log1p(in[0] * 0.9 - 0.9); }, D::Positive});
  // The composed activations, under the op whose gradient they lean on.
  cases.push_back({"mul", "silu", {{3, 4}}, [](In in) { return silu(in[0]); }});
  cases.push_back({"where", "leaky_relu", {{3, 4}}, [](In in) { return leaky_relu(in[0], 0.2); }, D::AwayFromZero});
  cases.push_back({"where", "elu, both branches", {{3, 4}}, [](In in) { return elu(in[0] * 2.0, 0.7); }, D::AwayFromZero});
  cases.push_back({"softplus", "matrix", {{3, 4}}, [](In in) { return softplus(in[0]); }});
  cases.push_back({"softplus", "beta 2, both sides of the threshold", {{2, 5}},
                   [](In in) { return softplus(in[0] * 15.0, 2.0, 20.0); }, D::AwayFromZero});
  cases.push_back({"softplus", "large negative", {{4}}, [](In in) { return softplus(in[0] * 50.0); }, D::AwayFromZero});
  cases.push_back({"gelu", "matrix", {{3, 4}}, [](In in) { return gelu(in[0]); }});
  cases.push_back({"gelu", "wide range, size-1 axes", {{1, 6, 1}}, [](In in) { return gelu(in[0] * 4.0); }});
  cases.push_back({"gelu_tanh", "matrix", {{3, 4}}, [](In in) { return gelu(in[0], GeluApproximation::Tanh); }});
  cases.push_back({"gelu_tanh", "wide range", {{7}}, [](In in) { return gelu(in[0] * 4.0, GeluApproximation::Tanh); }});
  for (auto [name, op] : {std::pair{"minimum", &minimum}, {"maximum", &maximum}}) {
    auto f = [op = op](In in) { return op(in[0], in[1]); };
    cases.push_back({name, "same shape", {{3, 4}, {3, 4}}, f});
    cases.push_back({name, "broadcast row", {{3, 4}, {4}}, f});
    cases.push_back({name, "broadcast both ways", {{3, 1}, {1, 4}}, f});
    cases.push_back({name, "scalar operand", {{2, 3}, {}}, f});
    // Ties get half the gradient each, which keeps the finite difference's two-sided average.
    cases.push_back({name, "tied with itself", {{2, 3}}, [op = op](In in) { return op(in[0], in[0]); }});
  }
}

void add_indexing_cases(std::vector<GradcheckCase>& cases) {
  using In = const std::vector<Tensor>&;
  cases.push_back({"topk", "largest 2 of the last axis", {{3, 5}}, [](In in) { return topk(in[0], 2).values; }});
  cases.push_back({"topk", "smallest 3 along the first axis", {{4, 2}},
                   [](In in) { return topk(in[0], 3, 0, false).values; }});
  cases.push_back({"topk", "all of a 1-D tensor", {{4}}, [](In in) { return topk(in[0], 4).values; }});
  cases.push_back({"topk", "k = 0", {{2, 3}}, [](In in) { return topk(in[0], 0).values; }});
  const Indices rows({2, 0, 2, 1, 1, 1}, {2, 3});  // repeated positions accumulate
  cases.push_back({"gather", "along the last axis, repeats", {{2, 3}}, [rows](In in) { return gather(in[0], 1, rows); }});
  cases.push_back({"gather", "along the first axis, smaller index", {{4, 3}},
                   [](In in) { return gather(in[0], 0, Indices({3, 0, 0}, {1, 3})); }});
  cases.push_back({"gather", "middle axis of 3-D", {{2, 3, 2}},
                   [](In in) { return gather(in[0], 1, Indices({0, 2, 1, 1}, {2, 1, 2})); }});
  cases.push_back({"scatter_add", "last axis, repeats", {{2, 3}, {2, 3}},
                   [rows](In in) { return scatter_add(in[0], 1, rows, in[1]); }});
  cases.push_back({"scatter_add", "first axis, into a larger input", {{4, 2}, {1, 2}},
                   [](In in) { return scatter_add(in[0], 0, Indices({3, 3}, {1, 2}), in[1]); }});
  cases.push_back({"index_add", "rows, repeated", {{4, 3}, {3, 3}},
                   [](In in) { return index_add(in[0], 0, Indices({1, 3, 1}), in[1]); }});
  cases.push_back({"index_add", "middle axis of 3-D", {{2, 3, 2}, {2, 2, 2}},
                   [](In in) { return index_add(in[0], 1, Indices({2, 0}), in[1]); }});
  cases.push_back({"index_add", "empty index", {{2, 3}, {0, 3}},
                   [](In in) { return index_add(in[0], 0, Indices(std::vector<std::int64_t>{}), in[1]); }});
}

void add_statistics_cases(std::vector<GradcheckCase>& cases) {
  using In = const std::vector<Tensor>&;
  using Axes = std::vector<int>;
  for (auto [name, op] : {std::pair{"var", &var}, {"std", &stddev}}) {
    auto f = [op = op](Axes axes, long correction, bool keepdims) {
      return [op, axes, correction, keepdims](In in) { return op(in[0], axes, correction, keepdims); };
    };
    cases.push_back({name, "all axes", {{3, 4}}, f({}, 1, false)});
    cases.push_back({name, "last axis, keepdims", {{3, 5}}, f({-1}, 1, true)});
    cases.push_back({name, "first axis, biased", {{4, 3}}, f({0}, 0, false)});
    cases.push_back({name, "two axes of 3-D", {{2, 3, 4}}, f({0, 2}, 1, false)});
    cases.push_back({name, "size-1 axes kept", {{3, 1, 4}}, f({2}, 1, false)});
  }
  auto ln = [](Shape normalized, bool affine) {
    return [normalized, affine](In in) {
      return affine ? layer_norm(in[0], normalized, in[1], in[2]) : layer_norm(in[0], normalized);
    };
  };
  cases.push_back({"layer_norm", "affine, last axis", {{3, 5}, {5}, {5}}, ln({5}, true)});
  cases.push_back({"layer_norm", "affine, two trailing axes of 3-D", {{2, 3, 4}, {3, 4}, {3, 4}}, ln({3, 4}, true)});
  cases.push_back({"layer_norm", "no affine, one row", {{1, 6}}, ln({6}, false)});
  cases.push_back({"layer_norm", "weight only, 1-D input", {{7}, {7}},
                   [](In in) { return layer_norm(in[0], {7}, in[1]); }});
  cases.push_back({"layer_norm", "two features", {{4, 2}, {2}, {2}}, ln({2}, true)});
  auto ms = [](Tensor mask, int axis) {
    return [mask, axis](In in) { return masked_softmax(in[0], mask, axis); };
  };
  const Tensor keys = Tensor::from_vector({0, 0, 1, 0, 1, 1, 0, 0, 0, 0, 1, 1}, {3, 4}, DType::Float64);
  cases.push_back({"masked_softmax", "padding mask, last axis", {{3, 4}}, ms(keys, -1)});
  cases.push_back({"masked_softmax", "broadcast key mask over heads", {{3, 2, 4}},
                   ms(Tensor::from_vector({0, 1, 0, 1, 0, 0, 0, 0, 1, 1, 1, 0}, {3, 1, 4}, DType::Float64), -1)});
  cases.push_back({"masked_softmax", "a fully masked row", {{2, 3}},
                   ms(Tensor::from_vector({1, 1, 1, 0, 1, 0}, {2, 3}, DType::Float64), 1)});
  cases.push_back({"masked_softmax", "first axis, nothing masked", {{4, 3}}, ms(Tensor::zeros({1}, DType::Float64), 0)});
}

}  // namespace

const std::vector<GradcheckCase>& op_cases() {
  static const std::vector<GradcheckCase> cases = [] {
    std::vector<GradcheckCase> all;
    add_elementwise_cases(all);
    add_reduction_cases(all);
    add_linalg_cases(all);
    add_shape_cases(all);
    add_loss_cases(all);
    add_more_loss_cases(all);
    add_activation_cases(all);
    add_indexing_cases(all);
    add_statistics_cases(all);
    add_convolution_cases(all);
    add_view_cases(all);
    return all;
  }();
  return cases;
}

std::vector<std::string> op_case_names() {
  std::set<std::string> names;
  for (const auto& c : op_cases()) names.insert(c.op);
  return {names.begin(), names.end()};
}

}  // namespace tg::testing
