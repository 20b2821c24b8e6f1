// Forward values of ops and the errors they give on bad arguments.
#include <catch2/catch.hpp>

#include "tapegrad/autograd/ops.hpp"

using namespace tg;

TEST_CASE("element-wise ops broadcast like NumPy", "[ops]") {
  const Tensor a = Tensor::from_vector({1, 2, 3, 4, 5, 6}, {2, 3});
  const Tensor b = Tensor::from_vector({10, 20, 30}, {3});
  CHECK((a + b).to_vector() == std::vector<double>{11, 22, 33, 14, 25, 36});
  CHECK((a * 2.0).to_vector() == std::vector<double>{2, 4, 6, 8, 10, 12});
  CHECK((1.0 - a).to_vector() == std::vector<double>{0, -1, -2, -3, -4, -5});
  CHECK(clamp(a, 2, 4).to_vector() == std::vector<double>{2, 2, 3, 4, 4, 4});
  CHECK(relu(a - 3.0).to_vector() == std::vector<double>{0, 0, 0, 1, 2, 3});
}

TEST_CASE("shape errors name the op and both shapes", "[ops]") {
  const Tensor a = Tensor::zeros({32, 128});
  const Tensor b = Tensor::zeros({64, 10});
  CHECK_THROWS_WITH(matmul(a, b), "matmul: inner dimensions differ: [32,128] x [64,10]");
  CHECK_THROWS_WITH(add(Tensor::zeros({2, 3}), Tensor::zeros({4})),
                    "add: shapes [2,3] and [4] cannot be broadcast");
  CHECK_THROWS_WITH(linear(a, b), Catch::Contains("linear") && Catch::Contains("[32,128]"));
  CHECK_THROWS_WITH(add(a, Tensor::zeros({32, 128}, DType::Float64)),
                    Catch::Contains("add: mixed dtypes"));
}

TEST_CASE("matmul and linear agree with hand-computed products", "[ops]") {
  const Tensor a = Tensor::from_vector({1, 2, 3, 4}, {2, 2});
  const Tensor b = Tensor::from_vector({5, 6, 7, 8}, {2, 2});
  CHECK(matmul(a, b).to_vector() == std::vector<double>{19, 22, 43, 50});
  const Tensor bias = Tensor::from_vector({1, -1}, {2});
  CHECK(linear(a, b, bias).to_vector() == std::vector<double>{18, 22, 40, 52});
  CHECK(transpose(a).to_vector() == std::vector<double>{1, 3, 2, 4});
}
