// nn::MaxPool1d and nn::AvgPool1d: the pooling ops as layers, with PyTorch's options.
#pragma once

#include <optional>

#include "tapegrad/nn/module.hpp"
#include "tapegrad/nn/options.hpp"

namespace tg::nn {

// MaxPool1d(MaxPool1dOptions(3).stride(2).padding(1).ceil_mode(true)); stride unset = kernel.
class MaxPool1dOptions {
 public:
  MaxPool1dOptions(std::size_t kernel_size) : kernel_size_(kernel_size) {}
  TG_ARG(std::size_t, kernel_size);
  TG_ARG(std::optional<std::size_t>, stride) = std::nullopt;
  TG_ARG(std::size_t, padding) = 0;
  TG_ARG(std::size_t, dilation) = 1;
  TG_ARG(bool, ceil_mode) = false;
};

class MaxPool1d : public Module {
 public:
  explicit MaxPool1d(const MaxPool1dOptions& options);
  std::string type_name() const override { return "MaxPool1d"; }
  Tensor forward(const Tensor& input) override;
  Shape output_shape(const Shape& input_shape) const override;
  const MaxPool1dOptions& options() const { return options_; }

 private:
  MaxPool1dOptions options_;
};

class AvgPool1dOptions {
 public:
  AvgPool1dOptions(std::size_t kernel_size) : kernel_size_(kernel_size) {}
  TG_ARG(std::size_t, kernel_size);
  TG_ARG(std::optional<std::size_t>, stride) = std::nullopt;
  TG_ARG(std::size_t, padding) = 0;
  TG_ARG(bool, ceil_mode) = false;
  TG_ARG(bool, count_include_pad) = true;
};

class AvgPool1d : public Module {
 public:
  explicit AvgPool1d(const AvgPool1dOptions& options);
  std::string type_name() const override { return "AvgPool1d"; }
  Tensor forward(const Tensor& input) override;
  Shape output_shape(const Shape& input_shape) const override;
  const AvgPool1dOptions& options() const { return options_; }

 private:
  AvgPool1dOptions options_;
};

}  // namespace tg::nn
