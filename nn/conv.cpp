// nn::Conv1d: option checks, initialisation and shapes; the convolution itself is tg::conv1d.
#include "tapegrad/nn/conv.hpp"

#include <cmath>

#include <fmt/format.h>

namespace tg::nn {

namespace {

// The length axis of a [N, C, L] or [C, L] input shape, checking the channels.
std::size_t length_of(const char* layer, const Shape& input_shape, std::size_t channels) {
  if ((input_shape.size() != 3 && input_shape.size() != 2) ||
      (channels != 0 && input_shape[input_shape.size() - 2] != channels))
    throw Error(fmt::format("{}: input shape {} is not [N, {}, L] or [{}, L]", layer,
                            shape_str(input_shape), channels, channels));
  return input_shape.back();
}

}  // namespace

Conv1d::Conv1d(const Conv1dOptions& o, Generator& gen) : options_(o) {
  if (o.in_channels() == 0 || o.out_channels() == 0 || o.kernel_size() == 0 ||
      o.stride() == 0 || o.dilation() == 0 || o.groups() == 0)
    throw Error(fmt::format("Conv1d: in_channels {}, out_channels {}, kernel_size {}, stride {}, "
                            "dilation {} and groups {} must all be positive",
                            o.in_channels(), o.out_channels(), o.kernel_size(), o.stride(),
                            o.dilation(), o.groups()));
  if (o.in_channels() % o.groups() != 0 || o.out_channels() % o.groups() != 0)
    throw Error(fmt::format("Conv1d: groups {} must divide in_channels {} and out_channels {}",
                            o.groups(), o.in_channels(), o.out_channels()));
  if (o.padding_mode() != "zeros")
    throw Error(fmt::format("Conv1d: padding_mode '{}' is not supported (only 'zeros')",
                            o.padding_mode()));
  if (o.padding().is_mode() && o.padding().mode() == PaddingMode::Same && o.stride() != 1)
    throw Error(fmt::format("Conv1d: padding 'same' needs stride 1, got stride {}", o.stride()));
  const std::size_t in_per_group = o.in_channels() / o.groups();
  const double bound = 1.0 / std::sqrt(static_cast<double>(in_per_group * o.kernel_size()));
  weight_ = register_parameter(
      "weight", Tensor::uniform({o.out_channels(), in_per_group, o.kernel_size()}, -bound, bound,
                                DType::Float32, gen));
  if (o.bias())
    bias_ = register_parameter(
        "bias", Tensor::uniform({o.out_channels()}, -bound, bound, DType::Float32, gen));
}

Tensor Conv1d::forward(const Tensor& input) {
  const AutocastGuard precision = precision_scope();
  const Conv1dOptions& o = options_;
  return conv1d(input, weight_, bias_, o.stride(), o.padding(), o.dilation(), o.groups());
}

Shape Conv1d::output_shape(const Shape& input_shape) const {
  const Conv1dOptions& o = options_;
  const std::size_t length = length_of("Conv1d", input_shape, o.in_channels());
  long out = static_cast<long>(length);
  if (!(o.padding().is_mode() && o.padding().mode() == PaddingMode::Same)) {
    const std::size_t pad = o.padding().is_mode() ? 0 : o.padding().zeros();
    out = conv_output_length(length, o.kernel_size(), o.stride(), pad, o.dilation());
  }
  if (out < 1)
    throw Error(fmt::format("Conv1d: input shape {} is shorter than the kernel ({} dilated by {})",
                            shape_str(input_shape), o.kernel_size(), o.dilation()));
  Shape shape = input_shape;
  shape[shape.size() - 2] = o.out_channels();
  shape.back() = static_cast<std::size_t>(out);
  return shape;
}

}  // namespace tg::nn
