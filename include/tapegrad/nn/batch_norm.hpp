// nn::BatchNorm1d: batch normalisation over [N, C] or [N, C, L], PyTorch's names, buffers and rules.
#pragma once

#include <optional>

#include "tapegrad/nn/module.hpp"
#include "tapegrad/nn/options.hpp"

namespace tg::nn {

class BatchNorm1dOptions {
 public:
  BatchNorm1dOptions(std::size_t num_features) : num_features_(num_features) {}
  TG_ARG(std::size_t, num_features);
  TG_ARG(double, eps) = 1e-5;
  // The running statistics' update weight; std::nullopt: a cumulative average (PyTorch's None).
  TG_ARG(std::optional<double>, momentum) = 0.1;
  TG_ARG(bool, affine) = true;
  TG_ARG(bool, track_running_stats) = true;
};

// Training mode normalises with the batch's mean and biased variance and updates the running
// statistics (the variance unbiased, as PyTorch); evaluation mode uses the running statistics.
// Parameters weight (ones) and bias (zeros); buffers running_mean (zeros), running_var (ones) and
// num_batches_tracked (a float here: exact up to 2^24 batches in float32).
class BatchNorm1d : public Module {
 public:
  explicit BatchNorm1d(const BatchNorm1dOptions& options);
  explicit BatchNorm1d(std::size_t num_features) : BatchNorm1d(BatchNorm1dOptions(num_features)) {}

  Tensor forward(const Tensor& input) override;
  Shape output_shape(const Shape& input_shape) const override { return input_shape; }

  const BatchNorm1dOptions& options() const { return options_; }
  const Tensor& weight() const { return weight_; }  // undefined without affine
  const Tensor& bias() const { return bias_; }
  const Tensor& running_mean() const { return running_mean_; }  // undefined without tracking
  const Tensor& running_var() const { return running_var_; }
  const Tensor& num_batches_tracked() const { return num_batches_tracked_; }

 private:
  BatchNorm1dOptions options_;
  Tensor weight_, bias_;
  Tensor running_mean_, running_var_, num_batches_tracked_;
};

}  // namespace tg::nn
