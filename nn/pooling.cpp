// nn::MaxPool1d and nn::AvgPool1d: the ops tg::max_pool1d / tg::avg_pool1d, and their shapes.
#include "tapegrad/nn/pooling.hpp"

#include <fmt/format.h>

#include "tapegrad/autograd/ops/convolution.hpp"

namespace tg::nn {

namespace {

Shape pooled_shape(const char* layer, const Shape& input_shape, std::size_t kernel,
                   std::size_t stride, std::size_t padding, std::size_t dilation, bool ceil_mode) {
  if (input_shape.size() != 3 && input_shape.size() != 2)
    throw Error(fmt::format("{}: input shape {} is not [N, C, L] or [C, L]", layer,
                            shape_str(input_shape)));
  const long out =
      pool_output_length(input_shape.back(), kernel, stride, padding, dilation, ceil_mode);
  if (out < 1)
    throw Error(fmt::format("{}: input shape {} is too short for kernel size {}", layer,
                            shape_str(input_shape), kernel));
  Shape shape = input_shape;
  shape.back() = static_cast<std::size_t>(out);
  return shape;
}

void check_kernel(const char* layer, std::size_t kernel, std::size_t padding) {
  if (kernel == 0)
    throw Error(fmt::format("{}: kernel_size must be positive", layer));
  if (padding > kernel / 2)
    throw Error(fmt::format("{}: padding {} must be at most half the kernel size {}", layer,
                            padding, kernel));
}

}  // namespace

MaxPool1d::MaxPool1d(const MaxPool1dOptions& options) : options_(options) {
  check_kernel("MaxPool1d", options.kernel_size(), options.padding());
}

Tensor MaxPool1d::forward(const Tensor& input) {
  const MaxPool1dOptions& o = options_;
  return max_pool1d(input, o.kernel_size(), o.stride(), o.padding(), o.dilation(), o.ceil_mode());
}

Shape MaxPool1d::output_shape(const Shape& input_shape) const {
  const MaxPool1dOptions& o = options_;
  return pooled_shape("MaxPool1d", input_shape, o.kernel_size(),
                      o.stride().value_or(o.kernel_size()), o.padding(), o.dilation(),
                      o.ceil_mode());
}

AvgPool1d::AvgPool1d(const AvgPool1dOptions& options) : options_(options) {
  check_kernel("AvgPool1d", options.kernel_size(), options.padding());
}

Tensor AvgPool1d::forward(const Tensor& input) {
  const AvgPool1dOptions& o = options_;
  return avg_pool1d(input, o.kernel_size(), o.stride(), o.padding(), o.ceil_mode(),
                    o.count_include_pad());
}

Shape AvgPool1d::output_shape(const Shape& input_shape) const {
  const AvgPool1dOptions& o = options_;
  return pooled_shape("AvgPool1d", input_shape, o.kernel_size(),
                      o.stride().value_or(o.kernel_size()), o.padding(), 1, o.ceil_mode());
}

}  // namespace tg::nn
