// Statistics and normalisations: each forward and its backward side by side.
#include "tapegrad/autograd/ops/statistics.hpp"

#include <cmath>
#include <numeric>

#include <xtensor/xbroadcast.hpp>

#include "tapegrad/autograd/ops/elementwise.hpp"
#include "tapegrad/autograd/ops/reduction.hpp"
#include "tapegrad/autograd/ops/shape.hpp"
#include "autograd/op_registry.hpp"
#include "autograd/ops/reduce_plan.hpp"

namespace tg {

// The names this family records on the tape (autograd/op_registry.hpp).
const OpName op_var{"var"};
const OpName op_std{"std"};
const OpName op_layer_norm{"layer_norm"};
const OpName op_masked_softmax{"masked_softmax"};

namespace {

using detail::array_of_shape;
using detail::for_each_lane;
using detail::make_lanes;
using detail::make_plan;
using detail::reduce_into;
using detail::walk_elements;

// var and std: mean, then the sum of squared deviations, one pass each; backward from the saved
// means (and, for std, the saved output).
Tensor variance(const char* op, const Tensor& x, const std::vector<int>& axes, long correction,
                bool keepdims, bool take_sqrt) {
  check_same_dtype(op, {x});
  detail::ReducePlan plan = make_plan(op, x.shape(), axes, keepdims);
  return dispatch(x.dtype(), [&](auto s) {
    using T = decltype(s);
    const T* px = x.value<T>().data();
    std::vector<T> means(plan.out_size);
    reduce_into<T>(plan, means.data(), T(0), [px](std::size_t i, std::size_t) { return px[i]; },
                   detail::Plus());
    for (T& m : means) m /= T(plan.count);
    const T divisor = T(static_cast<double>(plan.count) - static_cast<double>(correction));
    xt::xarray<T> out = array_of_shape<T>(plan.out_shape);
    T* po = out.data();
    std::fill(po, po + plan.out_size, T(0));
    walk_elements(plan, [&](std::size_t i, std::size_t o) {
      const T d = px[i] - means[o];
      po[o] += d * d;
    });
    for (std::size_t o = 0; o < plan.out_size; ++o) {
      po[o] /= divisor;
      if (take_sqrt) po[o] = std::sqrt(po[o]);
    }
    Tensor y(std::move(out));
    if (any_requires_grad(x)) {
      // d var / d x_i = 2 (x_i - mean) / divisor (the mean's own term sums to 0);
      // d std = d var / (2 std).
      Formula formula = [kept = make_plan(op, x.shape(), axes, true).out_shape, axes,
                         divisor = double(divisor), take_sqrt](const Tensor& g, const Inputs& in,
                                                               const Tensor& y) -> Grads {
        const Tensor deviation = in[0] - mean(in[0], axes, true);
        const Tensor factor = take_sqrt ? reshape(g / y, kept) * (1.0 / divisor)
                                        : reshape(g, kept) * (2.0 / divisor);
        return {deviation * factor};
      };
      record<T>(op, y, {x}, take_sqrt ? saves_all : saves_inputs, std::move(formula),
                [x, plan = std::move(plan), means = std::move(means), divisor, take_sqrt](
                    const xt::xarray<T>& g, const Tensor& out) {
                  // d var / d x_i = 2 (x_i - mean) / divisor (the mean's own term sums to 0);
                  // d std = d var / (2 std).
                  const T* pxv = x.value<T>().data();
                  const T* pg = g.data();
                  const T* py = out.value<T>().data();
                  xt::xarray<T> gx = array_of_shape<T>(x.shape());
                  T* pgx = gx.data();
                  walk_elements(plan, [&](std::size_t i, std::size_t o) {
                    const T scale = take_sqrt ? pg[o] / (divisor * py[o]) : T(2) * pg[o] / divisor;
                    pgx[i] = scale * (pxv[i] - means[o]);
                  });
                  accumulate_grad<T>(x, std::move(gx));
                });
    }
    return y;
  });
}

}  // namespace

Tensor var(const Tensor& x, const std::vector<int>& axes, long correction, bool keepdims) {
  return variance(op_var, x, axes, correction, keepdims, false);
}

Tensor stddev(const Tensor& x, const std::vector<int>& axes, long correction, bool keepdims) {
  return variance(op_std, x, axes, correction, keepdims, true);
}

Tensor layer_norm(const Tensor& x, const Shape& normalized_shape, const Tensor& weight,
                  const Tensor& bias, double eps) {
  const Shape sx = x.shape();
  const std::size_t k = normalized_shape.size();
  if (k == 0 || k > sx.size() || !std::equal(normalized_shape.begin(), normalized_shape.end(),
                                             sx.end() - static_cast<long>(k)))
    throw Error(fmt::format("layer_norm: input {} does not end with normalized_shape {}",
                            shape_str(sx), shape_str(normalized_shape)));
  std::vector<Tensor> inputs{x};
  for (const Tensor* t : {&weight, &bias}) {
    if (!t->defined()) continue;
    if (t->shape() != normalized_shape)
      throw Error(fmt::format("layer_norm: {} {} does not match normalized_shape {}",
                              t == &weight ? "weight" : "bias", shape_str(t->shape()),
                              shape_str(normalized_shape)));
    inputs.push_back(*t);
  }
  check_same_dtype(op_layer_norm, inputs);
  const std::size_t d = std::accumulate(normalized_shape.begin(), normalized_shape.end(),
                                        std::size_t(1), std::multiplies<>());
  const std::size_t rows = d == 0 ? 0 : x.size() / d;
  return dispatch(x.dtype(), [&](auto s) {
    using T = decltype(s);
    const T* px = x.value<T>().data();
    const T* pw = weight.defined() ? weight.value<T>().data() : nullptr;
    const T* pb = bias.defined() ? bias.value<T>().data() : nullptr;
    xt::xarray<T> out = array_of_shape<T>(sx);
    T* po = out.data();
    std::vector<T> mean(rows), rstd(rows);
    for (std::size_t r = 0; r < rows; ++r) {
      const T* row = px + r * d;
      const T m = detail::fold_values(d, T(0), [&](std::size_t j) { return row[j]; }, detail::Plus()) / T(d);
      const T v = detail::fold_values(
                      d, T(0), [&](std::size_t j) { return (row[j] - m) * (row[j] - m); },
                      detail::Plus()) / T(d);
      mean[r] = m;
      rstd[r] = T(1) / std::sqrt(v + T(eps));
      for (std::size_t j = 0; j < d; ++j) {
        const T xhat = (row[j] - m) * rstd[r];
        po[r * d + j] = (pw ? xhat * pw[j] : xhat) + (pb ? pb[j] : T(0));
      }
    }
    Tensor y(std::move(out));
    if (any_requires_grad_in(inputs)) {
      // Recomputed with ops, so that it can be differentiated again:
      // dx = rstd (dxhat - tg::mean(dxhat) - xhat tg::mean(dxhat xhat)), dxhat = g w.
      Formula formula = [k, eps, has_weight = weight.defined(), has_bias = bias.defined()](
                            const Tensor& g, const Inputs& in, const Tensor&) -> Grads {
        std::vector<int> axes;
        for (int a = -static_cast<int>(k); a < 0; ++a) axes.push_back(a);
        const Tensor centred = in[0] - tg::mean(in[0], axes, true);
        const Tensor rstd = pow(tg::mean(centred * centred, axes, true) + eps, -0.5);
        const Tensor xhat = centred * rstd;
        const Tensor dxhat = has_weight ? g * in[1] : g;
        Grads grads{in[0].requires_grad()
                        ? rstd * (dxhat - tg::mean(dxhat, axes, true) -
                                  xhat * tg::mean(dxhat * xhat, axes, true))
                        : Tensor()};
        if (has_weight)
          grads.push_back(in[1].requires_grad() ? sum_to_size(g * xhat, in[1].shape()) : Tensor());
        if (has_bias) {
          const Tensor& b = in[has_weight ? 2 : 1];
          grads.push_back(b.requires_grad() ? sum_to_size(g, b.shape()) : Tensor());
        }
        return grads;
      };
      record<T>(op_layer_norm, y, inputs, saves_inputs, std::move(formula),
                [x, weight, bias, d, rows, mean = std::move(mean),
                 rstd = std::move(rstd)](const xt::xarray<T>& g) {
                  const T* pxv = x.value<T>().data();
                  const T* pg = g.data();
                  const T* pwv = weight.defined() ? weight.value<T>().data() : nullptr;
                  T* gx = x.requires_grad() ? grad_buffer_for_add<T>(x) : nullptr;
                  T* gw = weight.requires_grad() ? grad_buffer_for_add<T>(weight) : nullptr;
                  T* gb = bias.requires_grad() ? grad_buffer_for_add<T>(bias) : nullptr;
                  std::vector<T> dxhat(d);
                  for (std::size_t r = 0; r < rows; ++r) {
                    const T* row = pxv + r * d;
                    const T* grow = pg + r * d;
                    T sum_dxhat = T(0), sum_dxhat_xhat = T(0);
                    for (std::size_t j = 0; j < d; ++j) {
                      const T xhat = (row[j] - mean[r]) * rstd[r];
                      dxhat[j] = pwv ? grow[j] * pwv[j] : grow[j];
                      sum_dxhat += dxhat[j];
                      sum_dxhat_xhat += dxhat[j] * xhat;
                      if (gw) gw[j] += grow[j] * xhat;
                      if (gb) gb[j] += grow[j];
                    }
                    if (!gx) continue;
                    // dx = rstd (dxhat - mean(dxhat) - xhat mean(dxhat xhat))
                    const T a = sum_dxhat / T(d), b = sum_dxhat_xhat / T(d);
                    for (std::size_t j = 0; j < d; ++j) {
                      const T xhat = (row[j] - mean[r]) * rstd[r];
                      gx[r * d + j] += rstd[r] * (dxhat[j] - a - xhat * b);
                    }
                  }
                });
    }
    return y;
  });
}

Tensor masked_softmax(const Tensor& x, const Tensor& mask, int axis) {
  check_same_dtype(op_masked_softmax, {x});
  if (!mask.defined()) throw Error("masked_softmax: the mask is undefined");
  const Shape sx = x.shape();
  if (broadcast_shapes(op_masked_softmax, sx, mask.shape()) != sx)
    throw Error(fmt::format("masked_softmax: mask {} does not broadcast to input {}",
                            shape_str(mask.shape()), shape_str(sx)));
  const detail::Lanes l = make_lanes(op_masked_softmax, sx, axis);
  // The mask as one flag per element of x.
  std::vector<char> masked(x.size());
  {
    const Tensor m = mask.dtype() == DType::Float64 ? mask : mask.to(DType::Float64);
    const xt::xarray<double> full = xt::broadcast(m.value<double>(), sx);
    std::transform(full.begin(), full.end(), masked.begin(), [](double v) { return v != 0.0; });
  }
  return dispatch(x.dtype(), [&](auto s) {
    using T = decltype(s);
    const T* px = x.value<T>().data();
    xt::xarray<T> out = array_of_shape<T>(sx);
    T* po = out.data();
    for_each_lane(l, [&](std::size_t, std::size_t b, auto st) {
      T m = -std::numeric_limits<T>::infinity();
      for (std::size_t k = 0; k < l.n; ++k)
        if (!masked[b + k * st]) m = std::max(m, px[b + k * st]);
      T total = T(0);
      for (std::size_t k = 0; k < l.n; ++k) {
        const std::size_t i = b + k * st;
        po[i] = masked[i] ? T(0) : std::exp(px[i] - m);
        total += po[i];
      }
      const T inv = total > T(0) ? T(1) / total : T(0);
      for (std::size_t k = 0; k < l.n; ++k) po[b + k * st] *= inv;
    });
    Tensor y(std::move(out));
    if (any_requires_grad(x)) {
      // softmax's dx = y (g - sum(g y)); masked positions have y = 0, so they get 0.
      Formula formula = [axis](const Tensor& g, const Inputs&, const Tensor& y) -> Grads {
        return {y * (g - sum(g * y, {axis}, true))};
      };
      record<T>(op_masked_softmax, y, {x}, saves_output, std::move(formula),
                [x, l](const xt::xarray<T>& g, const Tensor& out) {
        const T* py = out.value<T>().data();
        const T* pg = g.data();
        xt::xarray<T> gx = array_of_shape<T>(x.shape());
        T* pgx = gx.data();
        for_each_lane(l, [&](std::size_t, std::size_t b, auto st) {
          T dot = T(0);
          for (std::size_t k = 0; k < l.n; ++k) dot += pg[b + k * st] * py[b + k * st];
          for (std::size_t k = 0; k < l.n; ++k)
            pgx[b + k * st] = py[b + k * st] * (pg[b + k * st] - dot);
        });
        accumulate_grad<T>(x, std::move(gx));
      });
    }
    return y;
  });
}

}  // namespace tg
