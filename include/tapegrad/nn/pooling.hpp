// nn::MaxPool1d and nn::AvgPool1d: the pooling ops as layers, with PyTorch's options; and the
// maximum and mean over the steps of a padded batch of sequences.
#pragma once

#include <cstddef>
#include <optional>
#include <vector>

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

// The maximum and the mean over the steps of each sequence of a padded batch (Keras'
// GlobalMaxPooling1D and GlobalAveragePooling1D with a mask; in PyTorch, amax / mean over the
// unpadded steps): x [T, B, F], as the recurrent layers' output ([B, T, F] with batch_first),
// whose sequence b has lengths[b] steps -> [B, F]. Steps past a sequence's length are left out;
// empty lengths: every sequence has all T steps. A length of 0 or over T throws, naming it.
Tensor max_over_steps(const Tensor& x, const std::vector<std::size_t>& lengths = {},
                      bool batch_first = false);
Tensor mean_over_steps(const Tensor& x, const std::vector<std::size_t>& lengths = {},
                       bool batch_first = false);

}  // namespace tg::nn
