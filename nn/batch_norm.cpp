// nn::BatchNorm1d: composed of reductions and element-wise ops (their formulas give every
// derivative order); the running statistics are updated outside the tape.
#include "tapegrad/nn/batch_norm.hpp"

#include <fmt/format.h>

#include "tapegrad/autograd/function.hpp"
#include "tapegrad/autograd/ops/elementwise.hpp"
#include "tapegrad/autograd/ops/reduction.hpp"
#include "tapegrad/autograd/ops/shape.hpp"
#include "tapegrad/autograd/ops/statistics.hpp"

namespace tg::nn {

BatchNorm1d::BatchNorm1d(const BatchNorm1dOptions& options) : options_(options) {
  const std::size_t c = options.num_features();
  if (c == 0) throw Error("BatchNorm1d: num_features must be positive");
  if (options.affine()) {
    weight_ = register_parameter("weight", Tensor::ones({c}));
    bias_ = register_parameter("bias", Tensor::zeros({c}));
  }
  if (options.track_running_stats()) {
    running_mean_ = register_buffer("running_mean", Tensor::zeros({c}));
    running_var_ = register_buffer("running_var", Tensor::ones({c}));
    num_batches_tracked_ = register_buffer("num_batches_tracked", Tensor::scalar(0.0));
  }
}

Tensor BatchNorm1d::forward(const Tensor& input) {
  const Shape& s = input.shape();
  const std::size_t c = options_.num_features();
  if ((s.size() != 2 && s.size() != 3) || s[1] != c)
    throw Error(fmt::format("BatchNorm1d: input must be [N, {0}] or [N, {0}, L], got {1}", c, shape_str(s)));
  // Statistics per channel: over N, and over L for 3-D input; broadcast back as [C] or [C, 1].
  const std::vector<int> axes = s.size() == 2 ? std::vector<int>{0} : std::vector<int>{0, 2};
  const std::vector<long> channel_shape = s.size() == 2 ? std::vector<long>{long(c)} : std::vector<long>{long(c), 1};
  const std::size_t count = input.size() / c;
  const bool use_batch = is_training() || !options_.track_running_stats();
  Tensor mu, variance;
  if (use_batch) {
    if (is_training() && count <= 1)
      throw Error(fmt::format("BatchNorm1d: expected more than 1 value per channel when training, got input {}",
                              shape_str(s)));
    mu = mean(input, axes, true);
    variance = var(input, axes, /*correction=*/0, true);
  } else {
    mu = reshape(running_mean_, channel_shape);
    variance = reshape(running_var_, channel_shape);
  }
  if (is_training() && options_.track_running_stats()) {
    const double batches = num_batches_tracked_.to_vector()[0] + 1.0;
    dispatch(num_batches_tracked_.dtype(), [&](auto z) {
      using T = decltype(z);
      num_batches_tracked_.mutable_value<T>().fill(T(batches));
    });
    const double m = options_.momentum().value_or(1.0 / batches);
    const double unbiased = count > 1 ? double(count) / double(count - 1) : 1.0;
    const Tensor batch_mean = reshape(mu, {long(c)}).detach();
    const Tensor batch_var = reshape(variance, {long(c)}).detach();
    dispatch(running_mean_.dtype(), [&](auto z) {
      using T = decltype(z);
      auto& rm = running_mean_.mutable_value<T>();
      auto& rv = running_var_.mutable_value<T>();
      const Tensor bm = batch_mean.to(running_mean_.dtype()), bv = batch_var.to(running_mean_.dtype());
      rm = (T(1) - T(m)) * rm + T(m) * bm.value<T>();
      rv = (T(1) - T(m)) * rv + T(m * unbiased) * bv.value<T>();
    });
  }
  Tensor y = (input - mu) / sqrt(variance + options_.eps());
  if (options_.affine()) y = y * reshape(weight_, channel_shape) + reshape(bias_, channel_shape);
  return y;
}

}  // namespace tg::nn
