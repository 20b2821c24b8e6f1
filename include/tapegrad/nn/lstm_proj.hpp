// LSTM with projections (PyTorch's proj_size): a built-in on the custom-cell path of the driver.
#pragma once

#include "tapegrad/nn/custom_recurrent.hpp"

namespace tg::nn {

// torch.nn.LSTM(..., proj_size=P): h = (o * tanh(c)) W_hr^T has P features, c keeps H. Per layer
// and direction: weight_ih [4H, in], weight_hh [4H, P], bias_ih, bias_hh [4H], weight_hr [P, H],
// named with PyTorch's suffixes and drawn from U(-1/sqrt(H), 1/sqrt(H)) in that order. The
// output is [T, B, D*P], h_n [L*D, B, P], c_n [L*D, B, H]; layers above the first read D*P
// features. Runs through the op-by-op path (each step is a few nodes), not a fused kernel.
class LSTMProj : public CustomRecurrent {
 public:
  // options.hidden_size() is H (the cell); proj_size is P, 0 < P < H as in PyTorch.
  LSTMProj(const RecurrentOptions& options, std::size_t proj_size,
           Generator& gen = default_generator());
  std::string type_name() const override { return "LSTM"; }
  std::size_t proj_size() const { return proj_size_; }
  std::size_t cell_hidden_size() const { return cell_hidden_; }

 private:
  std::size_t proj_size_, cell_hidden_;
};

}  // namespace tg::nn
