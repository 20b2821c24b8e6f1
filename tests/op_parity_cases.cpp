// The tapegrad expression of every PyTorch op fixture, by case name: each line here is the
// counterpart of one CASES entry in tests/fixtures/op_fixtures.py.
#include "op_parity_cases.hpp"

#include "tapegrad/autograd/ops.hpp"

namespace tg::testing {

const std::map<std::string, ParityFunction>& op_parity_cases() {
  using In = const std::vector<Tensor>&;
  static const std::map<std::string, ParityFunction> cases = [] {
    std::map<std::string, ParityFunction> all = {
      {"gelu", [](In x) { return gelu(x[0]); }},
      {"gelu_tanh", [](In x) { return gelu(x[0], GeluApproximation::Tanh); }},
      {"softplus_beta2", [](In x) { return softplus(x[0] * 3.0, 2.0, 4.0); }},
      {"erf", [](In x) { return erf(x[0]); }},
      {"log1p", [](In x) { return log1p(x[0]); }},
    };
    add_view_parity_cases(all);
    return all;
  }();
  return cases;
}

}  // namespace tg::testing
