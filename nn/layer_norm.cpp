// nn::LayerNorm: parameters and checks; the normalisation itself is the fused tg::layer_norm op.
#include "tapegrad/nn/layer_norm.hpp"

#include <fmt/format.h>

#include "tapegrad/autograd/ops/statistics.hpp"

namespace tg::nn {

LayerNorm::LayerNorm(const LayerNormOptions& options) : options_(options) {
  const Shape& s = options.normalized_shape();
  if (s.empty()) throw Error("LayerNorm: normalized_shape must not be empty");
  if (options.elementwise_affine()) {
    weight_ = register_parameter("weight", Tensor::ones(s));
    bias_ = register_parameter("bias", Tensor::zeros(s));
  }
}

Tensor LayerNorm::forward(const Tensor& input) {
  return layer_norm(input, options_.normalized_shape(), weight_, bias_, options_.eps());
}

}  // namespace tg::nn
