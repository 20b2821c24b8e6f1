// Values and errors of the ops added for model building: positions (argmax, topk, gather,
// scatter/index_add, one_hot), activations, statistics, layer_norm, masked_softmax, N-D matmul.
// Their gradients are checked by the registered gradcheck cases (test_gradcheck).
#include <catch2/catch.hpp>

#include <cmath>

#include "tapegrad/autograd/ops.hpp"
#include "test_checks.hpp"

using namespace tg;
using tg::testing::check_values;

namespace {

const Tensor kX = Tensor::from_vector({3, 1, 4, 1, 5, 9, 2, 6}, {2, 4});

}  // namespace

TEST_CASE("argmax and argmin pick the first extreme along an axis", "[ops][indexing]") {
  CHECK(argmax(kX).data == std::vector<std::int64_t>{2, 1});
  CHECK(argmin(kX).data == std::vector<std::int64_t>{1, 2});  // first of the tied 1s in row 0
  CHECK(argmax(kX, 0).data == std::vector<std::int64_t>{1, 1, 0, 1});
  CHECK(argmax(kX, 0, true).shape == Shape{1, 4});
  CHECK(argmax(kX).shape == Shape{2});
  const Tensor nan = Tensor::from_vector({1, NAN, 7}, {3});
  CHECK(argmax(nan).data == std::vector<std::int64_t>{1});
  CHECK_THROWS_WITH(argmax(Tensor::zeros({2, 0})), Catch::Contains("argmax: empty axis"));
}

TEST_CASE("topk returns sorted values and their positions", "[ops][indexing]") {
  const TopK top = topk(kX, 2);
  check_values(top.values, {4, 3, 9, 6});
  CHECK(top.indices.data == std::vector<std::int64_t>{2, 0, 1, 3});
  const TopK low = topk(kX, 3, 1, false);
  check_values(low.values, {1, 1, 3, 2, 5, 6});
  CHECK(low.indices.data == std::vector<std::int64_t>{1, 3, 0, 2, 0, 3});
  const TopK col = topk(kX, 1, 0);
  CHECK(col.indices.shape == Shape{1, 4});
  check_values(col.values, {5, 9, 4, 6});
  CHECK_THROWS_WITH(topk(kX, 5), Catch::Contains("topk: k = 5 exceeds"));
}

TEST_CASE("gather, scatter_add and index_add address along an axis", "[ops][indexing]") {
  check_values(gather(kX, 1, Indices({3, 3, 0, 1}, {2, 2})), {1, 1, 5, 9});
  check_values(gather(kX, 0, Indices({1, 0}, {1, 2})), {5, 1});
  const Tensor zero = Tensor::zeros({2, 3});
  check_values(scatter_add(zero, 1, Indices({0, 0, 2}, {1, 3}), Tensor::from_vector({1, 2, 3}, {1, 3})),
               {3, 0, 3, 0, 0, 0});
  check_values(index_add(zero, 0, Indices({1, 1}), Tensor::ones({2, 3})), {0, 0, 0, 2, 2, 2});
  check_values(index_add(zero, 1, Indices({2}), Tensor::ones({2, 1})), {0, 0, 1, 0, 0, 1});
  CHECK_THROWS_WITH(gather(kX, 1, Indices({4}, {1, 1})), Catch::Contains("index 4") && Catch::Contains("out of range"));
  CHECK_THROWS_WITH(gather(kX, 1, Indices({0, 1})), Catch::Contains("must have the rank"));
  CHECK_THROWS_WITH(index_add(zero, 0, Indices({0}), Tensor::ones({2, 3})),
                    Catch::Contains("index_add: src [2,3] must be [1,3]"));
}

TEST_CASE("one_hot", "[ops][indexing]") {
  const Tensor h = one_hot(Indices({2, 0, 1}, {3}), 3);
  CHECK(h.shape() == Shape{3, 3});
  check_values(h, {0, 0, 1, 1, 0, 0, 0, 1, 0});
  CHECK(one_hot(Indices({1, 0}, {2, 1}), 2, DType::Float64).shape() == Shape{2, 1, 2});
  CHECK_THROWS_WITH(one_hot(Indices({3}), 3), Catch::Contains("one_hot: index 3"));
}

TEST_CASE("abs, log1p, softplus, gelu, minimum, maximum values", "[ops][activations]") {
  const Tensor x = Tensor::from_vector({-2, -1e-10, 0, 1, 30}, {5}, DType::Float64);
  check_values(abs(x), {2, 1e-10, 0, 1, 30}, 1e-15);
  // log(1 + 1e-10) in double is off by 8e-8 relative; log1p keeps the digits.
  CHECK(log1p(Tensor::scalar(1e-10, DType::Float64)).item() == Approx(1e-10).epsilon(1e-9));
  // softplus(0) = log 2; above the threshold it is x itself; far below it underflows to 0.
  check_values(softplus(x), {std::log1p(std::exp(-2.0)), std::log(2.0), std::log(2.0), std::log1p(std::exp(1.0)), 30}, 1e-12);
  // Reference values from torch.nn.functional.gelu (exact and approximate="tanh").
  check_values(gelu(Tensor::from_vector({-1, 1, 2}, {3}, DType::Float64)), {-0.15865525393145707, 0.8413447460685429, 1.9544997361036416}, 1e-12);
  check_values(gelu(Tensor::from_vector({-1, 1}, {2}, DType::Float64), GeluApproximation::Tanh), {-0.15880800939172324, 0.8411919906082768}, 1e-12);
  const Tensor a = Tensor::from_vector({1, 5, 3}, {3}), b = Tensor::from_vector({2}, {1});
  check_values(minimum(a, b), {1, 2, 2});
  check_values(maximum(a, b), {2, 5, 3});
}

TEST_CASE("min, var and std reduce as PyTorch", "[ops][statistics]") {
  check_values(min(kX, {1}), {1, 2});
  check_values(min(kX), {1});
  // torch.var([[3,1,4,1],[5,9,2,6]], dim=1) = [2.25, 8.3333]; correction=0 divides by 4.
  check_values(var(kX, {1}), {2.25, 25.0 / 3.0}, 1e-5);
  check_values(var(kX, {1}, 0), {1.6875, 6.25}, 1e-5);
  check_values(stddev(kX, {1}, 1, true), {1.5, std::sqrt(25.0 / 3.0)}, 1e-5);
  CHECK(stddev(kX, {1}, 1, true).shape() == Shape{2, 1});
}

TEST_CASE("layer_norm normalises the trailing axes", "[ops][statistics]") {
  const Tensor x = Tensor::from_vector({1, 2, 3, 10, 10, 10}, {2, 3}, DType::Float64);
  const double r = 1.0 / std::sqrt(2.0 / 3.0 + 1e-5);
  check_values(layer_norm(x, {3}), {-r, 0, r, 0, 0, 0}, 1e-12);
  const Tensor w = Tensor::from_vector({1, 2, 3}, {3}, DType::Float64);
  const Tensor b = Tensor::from_vector({0, 1, 0}, {3}, DType::Float64);
  check_values(layer_norm(x, {3}, w, b), {-r, 1, 3 * r, 0, 1, 0}, 1e-12);
  CHECK_THROWS_WITH(layer_norm(x, {2}), Catch::Contains("layer_norm: input [2,3] does not end with normalized_shape [2]"));
  CHECK_THROWS_WITH(layer_norm(x, {3}, Tensor::ones({2}, DType::Float64)), Catch::Contains("weight [2]"));
}

TEST_CASE("masked_softmax gives masked positions zero probability", "[ops][statistics]") {
  const Tensor x = Tensor::from_vector({1, 2, 3, 1, 2, 3}, {2, 3});
  const Tensor mask = Tensor::from_vector({0, 0, 1, 1, 1, 1}, {2, 3});
  const double e = std::exp(1.0);
  check_values(masked_softmax(x, mask), {1 / (1 + e), e / (1 + e), 0, 0, 0, 0});
  // An all-zero mask is plain softmax.
  check_values(masked_softmax(x, Tensor::zeros({1})), softmax(x).to_vector());
  CHECK_THROWS_WITH(masked_softmax(x, Tensor::zeros({3, 3})), Catch::Contains("cannot be broadcast"));
}

TEST_CASE("matmul broadcasts batch axes", "[ops][linalg]") {
  const Tensor a = Tensor::from_vector({1, 2, 3, 4, 5, 6, 7, 8}, {2, 1, 2, 2});
  const Tensor b = Tensor::from_vector({1, 0, 0, 1, 0, 1, 1, 0, 2, 0, 0, 2}, {3, 2, 2});
  const Tensor c = matmul(a, b);
  CHECK(c.shape() == Shape{2, 3, 2, 2});
  // a[1] x b[1] swaps the columns of [[5,6],[7,8]].
  const std::vector<double> v = c.to_vector();
  CHECK(std::vector<double>(v.begin() + 16, v.begin() + 20) == std::vector<double>{6, 5, 8, 7});
  CHECK_THROWS_WITH(matmul(Tensor::zeros({2, 3, 4}), Tensor::zeros({3, 4, 2})),
                    Catch::Contains("cannot be broadcast"));
  // A 1-D operand follows torch.matmul (tests/test_ops_views.cpp); a 0-d one is refused.
  CHECK_THROWS_WITH(matmul(Tensor::zeros({}), Tensor::zeros({4, 2})),
                    "matmul: both operands need at least 1 axis: [] x [4,2]");
}
