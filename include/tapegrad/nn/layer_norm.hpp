// nn::LayerNorm: normalisation over the trailing axes, with PyTorch's names (weight, bias).
#pragma once

#include "tapegrad/nn/module.hpp"
#include "tapegrad/nn/options.hpp"

namespace tg::nn {

// LayerNormOptions({512}).eps(1e-6).elementwise_affine(false).
class LayerNormOptions {
 public:
  LayerNormOptions(Shape normalized_shape) : normalized_shape_(std::move(normalized_shape)) {}
  TG_ARG(Shape, normalized_shape);
  TG_ARG(double, eps) = 1e-5;
  TG_ARG(bool, elementwise_affine) = true;
};

class LayerNorm : public Module {
 public:
  // weight starts at ones, bias at zeros (PyTorch); without elementwise_affine there are none.
  explicit LayerNorm(const LayerNormOptions& options);
  LayerNorm(Shape normalized_shape, double eps = 1e-5, bool elementwise_affine = true)
      : LayerNorm(LayerNormOptions(std::move(normalized_shape)).eps(eps).elementwise_affine(elementwise_affine)) {}

  std::string type_name() const override { return "LayerNorm"; }
  // x [..., *normalized_shape] -> same shape; one fused tg::layer_norm node.
  Tensor forward(const Tensor& input) override;
  Shape output_shape(const Shape& input_shape) const override { return input_shape; }

  const LayerNormOptions& options() const { return options_; }
  const Tensor& weight() const { return weight_; }  // undefined without elementwise_affine
  const Tensor& bias() const { return bias_; }

 private:
  LayerNormOptions options_;
  Tensor weight_;
  Tensor bias_;
};

}  // namespace tg::nn
