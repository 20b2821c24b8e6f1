// nn::Dropout: argument checks and the mode-dependent call to tg::dropout.
#include "tapegrad/nn/dropout.hpp"

#include <fmt/format.h>

#include "tapegrad/autograd/ops/loss.hpp"

namespace tg::nn {

namespace {

double checked_p(double p) {
  // p == 1 would scale the kept elements by 1/0.
  if (!(p >= 0.0 && p < 1.0)) throw Error(fmt::format("Dropout: p must be in [0, 1), got {}", p));
  return p;
}

}  // namespace

Dropout::Dropout(double p)
    : p_(checked_p(p)),
      own_(std::make_unique<Generator>(default_generator().next_u64())),
      gen_(own_.get()) {}

Dropout::Dropout(double p, Generator& shared) : p_(checked_p(p)), gen_(&shared) {}

Tensor Dropout::forward(const Tensor& input) { return dropout(input, p_, is_training(), *gen_); }

}  // namespace tg::nn
