// Losses and dropout: forward and backward side by side.
#include "tapegrad/autograd/ops/loss.hpp"

#include <cmath>
#include <memory>

#include <xtensor/xoperation.hpp>

#include "tapegrad/autograd/function.hpp"
#include "tapegrad/autograd/ops/elementwise.hpp"
#include "autograd/op_registry.hpp"
#include "autograd/ops/fold.hpp"
#include "tapegrad/autograd/ops/reduction.hpp"
#include "tapegrad/autograd/ops/shape.hpp"

namespace tg {

// The names this family records on the tape (autograd/op_registry.hpp).
const OpName op_cross_entropy{"cross_entropy"};
const OpName op_nll_loss{"nll_loss"};
const OpName op_mse_loss{"mse_loss"};
const OpName op_dropout{"dropout"};

namespace {

// Checks a classification loss's arguments: input [N, C], N targets in [0, C) or ignore_index,
// class weights [C] of the input's dtype.
void check_classification(const char* op, const Tensor& input, const Indices& targets,
                          const CrossEntropyOptions& options) {
  check_same_dtype(op, {input});
  const Shape s = input.shape();
  if (s.size() != 2)
    throw Error(fmt::format("{}: input must be [N, C], got {}", op, shape_str(s)));
  const std::size_t n = s[0], classes = s[1];
  if (targets.shape.size() != 1 || targets.size() != n)
    throw Error(fmt::format("{}: targets of shape {} for input {} (expected [{}])", op,
                            shape_str(targets.shape), shape_str(s), n));
  for (std::size_t i = 0; i < n; ++i) {
    const std::int64_t t = targets[i];
    if (t != options.ignore_index && (t < 0 || static_cast<std::size_t>(t) >= classes))
      throw Error(fmt::format("{}: target {} (row {}) out of range for C = {} classes (input {})",
                              op, t, i, classes, shape_str(s)));
  }
  if (options.weight.defined()) {
    check_same_dtype(op, {input, options.weight});
    if (options.weight.shape() != Shape{classes})
      throw Error(fmt::format("{}: class weight of shape {} for input {} (expected [{}])", op,
                              shape_str(options.weight.shape()), shape_str(s), classes));
  }
}

// What the backward of cross_entropy and nll_loss needs besides the output gradient: the
// targets, each row's weight w_i (weight[y_i], 1 without class weights, 0 for ignored rows) and
// the mean's denominator sum(w_i), as PyTorch defines the weighted mean.
template <class T>
struct RowWeights {
  std::vector<std::int64_t> targets;
  std::vector<T> w;
  T denominator = T(0);
  std::size_t classes = 0;
  Reduction reduction = Reduction::Mean;
};

template <class T>
std::shared_ptr<const RowWeights<T>> row_weights(const Indices& targets, std::size_t classes,
                                                 const CrossEntropyOptions& options) {
  auto rw = std::make_shared<RowWeights<T>>();
  rw->targets = targets.data;
  rw->classes = classes;
  rw->reduction = options.reduction;
  const T* cw = options.weight.defined() ? options.weight.value<T>().data() : nullptr;
  rw->w.resize(targets.size());
  for (std::size_t i = 0; i < targets.size(); ++i) {
    const std::int64_t t = targets[i];
    rw->w[i] = t == options.ignore_index ? T(0) : cw ? cw[t] : T(1);
    rw->denominator += rw->w[i];
  }
  return rw;
}

// The loss from log-probabilities lp [N, C]: l_i = -w_i lp[i, y_i], reduced. Rows of weight 0
// (ignored) are skipped: their target may not even be a class. A mean over no weight is NaN,
// as in PyTorch.
template <class T>
xt::xarray<T> nll_forward(const T* lp, const RowWeights<T>& rw) {
  const std::size_t n = rw.w.size();
  auto row_loss = [&](std::size_t i) {
    return rw.w[i] == T(0) ? T(0)
                           : -rw.w[i] * lp[i * rw.classes + static_cast<std::size_t>(rw.targets[i])];
  };
  if (rw.reduction == Reduction::None) {
    xt::xarray<T> out = xt::xarray<T>::from_shape(Shape{n});
    for (std::size_t i = 0; i < n; ++i) out.data()[i] = row_loss(i);
    return out;
  }
  T total = T(0);
  for (std::size_t i = 0; i < n; ++i) total += row_loss(i);
  if (rw.reduction == Reduction::Mean) total /= rw.denominator;
  xt::xarray<T> out = xt::xarray<T>::from_shape(Shape{});
  *out.data() = total;
  return out;
}

// d loss / d l_i for each row, times w_i: the factor every backward of the family applies.
template <class T>
std::vector<T> row_scales(const xt::xarray<T>& g, const RowWeights<T>& rw) {
  std::vector<T> scale(rw.w.size());
  for (std::size_t i = 0; i < scale.size(); ++i) {
    if (rw.w[i] == T(0)) {  // also keeps an all-ignored mean's NaN out of the gradient
      scale[i] = T(0);
    } else if (rw.reduction == Reduction::None) {
      scale[i] = g.data()[i] * rw.w[i];
    } else {
      scale[i] = *g.data() * rw.w[i] /
                 (rw.reduction == Reduction::Mean ? rw.denominator : T(1));
    }
  }
  return scale;
}

// The formulas' constants for cross_entropy and nll_loss: one_hot(y) [N, C] and each row's
// factor w_i [/ denominator] as [N, 1] (0 for ignored rows).
template <class T>
std::pair<Tensor, Tensor> target_constants(const RowWeights<T>& rw) {
  const std::size_t n = rw.w.size();
  xt::xarray<T> one_hot = xt::zeros<T>(Shape{n, rw.classes});
  xt::xarray<T> factor = xt::zeros<T>(Shape{n, 1});
  for (std::size_t i = 0; i < n; ++i) {
    if (rw.w[i] == T(0)) continue;
    one_hot.data()[i * rw.classes + static_cast<std::size_t>(rw.targets[i])] = T(1);
    factor.data()[i] = rw.w[i] / (rw.reduction == Reduction::Mean ? rw.denominator : T(1));
  }
  return {Tensor(std::move(one_hot)), Tensor(std::move(factor))};
}

// The output gradient as a factor per row: [N, 1] without reduction, the scalar otherwise.
Tensor per_row(const Tensor& g, Reduction reduction) {
  return reduction == Reduction::None ? reshape(g, {-1, 1}) : g;
}

// SplitMix64's output function (Steele, Lea, Flood 2014): a bijective mix of a 64-bit counter.
std::uint64_t splitmix64(std::uint64_t z) {
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

}  // namespace

Tensor cross_entropy(const Tensor& logits, const Indices& targets,
                     const CrossEntropyOptions& options) {
  check_classification(op_cross_entropy, logits, targets, options);
  const std::size_t classes = logits.shape()[1];
  // The stable log-probabilities come from log_softmax, unrecorded: this op's node is the only
  // one on the tape, and its backward needs only their exponentials.
  Tensor log_probs;
  {
    NoGradGuard no_grad;
    log_probs = log_softmax(logits, 1);
  }
  return dispatch(logits.dtype(), [&](auto s) {
    using T = decltype(s);
    auto rw = row_weights<T>(targets, classes, options);
    Tensor loss(nll_forward<T>(log_probs.value<T>().data(), *rw));
    if (any_requires_grad(logits)) {
      // dlogits = (softmax - one_hot(y)) * w_i / denominator, row by row.
      Formula formula = [constants = target_constants(*rw), reduction = options.reduction](
                            const Tensor& g, const Inputs& in, const Tensor&) -> Grads {
        const auto& [one_hot, factor] = constants;
        return {(softmax(in[0], 1) - one_hot) * (factor * per_row(g, reduction))};
      };
      record<T>(op_cross_entropy, loss, {logits}, saves_input(0), std::move(formula),
                [logits, log_probs, rw](const xt::xarray<T>& g) {
        const std::vector<T> scale = row_scales(g, *rw);
        xt::xarray<T> d = xt::exp(log_probs.value<T>());
        T* pd = d.data();
        const std::size_t c = rw->classes;
        for (std::size_t i = 0; i < scale.size(); ++i) {
          T* row = pd + i * c;
          const T si = scale[i];
          if (si == T(0)) {
            std::fill(row, row + c, T(0));
            continue;
          }
          for (std::size_t j = 0; j < c; ++j) row[j] *= si;
          row[rw->targets[i]] -= si;
        }
        accumulate_grad<T>(logits, std::move(d));
      });
    }
    return loss;
  });
}

Tensor nll_loss(const Tensor& log_probs, const Indices& targets,
                const CrossEntropyOptions& options) {
  check_classification(op_nll_loss, log_probs, targets, options);
  const std::size_t classes = log_probs.shape()[1];
  return dispatch(log_probs.dtype(), [&](auto s) {
    using T = decltype(s);
    auto rw = row_weights<T>(targets, classes, options);
    Tensor loss(nll_forward<T>(log_probs.value<T>().data(), *rw));
    if (any_requires_grad(log_probs)) {
      // Only each row's target entry has a gradient: -w_i / denominator.
      Formula formula = [constants = target_constants(*rw), reduction = options.reduction](
                            const Tensor& g, const Inputs&, const Tensor&) -> Grads {
        const auto& [one_hot, factor] = constants;
        return {-one_hot * (factor * per_row(g, reduction))};
      };
      record<T>(op_nll_loss, loss, {log_probs}, saves_nothing, std::move(formula),
                [log_probs, rw](const xt::xarray<T>& g) {
        const std::vector<T> scale = row_scales(g, *rw);
        xt::xarray<T> d = xt::zeros<T>(log_probs.value<T>().shape());
        for (std::size_t i = 0; i < scale.size(); ++i)
          if (scale[i] != T(0)) d.data()[i * rw->classes + rw->targets[i]] = -scale[i];
        accumulate_grad<T>(log_probs, std::move(d));
      });
    }
    return loss;
  });
}

Tensor mse_loss(const Tensor& prediction, const Tensor& target, Reduction reduction) {
  check_same_dtype(op_mse_loss, {prediction, target});
  const Shape sp = prediction.shape(), st = target.shape();
  if (sp != st) broadcast_shapes(op_mse_loss, sp, st);
  return dispatch(prediction.dtype(), [&](auto s) {
    using T = decltype(s);
    xt::xarray<T> diff = prediction.value<T>() - target.value<T>();
    const std::size_t n = diff.size();
    xt::xarray<T> out;
    if (reduction == Reduction::None) {
      out = diff * diff;
    } else {
      const T* pd = diff.data();
      T total = detail::fold_values(n, T(0), [pd](std::size_t i) { return pd[i] * pd[i]; },
                                    detail::Plus());
      if (reduction == Reduction::Mean) total /= T(n);
      out = xt::xarray<T>::from_shape(Shape{});
      *out.data() = total;
    }
    Tensor loss(std::move(out));
    if (any_requires_grad(prediction, target)) {
      // d/dprediction = 2 (prediction - target) g [/ n]; the target's is its negative. The lazy
      // expressions are evaluated straight into the gradients unless broadcasting must be undone.
      Formula formula = [reduction, n](const Tensor& g, const Inputs& in, const Tensor&) -> Grads {
        const double scale = reduction == Reduction::Mean ? 2.0 / double(n) : 2.0;
        const Tensor d = (in[0] - in[1]) * (g * scale);
        return {in[0].requires_grad() ? sum_to_size(d, in[0].shape()) : Tensor(),
                in[1].requires_grad() ? sum_to_size(-d, in[1].shape()) : Tensor()};
      };
      record<T>(op_mse_loss, loss, {prediction, target}, saves_inputs, std::move(formula),
                [prediction, target, reduction, n, diff = std::move(diff)](const xt::xarray<T>& g) {
                  auto give = [&](const Tensor& t, const auto& grad) {
                    if (!t.requires_grad()) return;
                    if (t.value<T>().shape() == diff.shape())
                      accumulate_grad<T>(t, grad);
                    else
                      accumulate_grad_reduced<T>(t, xt::xarray<T>(grad));
                  };
                  if (reduction == Reduction::None) {
                    give(prediction, T(2) * g * diff);
                    give(target, T(-2) * g * diff);
                  } else {
                    const T factor =
                        T(2) * *g.data() / (reduction == Reduction::Mean ? T(n) : T(1));
                    give(prediction, factor * diff);
                    give(target, -factor * diff);
                  }
                });
    }
    return loss;
  });
}

Tensor dropout(const Tensor& x, double p, bool training, Generator& gen) {
  check_same_dtype(op_dropout, {x});
  if (!(p >= 0.0 && p < 1.0))
    throw Error(fmt::format("dropout: probability {} not in [0, 1) (input {})", p,
                            shape_str(x.shape())));
  if (!training || p == 0.0) return x;
  return dispatch(x.dtype(), [&](auto s) {
    using T = decltype(s);
    const auto& xv = x.value<T>();
    // The mask holds 0 or 1/(1-p). One draw from the generator keys a SplitMix64 stream, whose
    // k-th value depends on k alone: the loop has no sequential state and vectorises (~0.3 ns
    // per element against ~2 ns for a mt19937_64 draw per pair). Each 64-bit value decides two
    // elements, p resolved to 2^-32; multiplying by the comparison avoids unpredictable branches.
    xt::xarray<T> mask = xt::xarray<T>::from_shape(Shape(xv.shape().begin(), xv.shape().end()));
    const T scale = static_cast<T>(1.0 / (1.0 - p));
    const std::uint64_t threshold = static_cast<std::uint64_t>(p * 4294967296.0);
    const std::uint64_t key = gen.next_u64();
    auto draw = [key](std::size_t k) { return splitmix64(key + (k + 1) * 0x9e3779b97f4a7c15ULL); };
    auto keep = [threshold, scale](std::uint64_t bits) {
      return scale * static_cast<T>((bits & 0xffffffffu) >= threshold);
    };
    T* pm = mask.data();
    const std::size_t n = mask.size();
    for (std::size_t k = 0; k < n / 2; ++k) {
      const std::uint64_t r = draw(k);
      pm[2 * k] = keep(r);
      pm[2 * k + 1] = keep(r >> 32);
    }
    if (n % 2) pm[n - 1] = keep(draw(n / 2));
    Tensor y(xt::xarray<T>(xv * mask));
    if (any_requires_grad(x)) {
      Formula formula = [kept = Tensor(xt::xarray<T>(mask))](const Tensor& g, const Inputs&,
                                                           const Tensor&) -> Grads {
        return {g * kept};
      };
      record<T>(op_dropout, y, {x}, saves_nothing, std::move(formula),
                [x, mask = std::move(mask)](const xt::xarray<T>& g) {
        accumulate_grad<T>(x, g * mask);
      });
    }
    return y;
  });
}

}  // namespace tg
