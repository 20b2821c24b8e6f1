// Forward values, hand-checked gradients and error messages of the reduction, shape and loss ops.
#include <catch2/catch.hpp>

#include <cmath>
#include <limits>

#include "tapegrad/autograd/ops.hpp"
#include "tapegrad/autograd/tape.hpp"
#include "test_checks.hpp"

using namespace tg;
using tg::testing::check_values;

namespace {

Tensor leaf(const std::vector<double>& values, const Shape& shape, DType dtype = DType::Float32) {
  return Tensor::from_vector(values, shape, dtype, true);
}

// The op names, in execution order, of the graph behind the tensor f() returns.
template <class F>
std::vector<std::string> recorded_ops(F f) {
  std::vector<std::string> ops;
  for (const auto& node : graph_nodes({f()})) ops.push_back(node->op);
  return ops;
}

const double kInf = std::numeric_limits<double>::infinity();

}  // namespace

TEST_CASE("sum and mean over axes, with and without keepdims", "[ops][reduction]") {
  const Tensor x = Tensor::from_vector({1, 2, 3, 4, 5, 6}, {2, 3});
  CHECK(sum(x).shape() == Shape{});
  CHECK(sum(x).item() == 21);
  check_values(sum(x, {0}), {5, 7, 9});
  const Tensor rows = sum(x, {-1}, true);
  CHECK(rows.shape() == Shape{2, 1});
  check_values(rows, {6, 15});
  CHECK(sum(x, {}, true).shape() == Shape{1, 1});
  check_values(mean(x, {1}), {2, 5});
  CHECK(mean(x).item() == Approx(3.5));

  std::vector<double> values(24);
  for (std::size_t i = 0; i < values.size(); ++i) values[i] = static_cast<double>(i);
  const Tensor cube = Tensor::from_vector(values, {2, 3, 4});
  check_values(sum(cube, {0, 2}), {60, 92, 124});  // sum over i,k of 12i + 4j + k
  CHECK(sum(cube, {2, 0}, true).shape() == Shape{1, 3, 1});
  check_values(mean(cube, {1}), {4, 5, 6, 7, 16, 17, 18, 19});
  CHECK(sum(Tensor::zeros({3, 0})).item() == 0);
  check_values(sum(Tensor::zeros({3, 0}), {1}), {0, 0, 0});
}

TEST_CASE("sum and mean spread the gradient back over the reduced axes", "[ops][reduction]") {
  const Tensor x = leaf({1, 2, 3, 4, 5, 6}, {2, 3});
  sum(x, {0}).backward(Tensor::from_vector({1, 2, 3}, {3}));
  check_values(x.grad_tensor(), {1, 2, 3, 1, 2, 3});
  x.zero_grad();
  mean(x, {1}, true).backward(Tensor::from_vector({3, 6}, {2, 1}));
  check_values(x.grad_tensor(), {1, 1, 1, 2, 2, 2});
  x.zero_grad();
  mean(x).backward();
  check_values(x.grad_tensor(), std::vector<double>(6, 1.0 / 6));
}

TEST_CASE("max shares the gradient equally among tied maxima", "[ops][reduction]") {
  const Tensor x = leaf({1, 3, 3, 2, 2, 2}, {2, 3});
  const Tensor m = max(x, {1});
  check_values(m, {3, 2});
  m.backward(Tensor::from_vector({1, 1}, {2}));
  check_values(x.grad_tensor(), {0, 0.5, 0.5, 1.0 / 3, 1.0 / 3, 1.0 / 3});

  const Tensor y = leaf({3, 1, 3, 3}, {2, 2});
  max(y).backward();
  check_values(y.grad_tensor(), {1.0 / 3, 0, 1.0 / 3, 1.0 / 3});
  check_values(max(Tensor::from_vector({1, 5, -2, 7}, {2, 2}), {0}, true), {1, 7});
  CHECK(std::isnan(max(Tensor::from_vector({1, NAN, 2}, {3})).item()));
}

TEST_CASE("logsumexp is exact and stable at large and infinite values", "[ops][reduction]") {
  const Tensor x = Tensor::from_vector({1, 2, 3, 4, 5, 6}, {2, 3}, DType::Float64);
  check_values(logsumexp(x, {1}), {3.4076059644, 6.4076059644}, 1e-9);
  CHECK(logsumexp(x).item() == Approx(6.4561933160).margin(1e-9));
  CHECK(logsumexp(Tensor::from_vector({1000, 1000}, {2})).item() ==
        Approx(1000 + std::log(2.0)));
  CHECK(logsumexp(Tensor::from_vector({1e4, 1e4 - 1}, {2})).item() ==
        Approx(1e4 + std::log1p(std::exp(-1.0))));
  CHECK(logsumexp(Tensor::from_vector({-kInf, -kInf}, {2})).item() == -kInf);
  CHECK(logsumexp(Tensor::from_vector({1, kInf}, {2})).item() == kInf);

  const Tensor z = leaf({0, std::log(3.0)}, {2});
  logsumexp(z).backward();
  check_values(z.grad_tensor(), {0.25, 0.75});  // the softmax of z
}

TEST_CASE("softmax and log_softmax along an axis", "[ops][reduction]") {
  const Tensor v = Tensor::from_vector({1, 2, 3}, {3}, DType::Float64);
  check_values(softmax(v), {0.0900305732, 0.2447284711, 0.6652409558}, 1e-9);
  check_values(log_softmax(v), {-2.4076059644, -1.4076059644, -0.4076059644}, 1e-9);
  const Tensor x = Tensor::from_vector({1, 2, 3, 4, 5, 6}, {2, 3}, DType::Float64);
  check_values(softmax(x, 0), {0.0474258732, 0.0474258732, 0.0474258732, 0.9525741268,
                               0.9525741268, 0.9525741268}, 1e-9);
  check_values(log_softmax(x, -1), {-2.4076059644, -1.4076059644, -0.4076059644, -2.4076059644,
                                    -1.4076059644, -0.4076059644}, 1e-9);

  // float32 logits around 1e4: no overflow, and the differences survive.
  const Tensor big = Tensor::from_vector({1e4, 1e4, 1e4 - 1, -1e4}, {2, 2});
  check_values(softmax(big), {0.5, 0.5, 1, 0});
  check_values(log_softmax(big), {-std::log(2.0), -std::log(2.0), 0, -19999}, 1e-3);

  // dx = y * (g - sum(g y)): with g = e_0, [y0 (1 - y0), -y1 y0, -y2 y0].
  const Tensor p = leaf({1, 2, 3}, {3}, DType::Float64);
  const Tensor y = softmax(p);
  y.backward(Tensor::from_vector({1, 0, 0}, {3}, DType::Float64));
  const std::vector<double> yv = y.to_vector();
  check_values(p.grad_tensor(), {yv[0] * (1 - yv[0]), -yv[1] * yv[0], -yv[2] * yv[0]}, 1e-12);
  // The gradient of sum(log_softmax) is 1 - n * softmax.
  p.zero_grad();
  sum(log_softmax(p)).backward();
  check_values(p.grad_tensor(), {1 - 3 * yv[0], 1 - 3 * yv[1], 1 - 3 * yv[2]}, 1e-12);
}

TEST_CASE("reduction errors name the op, the axes and the shape", "[ops][reduction]") {
  const Tensor x = Tensor::zeros({2, 3});
  CHECK_THROWS_WITH(sum(x, {2}), "sum: axis 2 out of range for shape [2,3]");
  CHECK_THROWS_WITH(mean(x, {-3}), "mean: axis -3 out of range for shape [2,3]");
  CHECK_THROWS_WITH(max(x, {1, -1}), "max: axis -1 given twice in [1,-1] for shape [2,3]");
  CHECK_THROWS_WITH(max(Tensor::zeros({2, 0}), {1}),
                    "max: cannot reduce over an empty axis of shape [2,0]");
  CHECK_THROWS_WITH(softmax(x, 2), "softmax: axis 2 out of range for shape [2,3]");
  CHECK_THROWS_WITH(log_softmax(Tensor::scalar(1)), Catch::Contains("log_softmax: axis -1"));
}

TEST_CASE("reshape infers one -1 and refuses bad shapes", "[ops][shape]") {
  const Tensor x = leaf({1, 2, 3, 4, 5, 6}, {2, 3});
  const Tensor r = reshape(x, {3, -1});
  CHECK(r.shape() == Shape{3, 2});
  check_values(r, {1, 2, 3, 4, 5, 6});
  CHECK(reshape(x, {-1}).shape() == Shape{6});
  CHECK(reshape(Tensor::scalar(4), {1, 1}).shape() == Shape{1, 1});
  r.backward(Tensor::from_vector({1, 2, 3, 4, 5, 6}, {3, 2}));
  check_values(x.grad_tensor(), {1, 2, 3, 4, 5, 6});
  CHECK(x.grad_tensor().shape() == Shape{2, 3});

  CHECK_THROWS_WITH(reshape(x, {-1, -1}), "reshape: more than one -1 in [-1,-1] (input [2,3])");
  CHECK_THROWS_WITH(reshape(x, {4, -1}), "reshape: cannot reshape [2,3] (6 elements) into [4,-1]");
  CHECK_THROWS_WITH(reshape(x, {7}), "reshape: cannot reshape [2,3] (6 elements) into [7]");
  CHECK_THROWS_WITH(reshape(x, {-2, 3}), Catch::Contains("reshape: negative extent -2"));
}

TEST_CASE("concat and stack lay blocks side by side and hand them back", "[ops][shape]") {
  const Tensor a = leaf({1, 2, 3, 4}, {2, 2});
  const Tensor b = leaf({5, 6}, {2, 1});
  const Tensor c = concat({a, b}, -1);
  CHECK(c.shape() == Shape{2, 3});
  check_values(c, {1, 2, 5, 3, 4, 6});
  check_values(concat({a, a}, 0), {1, 2, 3, 4, 1, 2, 3, 4});
  c.backward(Tensor::from_vector({1, 2, 3, 4, 5, 6}, {2, 3}));
  check_values(a.grad_tensor(), {1, 2, 4, 5});
  check_values(b.grad_tensor(), {3, 6});

  const Tensor s = stack({a, a}, 1);
  CHECK(s.shape() == Shape{2, 2, 2});
  check_values(s, {1, 2, 1, 2, 3, 4, 3, 4});
  CHECK(stack({a, a, a}, -1).shape() == Shape{2, 2, 3});
  check_values(stack({a, a, a}, -1), {1, 1, 1, 2, 2, 2, 3, 3, 3, 4, 4, 4});
  a.zero_grad();
  stack({a, a}, 0).backward(Tensor::ones({2, 2, 2}));
  check_values(a.grad_tensor(), {2, 2, 2, 2});  // used twice: accumulates

  CHECK_THROWS_WITH(concat({a, Tensor::zeros({3, 1})}, 1),
                    "concat: tensor 1 has shape [3,1], tensor 0 has [2,2]: all axes but 1 must "
                    "match");
  CHECK_THROWS_WITH(concat({}), "concat: no tensors given");
  CHECK_THROWS_WITH(stack({a, b}), "stack: tensor 1 has shape [2,1], tensor 0 has [2,2]: all "
                                   "must match");
  CHECK_THROWS_WITH(stack({a, a}, 3),
                    "stack: axis 3 out of range for stacking tensors of shape [2,2]");
}

TEST_CASE("slice follows Python's bounds", "[ops][shape]") {
  const Tensor x = leaf({0, 1, 2, 3, 4, 5, 6, 7, 8, 9}, {2, 5});
  check_values(slice(x, 1, 1, 3), {1, 2, 6, 7});
  check_values(slice(x, -1, -2, 100), {3, 4, 8, 9});
  check_values(slice(x, 0, 1, 2), {5, 6, 7, 8, 9});
  CHECK(slice(x, 1, 4, 2).shape() == Shape{2, 0});
  const Tensor s = slice(x, 1, 3, 5);
  s.backward(Tensor::ones({2, 2}));
  check_values(x.grad_tensor(), {0, 0, 0, 1, 1, 0, 0, 0, 1, 1});
  CHECK_THROWS_WITH(slice(x, 2, 0, 1), "slice: axis 2 out of range for shape [2,5]");
}

TEST_CASE("index_select gathers and scatter-adds along an axis", "[ops][shape]") {
  const Tensor x = leaf({1, 2, 3, 4, 5, 6}, {3, 2});
  const Tensor rows = index_select(x, 0, Indices({2, 0, 2}));
  check_values(rows, {5, 6, 1, 2, 5, 6});
  rows.backward(Tensor::ones({3, 2}));
  check_values(x.grad_tensor(), {1, 1, 0, 0, 2, 2});
  check_values(index_select(x, -1, Indices({1})), {2, 4, 6});
  CHECK_THROWS_WITH(index_select(x, 0, Indices({0, 3})),
                    "index_select: index 3 (position 1) out of range for axis 0 of shape [3,2]");
  CHECK_THROWS_WITH(index_select(x, 1, Indices({0, 1}, {1, 2})),
                    "index_select: index must be 1-D, got shape [1,2]");
}

TEST_CASE("embedding gathers rows: repeated indices accumulate, padding gets none", "[ops][shape]") {
  const Tensor w = leaf({0, 0, 1, 10, 2, 20, 3, 30}, {4, 2});
  const Tensor e = embedding(w, Indices({1, 3, 1, 0, 1, 0}, {2, 3}), 0);
  CHECK(e.shape() == Shape{2, 3, 2});
  check_values(e, {1, 10, 3, 30, 1, 10, 0, 0, 1, 10, 0, 0});
  e.backward(Tensor::from_vector({1, 1, 1, 1, 1, 1, 5, 5, 1, 1, 7, 7}, {2, 3, 2}));
  check_values(w.grad_tensor(), {0, 0, 3, 3, 0, 0, 1, 1});

  CHECK_THROWS_WITH(embedding(w, Indices({1, 4})),
                    "embedding: index 4 (position 1) out of range for 4 rows (weight [4,2])");
  CHECK_THROWS_WITH(embedding(w, Indices({-1})), Catch::Contains("embedding: index -1"));
  CHECK_THROWS_WITH(embedding(Tensor::zeros({4}), Indices({0})),
                    "embedding: weight must be 2-D [V, D], got [4]");
  CHECK_THROWS_WITH(embedding(w, Indices({0}), 4), Catch::Contains("embedding: padding_idx 4"));
}

TEST_CASE("where and masked_fill select with broadcasting", "[ops][shape]") {
  const Tensor cond = Tensor::from_vector({1, 0, 2}, {3, 1});
  const Tensor a = leaf({1, 2}, {2});
  const Tensor b = leaf({-1}, {});
  const Tensor w = where(cond, a, b);
  CHECK(w.shape() == Shape{3, 2});
  check_values(w, {1, 2, -1, -1, 1, 2});
  w.backward(Tensor::from_vector({1, 2, 3, 4, 5, 6}, {3, 2}));
  check_values(a.grad_tensor(), {6, 8});
  check_values(b.grad_tensor(), {7});
  CHECK_THROWS_WITH(where(Tensor::zeros({3}), a, b),
                    "where: shapes [3] and [2] cannot be broadcast");

  const Tensor x = leaf({1, 2, 3, 4}, {2, 2});
  const Tensor mask = Tensor::from_vector({0, 1}, {1, 2}, DType::Float64);  // any dtype
  const Tensor f = masked_fill(x, mask, -9);
  check_values(f, {1, -9, 3, -9});
  f.backward(Tensor::ones({2, 2}));
  check_values(x.grad_tensor(), {1, 0, 1, 0});
  CHECK_THROWS_WITH(masked_fill(x, Tensor::zeros({3, 2, 2}), 0),
                    "masked_fill: mask [3,2,2] does not broadcast to the input's shape [2,2]");

  // A mask of blocks ([T, B, 1] over [T, B, F], read block by block) gives what the same mask
  // expanded to x's shape gives, forward and backward.
  Generator gen(4);
  const Tensor xs = Tensor::uniform({3, 4, 5}, -1.0, 1.0, DType::Float64, gen).set_requires_grad();
  const Tensor padding = Tensor::from_vector({0, 0, 0, 0, 0, 1, 0, 1, 1, 1, 0, 1}, {3, 4, 1});
  std::vector<double> expanded;
  for (double v : padding.to_vector())
    for (int j = 0; j < 5; ++j) expanded.push_back(v);
  const Tensor weights = Tensor::uniform({3, 4, 5}, -1.0, 1.0, DType::Float64, gen);
  const Tensor by_block = masked_fill(xs, padding, -7.0);
  const Tensor by_value = masked_fill(xs, Tensor::from_vector(expanded, {3, 4, 5}), -7.0);
  CHECK(by_block.to_vector() == by_value.to_vector());
  const Tensor g_block = grad({sum(mul(by_block, weights))}, {xs})[0];
  const Tensor g_value = grad({sum(mul(by_value, weights))}, {xs})[0];
  CHECK(g_block.to_vector() == g_value.to_vector());
  std::size_t filled = 0;
  for (double v : by_block.to_vector()) filled += v == -7.0;
  CHECK(filled == 5 * 5);  // five padded (t, b) rows of 5 features
}

TEST_CASE("cross_entropy matches PyTorch, weights and ignore_index included", "[ops][loss]") {
  const std::vector<double> values = {1, 2, 0.5, -1, 0, 0, 0, 0, 3, -2, 1, 0.5};
  const Indices targets({1, 3, 0});
  const Tensor logits = leaf(values, {3, 4}, DType::Float64);
  const Tensor loss = cross_entropy(logits, targets);
  CHECK(loss.item() == Approx(0.6945765689616995).epsilon(1e-12));
  loss.backward();
  check_values(logits.grad_tensor(), {0.0747359393, -0.1301799875, 0.0453296386, 0.0101144095,
                                      0.0833333333, 0.0833333333, 0.0833333333, -0.25,
                                      -0.0610373789, 0.0018347157, 0.0368512501, 0.0223514130},
               1e-9);

  CrossEntropyOptions weighted;
  weighted.weight(Tensor::from_vector({0.5, 2.0, 1.0, 0.25}, {4}, DType::Float64));
  logits.zero_grad();
  const Tensor wl = cross_entropy(logits, targets, weighted);
  CHECK(wl.item() == Approx(0.5229324037423129).epsilon(1e-12));
  wl.backward();
  check_values(logits.grad_tensor(), {0.1630602313, -0.2840290636, 0.0989010297, 0.0220678026,
                                      0.0227272727, 0.0227272727, 0.0227272727, -0.0681818182,
                                      -0.0332931158, 0.0010007540, 0.0201006819, 0.0121916798},
               1e-9);

  weighted.ignore_index(3);  // row 1 drops out of the sum and of the denominator
  logits.zero_grad();
  const Tensor il = cross_entropy(logits, targets, weighted);
  CHECK(il.item() == Approx(0.4365962080045551).epsilon(1e-12));
  il.backward();
  check_values(logits.grad_tensor(), {0.1793662544, -0.3124319699, 0.1087911326, 0.0242745828, 0,
                                      0, 0, 0, -0.0366224273, 0.0011008294, 0.0221107501,
                                      0.0134108478},
               1e-9);

  CrossEntropyOptions none;
  none.reduction(Reduction::None);
  check_values(cross_entropy(logits, targets, none), {0.4951818981, 1.3862943611, 0.2022534477},
               1e-9);
  CrossEntropyOptions summed;
  summed.reduction(Reduction::Sum);
  CHECK(cross_entropy(logits, targets, summed).item() == Approx(2.0837297069).epsilon(1e-10));

  // Everything ignored: the mean is NaN (0/0, as PyTorch) but the gradient is zero, not NaN.
  CrossEntropyOptions all_ignored;
  all_ignored.ignore_index(1);
  const Tensor one = leaf({1, 2, 3}, {1, 3});
  const Tensor nan_loss = cross_entropy(one, Indices({1}), all_ignored);
  CHECK(std::isnan(nan_loss.item()));
  nan_loss.backward();
  check_values(one.grad_tensor(), {0, 0, 0});
}

TEST_CASE("cross_entropy is stable for float32 logits around 1e4", "[ops][loss]") {
  const Tensor logits = leaf({1e4, 1e4 - 1, 1e4 - 2, -1e4, 1e4, 0}, {2, 3});
  const Tensor loss = cross_entropy(logits, Indices({1, 1}));
  CHECK(loss.item() == Approx(0.7038029432296753).epsilon(1e-5));
  loss.backward();
  check_values(logits.grad_tensor(), {0.3326205015, -0.3776357472, 0.0450152904, 0, 0, 0}, 1e-6);
}

TEST_CASE("cross_entropy and nll_loss record one node each", "[ops][loss]") {
  const Tensor logits = leaf({1, 2, 3, 4, 5, 6}, {2, 3});
  CHECK(recorded_ops([&] { return cross_entropy(logits, Indices({0, 2})); }) ==
        std::vector<std::string>{"cross_entropy"});
  CHECK(recorded_ops([&] { return nll_loss(logits, Indices({0, 2})); }) ==
        std::vector<std::string>{"nll_loss"});
  CHECK(recorded_ops([&] { return softmax(logits); }) == std::vector<std::string>{"softmax"});
}

TEST_CASE("nll_loss picks the target log-probabilities", "[ops][loss]") {
  const Tensor lp = leaf({-0.5, -1.0, -2.0, -0.1, -3.0, -2.5}, {2, 3}, DType::Float64);
  CHECK(nll_loss(lp, Indices({2, 0})).item() == Approx(1.05));
  CrossEntropyOptions weighted;
  weighted.weight(Tensor::from_vector({1, 2, 3}, {3}, DType::Float64));
  const Tensor loss = nll_loss(lp, Indices({2, 0}), weighted);
  CHECK(loss.item() == Approx(1.525));
  loss.backward();
  check_values(lp.grad_tensor(), {0, 0, -0.75, -0.25, 0, 0});
  CrossEntropyOptions none;
  none.reduction(Reduction::None);
  none.ignore_index(0);
  check_values(nll_loss(lp, Indices({2, 0}), none), {2.0, 0.0});
}

TEST_CASE("classification loss errors name the bad target and the class count", "[ops][loss]") {
  const Tensor logits = Tensor::zeros({3, 4});
  CHECK_THROWS_WITH(cross_entropy(logits, Indices({0, 4, 1})),
                    "cross_entropy: target 4 (row 1) out of range for C = 4 classes (input [3,4])");
  CHECK_THROWS_WITH(nll_loss(logits, Indices({0, -2, 1})),
                    Catch::Contains("nll_loss: target -2 (row 1)") && Catch::Contains("C = 4"));
  CHECK_THROWS_WITH(cross_entropy(logits, Indices({0, 1})),
                    "cross_entropy: targets of shape [2] for input [3,4] (expected [3])");
  CHECK_THROWS_WITH(cross_entropy(Tensor::zeros({3}), Indices({0, 1, 2})),
                    "cross_entropy: targets of shape [3] for input [3] (expected [])");
  CrossEntropyOptions weighted;
  weighted.weight(Tensor::ones({3}));
  CHECK_THROWS_WITH(cross_entropy(logits, Indices({0, 1, 2}), weighted),
                    "cross_entropy: class weight of shape [3] for input [3,4] (expected [4])");
}

TEST_CASE("mse_loss with each reduction", "[ops][loss]") {
  const Tensor p = leaf({1, 2, 3}, {3});
  const Tensor t = leaf({1, 0, 5}, {3});
  check_values(mse_loss(p, t, Reduction::None), {0, 4, 4});
  CHECK(mse_loss(p, t, Reduction::Sum).item() == Approx(8));
  const Tensor loss = mse_loss(p, t);
  CHECK(loss.item() == Approx(8.0 / 3));
  loss.backward();
  check_values(p.grad_tensor(), {0, 4.0 / 3, -4.0 / 3});
  check_values(t.grad_tensor(), {0, -4.0 / 3, 4.0 / 3});
  check_values(mse_loss(Tensor::from_vector({1, 2, 3, 4}, {2, 2}), Tensor::from_vector({1, 2}, {2, 1}),
                        Reduction::None),
               {0, 1, 1, 4});
  CHECK_THROWS_WITH(mse_loss(p, Tensor::zeros({2})),
                    "mse_loss: shapes [3] and [2] cannot be broadcast");
}

TEST_CASE("dropout keeps the mean, draws from the generator, and is identity in eval", "[ops][loss]") {
  const Tensor x = Tensor::ones({200000}, DType::Float32, true);
  Generator gen(42);
  const Tensor y = dropout(x, 0.3, true, gen);
  const std::vector<double> v = y.to_vector();
  std::size_t zeros = 0, scaled = 0;
  for (double e : v) {
    if (e == 0) ++zeros;
    if (e == Approx(1 / 0.7)) ++scaled;
  }
  CHECK(zeros + scaled == v.size());
  CHECK(static_cast<double>(zeros) / v.size() == Approx(0.3).margin(0.005));
  CHECK(mean(y).item() == Approx(1.0).margin(0.01));

  Generator same(42);
  CHECK(dropout(x, 0.3, true, same).to_vector() == v);
  sum(y).backward();
  CHECK(x.grad_tensor().to_vector() == v);  // the gradient is the mask

  CHECK(dropout(x, 0.5, false, gen).same(x));
  CHECK(dropout(x, 0.0, true, gen).same(x));
  CHECK_THROWS_WITH(dropout(x, 1.0, true), "dropout: probability 1 not in [0, 1) (input [200000])");
  CHECK_THROWS_WITH(dropout(x, -0.1, false), Catch::Contains("dropout: probability -0.1"));
}
