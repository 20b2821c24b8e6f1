// The tapegrad expression of every PyTorch op fixture, by case name: each line here is the
// counterpart of one CASES entry in tests/fixtures/op_fixtures.py.
#include "op_parity_cases.hpp"
#include "op_cases.hpp"

#include <utility>

#include "tapegrad/autograd/ops.hpp"

namespace tg::testing {

namespace {

// The fixed targets and weights of op_fixtures.py's loss cases.
const Indices kTargetsK({0, 2, 1, 1, 2, 0, 0, 1}, {2, 4});
const Indices kTargetsK2({2, 0, 1, 1, 0, 0, 2, 1}, {2, 2, 2});
const Indices kTargetRows({1, 0, 2, 1});
Tensor w3() { return Tensor::from_vector({0.5, 2.0, 1.0}, {3}, DType::Float64); }
Tensor w4() { return Tensor::from_vector({0.5, 2.0, 1.0, 0.25}, {4}, DType::Float64); }
Tensor pos4() { return Tensor::from_vector({3.0, 0.5, 1.0, 2.0}, {4}, DType::Float64); }

}  // namespace

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
      {"cross_entropy_kdim_mean", [](In x) { return cross_entropy(x[0], kTargetsK); }},
      {"cross_entropy_kdim_weight_ignore_smoothing",
       [](In x) { return cross_entropy(x[0], kTargetsK, tg::testing::ce_options(Reduction::Mean, 1, w3(), 0.2)); }},
      {"cross_entropy_kdim_ignore_smoothing",
       [](In x) { return cross_entropy(x[0], kTargetsK, tg::testing::ce_options(Reduction::Mean, 1, {}, 0.3)); }},
      {"cross_entropy_kdim_weight_none",
       [](In x) { return cross_entropy(x[0], kTargetsK, tg::testing::ce_options(Reduction::None, 2, w3(), 0.1)); }},
      {"cross_entropy_kdim2_sum",
       [](In x) { return cross_entropy(x[0] * 2.0, kTargetsK2, tg::testing::ce_options(Reduction::Sum)); }},
      {"cross_entropy_unbatched",
       [](In x) { return cross_entropy(x[0], Indices({3}, Shape{}), tg::testing::ce_options(Reduction::None)); }},
      {"cross_entropy_smoothing_weight_sum",
       [](In x) { return cross_entropy(x[0], kTargetRows, tg::testing::ce_options(Reduction::Sum, -100, w3(), 0.2)); }},
      {"nll_loss_kdim_weight_ignore",
       [](In x) { return nll_loss(log_softmax(x[0], 1), kTargetsK, tg::testing::ce_options(Reduction::Mean, 0, w3())); }},
      {"binary_cross_entropy_mean",
       [](In x) { return binary_cross_entropy(sigmoid(x[0] * 2.0), sigmoid(x[1])); }},
      {"binary_cross_entropy_weight_none",
       [](In x) { return binary_cross_entropy(sigmoid(x[0]), sigmoid(x[1]), w4(), Reduction::None); }},
      {"binary_cross_entropy_hard_sum", [](In x) {
         const Tensor hard = Tensor::from_vector({0, 1, 1, 0, 1}, {5}, DType::Float64);
         return binary_cross_entropy(sigmoid(x[0]), hard, {}, Reduction::Sum);
       }},
      {"binary_cross_entropy_with_logits_mean",
       [](In x) { return binary_cross_entropy_with_logits(x[0] * 3.0, sigmoid(x[1])); }},
      {"binary_cross_entropy_with_logits_weights_sum", [](In x) {
         return binary_cross_entropy_with_logits(x[0] * 3.0, sigmoid(x[1]), w4(), pos4(), Reduction::Sum);
       }},
      {"binary_cross_entropy_with_logits_pos_weight_none", [](In x) {
         return binary_cross_entropy_with_logits(x[0], sigmoid(x[1]), {}, pos4(), Reduction::None);
       }},
      {"l1_loss_mean", [](In x) { return l1_loss(x[0], x[1]); }},
      {"l1_loss_broadcast_none", [](In x) { return l1_loss(x[0], x[1], Reduction::None); }},
      {"smooth_l1_loss_beta_half", [](In x) { return smooth_l1_loss(x[0], x[1], Reduction::Mean, 0.5); }},
      {"smooth_l1_loss_sum", [](In x) { return smooth_l1_loss(x[0] * 2.0, x[1], Reduction::Sum); }},
      {"smooth_l1_loss_beta0_none",
       [](In x) { return smooth_l1_loss(x[0], x[1], Reduction::None, 0.0); }},
      {"huber_loss_delta", [](In x) { return huber_loss(x[0] * 2.0, x[1], Reduction::Mean, 0.7); }},
      {"huber_loss_none", [](In x) { return huber_loss(x[0] * 2.0, x[1], Reduction::None); }},
    };
    add_view_parity_cases(all);
    return all;
  }();
  return cases;
}

}  // namespace tg::testing
