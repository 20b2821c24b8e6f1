// clip_grad_norm and clip_grad_value: raw loops over the gradient arrays.
#include "tapegrad/optim/clip.hpp"

#include <fmt/format.h>

#include <cmath>

#include "tapegrad/autograd/function.hpp"

namespace tg::optim {

namespace {

std::vector<Tensor> tensors_of(const nn::NamedTensors& params) {
  std::vector<Tensor> out;
  out.reserve(params.size());
  for (const auto& named : params) out.push_back(named.second);
  return out;
}

// Calls f(pointer, size) with each existing gradient in its dtype.
template <class F>
void for_each_grad(const std::vector<Tensor>& params, F&& f) {
  for (const Tensor& p : params) {
    if (!p.defined() || !p.has_grad()) continue;
    dispatch(p.dtype(), [&](auto s) {
      using T = decltype(s);
      auto& g = p.grad<T>();
      f(g.data(), g.size());
    });
  }
}

// Sum of f(g[i]) in double over 8 independent lanes: one accumulator would serialize on the
// add latency (the compiler may not reorder floating-point sums), eight vectorize.
template <class T, class F>
double lane_sum(const T* g, std::size_t n, F f) {
  constexpr std::size_t kLanes = 8;
  double acc[kLanes] = {};
  std::size_t i = 0;
  for (; i + kLanes <= n; i += kLanes)
    for (std::size_t l = 0; l < kLanes; ++l) acc[l] += f(static_cast<double>(g[i + l]));
  for (; i < n; ++i) acc[0] += f(static_cast<double>(g[i]));
  double total = 0;
  for (double a : acc) total += a;
  return total;
}

}  // namespace

double clip_grad_norm(const std::vector<Tensor>& params, double max_norm, double norm_type,
                      bool error_if_nonfinite) {
  if (!(norm_type > 0))
    throw Error(fmt::format("clip_grad_norm: norm_type must be > 0 or inf, got {}", norm_type));
  // NaN would pass every comparison below and scale every gradient to NaN.
  if (!(max_norm >= 0))
    throw Error(fmt::format("clip_grad_norm: max_norm must be >= 0, got {}", max_norm));
  const bool max_abs = std::isinf(norm_type);
  double total = 0;
  for_each_grad(params, [&](auto* g, std::size_t n) {
    if (max_abs) {
      // NaN propagates, as torch.max does.
      for (std::size_t i = 0; i < n; ++i) {
        const double v = std::abs(static_cast<double>(g[i]));
        if (std::isnan(v) || v > total) total = std::isnan(total) ? total : v;
      }
    } else if (norm_type == 2) {
      total += lane_sum(g, n, [](double v) { return v * v; });
    } else if (norm_type == 1) {
      total += lane_sum(g, n, [](double v) { return std::abs(v); });
    } else {
      for (std::size_t i = 0; i < n; ++i) total += std::pow(std::abs(static_cast<double>(g[i])), norm_type);
    }
  });
  if (!max_abs) total = norm_type == 2 ? std::sqrt(total) : std::pow(total, 1.0 / norm_type);
  if (error_if_nonfinite && !std::isfinite(total))
    throw Error(fmt::format(
        "clip_grad_norm: total norm is nan/inf ({} for norm_type {}), so the gradients cannot be "
        "clipped; pass error_if_nonfinite = false to scale them anyway",
        total, norm_type));
  const double coef = max_norm / (total + 1e-6);
  if (coef < 1.0 || std::isnan(coef)) {  // multiplying by a clamped 1 would change nothing
    for_each_grad(params, [&](auto* g, std::size_t n) {
      using T = std::remove_pointer_t<decltype(g)>;
      const T c = static_cast<T>(coef);
      for (std::size_t i = 0; i < n; ++i) g[i] = g[i] * c;
    });
  }
  return total;
}

double clip_grad_norm(const nn::NamedTensors& params, double max_norm, double norm_type,
                      bool error_if_nonfinite) {
  return clip_grad_norm(tensors_of(params), max_norm, norm_type, error_if_nonfinite);
}

void clip_grad_value(const std::vector<Tensor>& params, double clip) {
  if (!(clip >= 0)) throw Error(fmt::format("clip_grad_value: clip must be >= 0, got {}", clip));
  for_each_grad(params, [&](auto* g, std::size_t n) {
    using T = std::remove_pointer_t<decltype(g)>;
    const T hi = static_cast<T>(clip), lo = -hi;
    for (std::size_t i = 0; i < n; ++i) g[i] = g[i] < lo ? lo : (g[i] > hi ? hi : g[i]);
  });
}

void clip_grad_value(const nn::NamedTensors& params, double clip) {
  clip_grad_value(tensors_of(params), clip);
}

}  // namespace tg::optim
