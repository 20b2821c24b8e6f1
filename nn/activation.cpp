// Element-wise activation modules: each binds its tg:: op.
#include "tapegrad/nn/activation.hpp"

#include "tapegrad/autograd/ops/elementwise.hpp"

namespace tg::nn {

// The casts pick the one-argument overloads.
Tanh::Tanh() : Activation("Tanh", static_cast<Function>(&tg::tanh)) {}
ReLU::ReLU() : Activation("ReLU", static_cast<Function>(&tg::relu)) {}
Sigmoid::Sigmoid() : Activation("Sigmoid", static_cast<Function>(&tg::sigmoid)) {}

}  // namespace tg::nn
