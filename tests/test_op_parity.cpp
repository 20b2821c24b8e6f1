// PyTorch parity of single ops: values and gradients against float64 PyTorch 1.13
// (tests/fixtures/op_fixtures.py), to 1e-10. Every fixture has a tapegrad case and every case
// a fixture, so neither side can drift alone.
#include <catch2/catch.hpp>

#include <fstream>
#include <set>

#include "compare.hpp"
#include "test_checks.hpp"
#include "op_parity_cases.hpp"
#include "tapegrad/autograd/ops.hpp"
#include "tapegrad/nn/npz.hpp"

using namespace tg;

namespace {

const std::string kDir = std::string(TAPEGRAD_FIXTURES_DIR) + "/ops/";

std::vector<std::string> fixture_names() { return tg::testing::fixture_index(kDir); }

Tensor leaf(const Tensor& t) { return tg::testing::leaf64(t); }

// Relative error with an absolute floor of 1: gradients near zero are compared absolutely.
void require_close(const std::string& what, const Tensor& ours, const Tensor& theirs) {
  INFO(what);
  REQUIRE(ours.defined());
  REQUIRE(ours.shape() == theirs.shape());
  const double err = tg::testing::max_rel_error(ours.to_vector(), theirs.to_vector(), 1.0);
  INFO("max error " << err);
  CHECK(err <= 1e-10);
}

}  // namespace

TEST_CASE("every op fixture has a tapegrad case and every case a fixture") {
  const auto names = fixture_names();
  REQUIRE(names.size() >= 5);
  std::set<std::string> fixtures(names.begin(), names.end());
  for (const auto& n : names) {
    INFO("fixture without a case in tests/op_parity_cases.cpp: " << n);
    CHECK(tg::testing::op_parity_cases().count(n) == 1);
  }
  for (const auto& [n, f] : tg::testing::op_parity_cases()) {
    INFO("case without a fixture (run tests/fixtures/op_fixtures.py): " << n);
    CHECK(fixtures.count(n) == 1);
  }
}

TEST_CASE("ops give PyTorch's values and gradients in float64") {
  for (const auto& name : fixture_names()) {
    const auto it = tg::testing::op_parity_cases().find(name);
    if (it == tg::testing::op_parity_cases().end()) continue;  // failed by the test above
    SECTION(name) {
      const nn::Archive a = nn::load_npz(kDir + name + ".npz");
      std::vector<Tensor> inputs;
      for (std::size_t i = 0; a.contains("in" + std::to_string(i)); ++i)
        inputs.push_back(leaf(a.tensors.at("in" + std::to_string(i))));
      const Tensor out = it->second(inputs);
      require_close(name + " output", out, a.tensors.at("output"));
      if (!a.contains("proj")) continue;
      sum(out * a.tensors.at("proj")).backward();
      for (std::size_t i = 0; i < inputs.size(); ++i) {
        const std::string key = "grads/in" + std::to_string(i);
        const Tensor g = inputs[i].has_grad() ? inputs[i].grad_tensor()
                                              : Tensor::zeros(inputs[i].shape(), DType::Float64);
        require_close(name + " " + key, g, a.tensors.at(key));
      }
    }
  }
}
