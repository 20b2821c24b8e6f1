// nn::Conv1d: a 1-D convolution layer with PyTorch's options, parameter names, layout and
// default initialisation.
#pragma once

#include <string>

#include "tapegrad/autograd/ops/convolution.hpp"
#include "tapegrad/autograd/random.hpp"
#include "tapegrad/nn/module.hpp"
#include "tapegrad/nn/options.hpp"

namespace tg::nn {

// Conv1d(Conv1dOptions(16, 32, 5).padding(PaddingMode::Same).groups(4).bias(false)).
class Conv1dOptions {
 public:
  Conv1dOptions(std::size_t in_channels, std::size_t out_channels, std::size_t kernel_size)
      : in_channels_(in_channels), out_channels_(out_channels), kernel_size_(kernel_size) {}
  TG_ARG(std::size_t, in_channels);
  TG_ARG(std::size_t, out_channels);
  TG_ARG(std::size_t, kernel_size);
  TG_ARG(std::size_t, stride) = 1;
  // Zeros on both ends, or PaddingMode::Same (stride 1) / PaddingMode::Valid.
  TG_ARG(ConvPadding, padding) = 0;
  TG_ARG(std::size_t, dilation) = 1;
  TG_ARG(std::size_t, groups) = 1;
  TG_ARG(bool, bias) = true;
  // Only "zeros" (PyTorch's default); the others are refused when the layer is built.
  TG_ARG(std::string, padding_mode) = "zeros";
};

class Conv1d : public Module {
 public:
  // weight [out, in / groups, K] and bias [out] drawn from U(-1/sqrt(fan_in), 1/sqrt(fan_in)),
  // fan_in = in / groups * K: PyTorch's kaiming_uniform_(a=sqrt(5)) and its bias rule.
  explicit Conv1d(const Conv1dOptions& options, Generator& gen = default_generator());
  Conv1d(std::size_t in_channels, std::size_t out_channels, std::size_t kernel_size,
         Generator& gen = default_generator())
      : Conv1d(Conv1dOptions(in_channels, out_channels, kernel_size), gen) {}

  std::string type_name() const override { return "Conv1d"; }
  // [N, in, L] (or [in, L]) -> [N, out, L_out]
  Tensor forward(const Tensor& input) override;
  Shape output_shape(const Shape& input_shape) const override;

  const Conv1dOptions& options() const { return options_; }
  const Tensor& weight() const { return weight_; }
  const Tensor& bias() const { return bias_; }  // undefined without bias

 private:
  Conv1dOptions options_;
  Tensor weight_;
  Tensor bias_;
};

}  // namespace tg::nn
