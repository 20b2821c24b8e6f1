// Values, shapes and refusals of the view-like and index-pattern ops, sin / cos, 1-D matmul and
// einsum (gradients: tests/op_cases_views.cpp; PyTorch parity: tests/op_parity_cases_views.cpp).
#include <catch2/catch.hpp>

#include "tapegrad/autograd/ops.hpp"
#include "test_checks.hpp"

using namespace tg;
using tg::testing::check_values;

namespace {

Tensor iota(const Shape& shape) {
  std::size_t n = 1;
  for (std::size_t e : shape) n *= e;
  return reshape(arange(static_cast<double>(n)), shape);
}

std::vector<Shape> shapes_of(const std::vector<Tensor>& pieces) {
  std::vector<Shape> shapes;
  for (const Tensor& p : pieces) shapes.push_back(p.shape());
  return shapes;
}

}  // namespace

TEST_CASE("squeeze and unsqueeze follow PyTorch's axes", "[ops][views]") {
  const Tensor x = iota({1, 3, 1, 2});
  CHECK(squeeze(x).shape() == Shape{3, 2});
  CHECK(squeeze(x, -2).shape() == Shape{1, 3, 2});
  CHECK(squeeze(x, 1).shape() == Shape{1, 3, 1, 2});  // extent 3: left as it is
  check_values(squeeze(x), x.to_vector());
  CHECK(squeeze(Tensor::scalar(2.0), 0).shape() == Shape{});
  CHECK(unsqueeze(iota({2, 3}), -1).shape() == Shape{2, 3, 1});
  CHECK(unsqueeze(iota({2, 3}), 1).shape() == Shape{2, 1, 3});
  CHECK(unsqueeze(Tensor::scalar(1.0), -1).shape() == Shape{1});
  CHECK_THROWS_WITH(squeeze(x, 4), "squeeze: axis 4 out of range for shape [1,3,1,2]");
  CHECK_THROWS_WITH(unsqueeze(iota({2, 3}), 3), "unsqueeze: axis 3 out of range [-3, 2] for shape [2,3]");
  CHECK_THROWS_WITH(unsqueeze(iota({2, 3}), -4), "unsqueeze: axis -4 out of range [-3, 2] for shape [2,3]");
}

TEST_CASE("split and chunk cut as PyTorch does", "[ops][views]") {
  const Tensor x = iota({5, 2});
  CHECK(shapes_of(split(x, 2)) == std::vector<Shape>{{2, 2}, {2, 2}, {1, 2}});
  CHECK(shapes_of(split(x, 7)) == std::vector<Shape>{{5, 2}});
  check_values(split(x, 2)[2], {8, 9});
  check_values(split(x, std::vector<long>{1, 1}, -1)[1], {1, 3, 5, 7, 9});
  // chunk: pieces of ceil(6 / 4) = 2, so three of them; an empty axis keeps all four.
  CHECK(chunk(iota({3, 6}), 4, 1).size() == 3);
  CHECK(chunk(iota({7}), 3).size() == 3);
  CHECK(shapes_of(chunk(Tensor::zeros({0, 2}), 4)) == std::vector<Shape>(4, Shape{0, 2}));
  CHECK(shapes_of(split(Tensor::zeros({0}), 0)) == std::vector<Shape>{{0}});
  CHECK_THROWS_WITH(split(x, 0), "split: split_size 0 for axis 0 of extent 5 (input [5,2]); it "
                                 "must be positive (0 only for an empty axis)");
  CHECK_THROWS_WITH(split(x, std::vector<long>{2, 2}, 0),
                    "split: sizes [2,2] add up to 4, but axis 0 of [5,2] has 5");
  CHECK_THROWS_WITH(split(x, 2, 2), "split: axis 2 out of range for shape [5,2]");
  CHECK_THROWS_WITH(chunk(x, 0), "chunk: chunks must be positive, got 0 (input [5,2])");
  CHECK_THROWS_WITH(split(Tensor::scalar(1.0), 1), "split: a 0-d tensor cannot be split");
}

TEST_CASE("expand, repeat and flip", "[ops][views]") {
  const Tensor col = iota({2, 1});
  CHECK(expand(col, {3, -1, 2}).shape() == Shape{3, 2, 2});
  check_values(expand(col, {-1, 3}), {0, 0, 0, 1, 1, 1});
  check_values(repeat(Tensor::from_vector({1, 2}, {2}), {2, 2}), {1, 2, 1, 2, 1, 2, 1, 2});
  CHECK(repeat(iota({2, 3}), {2, 1, 2}).shape() == Shape{2, 2, 6});
  check_values(repeat(iota({2, 2}), {2, 1}), {0, 1, 2, 3, 0, 1, 2, 3});
  CHECK(repeat(iota({2, 2}), {0, 1}).shape() == Shape{0, 2});
  check_values(flip(iota({2, 3}), {1}), {2, 1, 0, 5, 4, 3});
  check_values(flip(iota({2, 3}), {0, -1}), {5, 4, 3, 2, 1, 0});
  CHECK_THROWS_WITH(expand(col, {-1, 3, 2}), "expand: -1 at new leading axis 0 of [-1,3,2] (input [2,1])");
  CHECK_THROWS_WITH(expand(col, {4, 3}),
                    "expand: axis 0 of extent 2 cannot become 4 (input [2,1], shape [4,3])");
  CHECK_THROWS_WITH(expand(col, {3}), "expand: shape [3] has fewer axes than the input [2,1]");
  CHECK_THROWS_WITH(repeat(col, {2}),
                    "repeat: 1 repeats for the 2 axes of [2,1] (need at least one per axis)");
  CHECK_THROWS_WITH(repeat(col, {2, -1}), "repeat: negative repeat count in [2,-1] (input [2,1])");
  CHECK_THROWS_WITH(flip(col, {0, -2}), "flip: axis -2 appears twice in [0,-2] (shape [2,1])");
  CHECK_THROWS_WITH(flip(col, {2}), "flip: axis 2 out of range for shape [2,1]");
}

TEST_CASE("slice takes a step as x[start:end:step]", "[ops][views]") {
  const Tensor x = iota({7});
  check_values(slice(x, 0, 0, 7, 2), {0, 2, 4, 6});
  check_values(slice(x, 0, 1, 100, 3), {1, 4});
  check_values(slice(x, 0, -5, -1, 3), {2, 5});
  check_values(slice(x, 0, 2, 5), {2, 3, 4});  // the step-less form is unchanged
  CHECK(slice(x, 0, 5, 2, 2).shape() == Shape{0});
  check_values(slice(iota({2, 5}), 1, 0, 5, 2), {0, 2, 4, 5, 7, 9});
  CHECK_THROWS_WITH(slice(x, 0, 0, 7, 0), "slice: step must be positive, got 0 (shape [7])");
  CHECK_THROWS_WITH(slice(x, 0, 0, 7, -1), "slice: step must be positive, got -1 (shape [7])");
  // The raw backward and the formula agree with a step (gradcheck checks both paths too).
  const Tensor leaf = Tensor::zeros({7}, DType::Float32, true);
  sum(slice(leaf, 0, 1, 7, 2) * 3.0).backward();
  check_values(leaf.grad_tensor(), {0, 3, 0, 3, 0, 3, 0});
}

TEST_CASE("arange, tril, triu and cumsum", "[ops][triangular]") {
  check_values(arange(5), {0, 1, 2, 3, 4});
  check_values(arange(1, 2, 0.25), {1, 1.25, 1.5, 1.75});
  check_values(arange(3, 0, -1), {3, 2, 1});
  CHECK(arange(2, 2).shape() == Shape{0});
  CHECK(arange(4, DType::Float64).dtype() == DType::Float64);
  CHECK_FALSE(arange(4).requires_grad());
  CHECK_THROWS_WITH(arange(0, 3, 0), "arange: start 0, end 3, step 0: all must be finite, step nonzero");
  CHECK_THROWS_WITH(arange(0, 3, -1), "arange: step -1 points away from end 3 (start 0)");
  const Tensor m = iota({3, 3}) + 1.0;
  check_values(tril(m), {1, 0, 0, 4, 5, 0, 7, 8, 9});
  check_values(triu(m, 1), {0, 2, 3, 0, 0, 6, 0, 0, 0});
  check_values(tril(m, -1), {0, 0, 0, 4, 0, 0, 7, 8, 0});
  CHECK_THROWS_WITH(tril(iota({3})), "tril: input needs at least 2 axes, got [3]");
  CHECK_THROWS_WITH(triu(Tensor::scalar(1)), "triu: input needs at least 2 axes, got []");
  check_values(cumsum(iota({2, 3}), 1), {0, 1, 3, 3, 7, 12});
  check_values(cumsum(iota({2, 3}), 0), {0, 1, 2, 3, 5, 7});
  CHECK_THROWS_WITH(cumsum(iota({2, 3}), 2), "cumsum: axis 2 out of range for shape [2,3]");
}

TEST_CASE("sin and cos", "[ops][trigonometric]") {
  const Tensor x = Tensor::from_vector({0, 1.5, -2}, {3});
  check_values(sin(x), {0, std::sin(1.5), std::sin(-2.0)});
  check_values(cos(x), {1, std::cos(1.5), std::cos(-2.0)});
}

TEST_CASE("matmul takes 1-D operands as torch.matmul", "[ops][linalg]") {
  const Tensor v = Tensor::from_vector({1, 2, 3}, {3});
  CHECK(matmul(v, v).shape() == Shape{});
  check_values(matmul(v, v), {14});
  const Tensor m = iota({2, 3});
  check_values(matmul(m, v), {8, 26});
  check_values(matmul(Tensor::from_vector({1, 1}, {2}), m), {3, 5, 7});
  CHECK(matmul(v, iota({4, 3, 5})).shape() == Shape{4, 5});
  CHECK(matmul(iota({2, 4, 2, 3}), v).shape() == Shape{2, 4, 2});
  CHECK_THROWS_WITH(matmul(iota({3, 4}), iota({3})), "matmul: inner dimensions differ: [3,4] x [3]");
  CHECK_THROWS_WITH(matmul(iota({4}), iota({3})), "matmul: inner dimensions differ: [4] x [3]");
  CHECK_THROWS_WITH(matmul(iota({4}), iota({3, 2})), "matmul: inner dimensions differ: [4] x [3,2]");
  CHECK_THROWS_WITH(matmul(v, Tensor::scalar(2)), "matmul: both operands need at least 1 axis: [3] x []");
}

TEST_CASE("einsum contracts, transposes and sums as torch.einsum", "[ops][einsum]") {
  const Tensor a = iota({2, 3}), b = iota({3, 2});
  check_values(einsum("ij,jk->ik", {a, b}), matmul(a, b).to_vector());
  check_values(einsum("ij, jk", {a, b}), matmul(a, b).to_vector());  // spaces are ignored
  check_values(einsum("ij->ji", {a}), transpose(a).to_vector());
  check_values(einsum("ij->", {a}), {15});
  check_values(einsum("ij->j", {a}), {3, 5, 7});
  check_values(einsum("ij,ij->i", {a, a}), {5, 50});
  check_values(einsum("i,j->ij", {Tensor::from_vector({1, 2}, {2}), Tensor::from_vector({3, 4}, {2})}),
               {3, 4, 6, 8});
  check_values(einsum("ba", {a}), transpose(a).to_vector());  // implicit output: "ab"
  CHECK(einsum("bhld,bhsd->bhls", {iota({2, 3, 4, 5}), iota({2, 3, 6, 5})}).shape() == Shape{2, 3, 4, 6});
  CHECK_THROWS_WITH(einsum("ij,jk->ik", {a, a}),
                    "einsum: subscript 'j' has extent 3 in an earlier operand and 2 in operand 1 [2,3] "
                    "in 'ij,jk->ik'");
  CHECK_THROWS_WITH(einsum("ij,jk->ik", {a}), "einsum: 2 operand subscripts for 1 operands in 'ij,jk->ik'");
  CHECK_THROWS_WITH(einsum("ijk->i", {a}),
                    "einsum: operand 0 of shape [2,3] has 2 axes but subscripts 'ijk' name 3 in 'ijk->i'");
  CHECK_THROWS_WITH(einsum("ii->i", {iota({3, 3})}),
                    "einsum: subscript 'i' repeated in operand 0 ('ii'): diagonals are not supported in 'ii->i'");
  CHECK_THROWS_WITH(einsum("...ij->ij", {a}), "einsum: '...' (ellipsis) is not supported in '...ij->ij'");
  CHECK_THROWS_WITH(einsum("ij->ik", {a}), "einsum: output subscript 'k' appears in no operand in 'ij->ik'");
  CHECK_THROWS_WITH(einsum("ij->ii", {a}), "einsum: output subscript 'i' repeated in 'ij->ii'");
  CHECK_THROWS_WITH(einsum("i1->i", {a}), "einsum: invalid subscript '1' (letters only) in 'i1->i'");
}

namespace {

// Where each element of x lands under transpose(x, perm), by counting through the output's
// indices: element i of the result is element expected[i] of x (row-major flat positions).
std::vector<double> permuted_positions(const Shape& shape, const std::vector<std::size_t>& perm) {
  const std::size_t nd = shape.size();
  std::vector<std::size_t> stride(nd, 1), index(nd, 0);
  for (std::size_t d = nd; d-- > 1;) stride[d - 1] = stride[d] * shape[d];
  std::size_t total = 1;
  for (std::size_t e : shape) total *= e;
  std::vector<double> expected;
  for (std::size_t n = 0; n < total; ++n) {
    std::size_t from = 0;
    for (std::size_t i = 0; i < nd; ++i) from += index[i] * stride[perm[i]];
    expected.push_back(static_cast<double>(from));
    for (std::size_t i = nd; i-- > 0;)
      if (++index[i] < shape[perm[i]]) break;
      else index[i] = 0;
  }
  return expected;
}

}  // namespace

TEST_CASE("transpose moves every element where its permutation says, tiles and all",
          "[ops][views]") {
  // Extents past the 32-element tile and not multiples of it, extent-1 axes, axes that stay
  // neighbours (merged) and the innermost axis kept or moved.
  const std::vector<std::pair<Shape, std::vector<std::size_t>>> cases = {
      {{70, 45}, {1, 0}},          {{3, 40, 1, 33}, {0, 3, 2, 1}}, {{5, 6, 7}, {2, 0, 1}},
      {{4, 33, 2, 65}, {0, 2, 1, 3}}, {{2, 3, 4, 5}, {3, 2, 1, 0}}, {{1, 1}, {1, 0}},
      {{6, 1, 35}, {2, 1, 0}},     {{}, {}}};
  for (const auto& [shape, perm] : cases) {
    INFO("shape " << shape_str(shape) << ", permutation " << shape_str(perm));
    for (DType dtype : {DType::Float32, DType::Float64}) {
      const Tensor x = iota(shape).to(dtype).set_requires_grad();
      const Tensor y = transpose(x, perm);
      const std::vector<double> expected = permuted_positions(shape, perm);
      check_values(y, expected, 0);
      // Backward sends the seed back: x's element expected[i] gets seed i, and a second
      // backward adds to the first.
      const Tensor seed = iota(y.shape()).to(dtype) + 1.0;
      y.backward(seed, /*retain_graph=*/true);
      y.backward(seed);
      std::vector<double> grad(expected.size());
      for (std::size_t i = 0; i < expected.size(); ++i)
        grad[static_cast<std::size_t>(expected[i])] = 2.0 * (i + 1.0);
      check_values(x.grad_tensor(), grad, 0);
    }
  }
}
