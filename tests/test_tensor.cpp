// The engine: tensors, the tape, accumulation, retain_graph, grad mode, detach, DOT, BLAS choice.
#include <catch2/catch.hpp>

#include <sstream>

#include "tapegrad/autograd/blas.hpp"
#include "tapegrad/autograd/ops.hpp"
#include "tapegrad/autograd/tape.hpp"

using namespace tg;

TEST_CASE("factories give the asked shape, dtype and values", "[tensor]") {
  const Tensor z = Tensor::zeros({2, 3}, DType::Float64);
  CHECK(z.shape() == Shape{2, 3});
  CHECK(z.dtype() == DType::Float64);
  CHECK(z.size() == 6);
  CHECK(z.size(-1) == 3);
  const Tensor v = Tensor::from_vector({1, 2, 3, 4}, {2, 2});
  CHECK(v.to_vector() == std::vector<double>{1, 2, 3, 4});
  CHECK(Tensor::scalar(2.5).item() == 2.5);
  CHECK_THROWS_WITH(Tensor::from_vector({1, 2, 3}, {2, 2}),
                    Catch::Contains("from_vector") && Catch::Contains("[2,2]"));
  CHECK_THROWS_WITH(v.value<double>(), Catch::Contains("float32"));
  CHECK_THROWS_WITH(v.item(), Catch::Contains("[2,2]"));
}

// GCC 12 with AVX-512 (-march=native on Zen 4/5, -march=x86-64-v4) builds the constant list
// {1, 1, 0, 0} as four ones (its SLP vectorizer broadcasts the first pair); CMakeLists.txt turns
// that pass off. This catches the miscompile if a compiler brings it back.
TEST_CASE("initializer lists of values reach tensors as written", "[tensor]") {
  CHECK(Tensor::from_vector({1, 1, 0, 0}, {4}).to_vector() == std::vector<double>{1, 1, 0, 0});
  CHECK(Tensor::from_vector({1, 1, 0, 0}, {4}, DType::Float64).to_vector() == std::vector<double>{1, 1, 0, 0});
  const std::vector<double> values{1, 1, 0, 0};
  CHECK(values[2] == 0.0);
  CHECK(values[3] == 0.0);
}

TEST_CASE("seeded random tensors repeat and generator state round-trips", "[tensor]") {
  Generator a(7), b(7);
  CHECK(Tensor::normal({5}, 0, 1, DType::Float64, a).to_vector() ==
        Tensor::normal({5}, 0, 1, DType::Float64, b).to_vector());
  const std::string state = a.state();
  const double next = a.normal();
  b.set_state(state);
  CHECK(b.normal() == next);
}

TEST_CASE("backward computes gradients of a small expression", "[tape]") {
  const Tensor x = Tensor::from_vector({1, 2, 3}, {3}, DType::Float64, true);
  const Tensor y = sum(x * x * 3.0);  // dy/dx = 6x
  y.backward();
  CHECK(x.grad<double>()(0) == 6);
  CHECK(x.grad<double>()(2) == 18);
}

TEST_CASE("leaf gradients accumulate across backward calls until zero_grad", "[tape]") {
  const Tensor x = Tensor::from_vector({2}, {1}, DType::Float64, true);
  for (int i = 0; i < 3; ++i) sum(x * x).backward();
  CHECK(x.grad<double>()(0) == Approx(12));
  x.zero_grad();
  CHECK_FALSE(x.has_grad());
  sum(x * x).backward();
  CHECK(x.grad<double>()(0) == Approx(4));
}

TEST_CASE("retain_graph keeps the graph for a second backward with the same result", "[tape]") {
  const Tensor x = Tensor::from_vector({0.5, -1}, {2}, DType::Float64, true);
  const Tensor h = tanh(x);
  const Tensor y = sum(h * h);
  y.backward(Tensor(), true);
  const auto first = x.grad_tensor().to_vector();
  y.backward();  // intermediate gradients restart from zero; the leaf accumulates
  const auto second = x.grad_tensor().to_vector();
  CHECK(second[0] == Approx(2 * first[0]));
  CHECK(second[1] == Approx(2 * first[1]));
  CHECK_THROWS_WITH(y.backward(), Catch::Contains("retain_graph"));  // now freed
}

TEST_CASE("backward with an explicit seed on a non-scalar", "[tape]") {
  const Tensor x = Tensor::from_vector({1, 2}, {2}, DType::Float64, true);
  const Tensor y = x * 3.0;
  CHECK_THROWS_WITH(y.backward(), Catch::Contains("not a scalar"));
  y.backward(Tensor::from_vector({1, 10}, {2}, DType::Float64));
  CHECK(x.grad<double>()(1) == 30);
}

TEST_CASE("NoGradGuard stops recording and detach cuts the tape", "[tape]") {
  const Tensor w = Tensor::ones({2}, DType::Float32, true);
  {
    NoGradGuard guard;
    const Tensor y = w * 2.0;
    CHECK_FALSE(y.requires_grad());
    CHECK(y.is_leaf());
  }
  CHECK(grad_enabled());
  const Tensor h = w * 2.0;
  const Tensor d = h.detach();
  CHECK(d.is_leaf());
  CHECK_FALSE(d.requires_grad());
  CHECK_THROWS_WITH(sum(d * 3.0).backward(), Catch::Contains("does not require grad"));
}

TEST_CASE("a 100,000-op chain backpropagates and is destroyed without deep recursion", "[tape]") {
  const Tensor x = Tensor::from_vector({1.0}, {1}, DType::Float64, true);
  const std::size_t before = live_node_count();
  {
    Tensor h = x;
    for (int i = 0; i < 100000; ++i) h = h * 1.0;
    CHECK(live_node_count() - before == 100000);  // constants need no node
    h.backward(Tensor::ones({1}, DType::Float64), true);
    CHECK(x.grad<double>()(0) == 1.0);
  }  // the last handle goes: 100,000 nodes destroyed in a flat loop
  CHECK(live_node_count() == before);
  {
    Tensor h = x;
    for (int i = 0; i < 100000; ++i) h = tanh(h) * 1.0;
    h.backward(Tensor::ones({1}, DType::Float64));  // released by backward, then destroyed
  }
  CHECK(live_node_count() == before);
}

TEST_CASE("the graph writes as DOT naming ops and shapes", "[tape]") {
  const Tensor a = Tensor::ones({2, 3}, DType::Float32, true);
  const Tensor b = Tensor::ones({3, 4});
  a.set_name("a");
  const Tensor y = tanh(matmul(a, b));
  const Tensor unrelated = sum(a * 2.0);
  std::ostringstream dot;
  write_dot(dot, {y});
  CHECK_THAT(dot.str(), Catch::Contains("digraph") && Catch::Contains("matmul") &&
                            Catch::Contains("tanh") && Catch::Contains("[2,4]") &&
                            Catch::Contains("a\\n[2,3]"));
  CHECK_THAT(dot.str(), !Catch::Contains("sum"));  // only what y reaches
}

TEST_CASE("OpenBLAS runs its best kernel for this CPU", "[blas]") {
  const blas::Info info = blas::info();
  INFO(blas::describe());
  CHECK(info.threads >= 1);
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f")) {
    CHECK((info.core == "SkylakeX" || info.core == "Cooperlake"));
  }
}
