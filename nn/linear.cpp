// nn::Linear: initialisation and shape checks; the product itself is tg::linear.
#include "tapegrad/nn/linear.hpp"

#include <cmath>

#include <fmt/format.h>

#include "tapegrad/autograd/ops/linalg.hpp"

namespace tg::nn {

Linear::Linear(std::size_t in_features, std::size_t out_features, bool bias, Generator& gen)
    : in_features_(in_features), out_features_(out_features) {
  if (in_features == 0 || out_features == 0)
    throw Error(fmt::format("Linear: features must be positive, got in={} out={}", in_features,
                            out_features));
  const double bound = 1.0 / std::sqrt(static_cast<double>(in_features));
  weight_ = register_parameter(
      "weight", Tensor::uniform({out_features, in_features}, -bound, bound, DType::Float32, gen));
  if (bias)
    bias_ = register_parameter("bias",
                               Tensor::uniform({out_features}, -bound, bound, DType::Float32, gen));
}

Tensor Linear::forward(const Tensor& input) {
  const AutocastGuard precision = precision_scope();
  return linear(input, weight_, bias_);
}

Shape Linear::output_shape(const Shape& input_shape) const {
  if (input_shape.empty() || input_shape.back() != in_features_)
    throw Error(fmt::format("Linear: input shape {} does not end with in_features {}",
                            shape_str(input_shape), in_features_));
  Shape out = input_shape;
  out.back() = out_features_;
  return out;
}

}  // namespace tg::nn
