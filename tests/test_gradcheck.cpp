// Every op's registered gradcheck cases pass, every listed op has cases, and gradcheck catches a
// deliberately wrong backward.
#include <catch2/catch.hpp>

#include <algorithm>
#include <set>

#include "op_cases.hpp"
#include "tapegrad/autograd/function.hpp"
#include "tapegrad/autograd/gradcheck.hpp"
#include "autograd/op_registry.hpp"
#include "tapegrad/autograd/ops.hpp"

using namespace tg;

TEST_CASE("every registered gradcheck case passes in float64", "[gradcheck]") {
  const auto& cases = tg::testing::op_cases();
  REQUIRE(!cases.empty());
  for (const GradcheckCase& c : cases) {
    DYNAMIC_SECTION(c.op << ": " << c.label) {
      const GradcheckReport report = run_gradcheck_case(c);
      INFO(report.message());
      CHECK(report.ok);
      CHECK(report.elements_checked > 0);
    }
  }
}

TEST_CASE("every registered op has gradcheck cases", "[gradcheck]") {
  // The list comes from the registry (autograd/op_registry.hpp), which every op family fills
  // with the names it records under: a new op without cases fails here.
  const std::vector<std::string> ops = registered_ops();
  REQUIRE(ops.size() >= 35);  // the families register; an empty registry would pass vacuously
  const std::vector<std::string> have = tg::testing::op_case_names();
  const std::set<std::string> checked(have.begin(), have.end());
  for (const std::string& op : ops) {
    INFO(op << " is registered but has no gradcheck case");
    CHECK(checked.count(op) == 1);
  }
}

TEST_CASE("every op a case records on the tape is a registered op", "[gradcheck]") {
  const std::vector<std::string> ops = registered_ops();
  const std::set<std::string> registered(ops.begin(), ops.end());
  for (const GradcheckCase& c : tg::testing::op_cases()) {
    std::vector<Tensor> inputs;
    for (const Shape& s : c.shapes) inputs.push_back(Tensor::full(s, 0.7, DType::Float64, true));
    const auto nodes = graph_nodes({c.f(inputs)});
    for (const auto& node : nodes) {
      INFO(c.op << ": " << c.label << " recorded " << node->op);
      CHECK(registered.count(node->op) == 1);
    }
    // The case is named after the op it checks, which must be the op that produced its result
    // (or, for a composite case, one it records): a misnamed case cannot cover another op.
    INFO(c.op << ": " << c.label);
    CHECK(std::any_of(nodes.begin(), nodes.end(), [&](const auto& n) { return n->op == c.op; }));
  }
}

namespace {

// tanh written outside the engine with the toolkit, its backward scaled by `factor`.
Tensor tanh_scaled_backward(const Tensor& x, double factor) {
  xt::xarray<double> y = xt::tanh(x.value<double>());
  Tensor out(std::move(y));
  if (any_requires_grad(x))
    record("tanh", out, {x}, saves_output,
           [factor](const Tensor& g, const Inputs&, const Tensor& y) -> Grads {
             return {g * (1.0 - y * y) * factor};
           });
  return out;
}

}  // namespace

TEST_CASE("gradcheck fails on a backward that is 1% off", "[gradcheck]") {
  const Tensor x = Tensor::uniform({4, 5}, -1, 1, DType::Float64).set_requires_grad();
  const GradcheckReport right = gradcheck([&] { return tanh_scaled_backward(x, 1.0); }, {x});
  INFO(right.message());
  CHECK(right.ok);
  CHECK(right.rel_norm_error < 1e-8);

  const GradcheckReport wrong = gradcheck([&] { return tanh_scaled_backward(x, 1.01); }, {x});
  INFO(wrong.message());
  CHECK_FALSE(wrong.ok);
  CHECK(wrong.rel_norm_error == Approx(0.01).epsilon(1e-3));
  CHECK_THAT(wrong.message(), Catch::Contains("FAILED"));
}

TEST_CASE("gradcheck refuses float32 inputs and non-leaves", "[gradcheck]") {
  const Tensor f = Tensor::ones({2}, DType::Float32, true);
  CHECK_THROWS_WITH(gradcheck([&] { return f; }, {f}), Catch::Contains("float64"));
  // A non-leaf: perturbing it would not change what f recomputes from the leaf.
  const Tensor leaf = Tensor::ones({2}, DType::Float64, true);
  const Tensor non_leaf = leaf * 2.0;
  CHECK_THROWS_WITH(gradcheck([&] { return non_leaf * non_leaf; }, {non_leaf}),
                    Catch::Contains("input 0") && Catch::Contains("leaf"));
  // Nor a leaf that does not require grad (it would have no analytic gradient to compare).
  const Tensor constant = Tensor::ones({2}, DType::Float64, false);
  CHECK_THROWS_WITH(gradcheck([&] { return constant * 2.0; }, {constant}),
                    Catch::Contains("leaf that requires grad"));
  // The refusals are about the inputs: the same function on the leaf is checked and passes.
  CHECK(gradcheck([&] { return (leaf * 2.0) * (leaf * 2.0); }, {leaf}).ok);
}
