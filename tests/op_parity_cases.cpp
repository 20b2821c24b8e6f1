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
      {"silu", [](In x) { return silu(x[0]); }},
      {"leaky_relu", [](In x) { return leaky_relu(x[0], 0.2); }},
      {"elu", [](In x) { return elu(x[0] * 3.0, 0.7); }},
      {"conv1d_stride2_pad1", [](In x) { return conv1d(x[0], x[1], x[2], 2, 1); }},
      {"conv1d_groups_dilation", [](In x) { return conv1d(x[0], x[1], Tensor(), 1, 2, 2, 2); }},
      {"conv1d_same_even_k", [](In x) { return conv1d(x[0], x[1], x[2], 1, PaddingMode::Same); }},
      {"conv1d_k1_unbatched", [](In x) { return conv1d(x[0], x[1], x[2]); }},
      {"unfold1d", [](In x) { return unfold1d(x[0], 3, 2, 2, 2); }},
      {"fold1d", [](In x) { return fold1d(x[0], 9, 3, 2, 2, 2); }},
      {"max_pool1d_ceil_pad", [](In x) { return max_pool1d(x[0], 3, 2, 1, 1, true); }},
      {"max_pool1d_dilation", [](In x) { return max_pool1d(x[0], 3, 1, 1, 2); }},
      {"avg_pool1d_ceil_exclude_pad", [](In x) { return avg_pool1d(x[0], 3, 2, 1, true, false); }},
      {"avg_pool1d_ceil_include_pad", [](In x) { return avg_pool1d(x[0], 4, 3, 2, true, true); }},
    };
    add_view_parity_cases(all);
    return all;
  }();
  return cases;
}

}  // namespace tg::testing
