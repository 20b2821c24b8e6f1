// Activation modules: each binds its tg:: op and its options.
#include "tapegrad/nn/activation.hpp"

#include "tapegrad/autograd/ops/elementwise.hpp"
#include "tapegrad/autograd/ops/reduction.hpp"

namespace tg::nn {

Identity::Identity() : Activation("Identity", [](const Tensor& x) { return x; }) {}
Tanh::Tanh() : Activation("Tanh", [](const Tensor& x) { return tg::tanh(x); }) {}
ReLU::ReLU() : Activation("ReLU", [](const Tensor& x) { return tg::relu(x); }) {}
Sigmoid::Sigmoid() : Activation("Sigmoid", [](const Tensor& x) { return tg::sigmoid(x); }) {}
SiLU::SiLU() : Activation("SiLU", [](const Tensor& x) { return tg::silu(x); }) {}
GELU::GELU(GeluApproximation approximate)
    : Activation("GELU", [approximate](const Tensor& x) { return tg::gelu(x, approximate); }) {}
LeakyReLU::LeakyReLU(double negative_slope)
    : Activation("LeakyReLU", [negative_slope](const Tensor& x) { return tg::leaky_relu(x, negative_slope); }) {}
ELU::ELU(double alpha) : Activation("ELU", [alpha](const Tensor& x) { return tg::elu(x, alpha); }) {}
Softplus::Softplus(double beta, double threshold)
    : Activation("Softplus", [beta, threshold](const Tensor& x) { return tg::softplus(x, beta, threshold); }) {}
Softmax::Softmax(int dim) : Activation("Softmax", [dim](const Tensor& x) { return tg::softmax(x, dim); }) {}
LogSoftmax::LogSoftmax(int dim)
    : Activation("LogSoftmax", [dim](const Tensor& x) { return tg::log_softmax(x, dim); }) {}

}  // namespace tg::nn
