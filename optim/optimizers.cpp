// Update rules of SGD, Adam/AdamW, RMSprop and Adagrad as raw loops over the value arrays.
//
// Each loop follows PyTorch 1.13's _single_tensor_<name> (the CPU default) operation by operation:
// scalar coefficients are computed in double as Python computes them, then rounded to the
// parameter's dtype, as ATen does with Python scalars; x.add_(y, alpha=a) is fma(a, y, x), and
// addcmul / addcdiv with value v are fma(v*y, z, x) and x + (v*y)/z (see madd).
#include "tapegrad/optim/optimizers.hpp"

#include <fmt/format.h>

#include <array>
#include <cmath>
#include <type_traits>

#include "tapegrad/autograd/function.hpp"

namespace tg::optim {

namespace {

// The raw arrays of one update: parameter, gradient, and the state's buffers.
template <class T>
struct Arrays {
  T* p;
  const T* g;
  std::size_t n;
  std::array<T*, 3> buf;
};

template <class T>
Arrays<T> arrays_of(const Tensor& param, ParamState& state) {
  // The step writes the parameter: a graph recorded before it cannot be back-propagated after.
  ++param.impl().version;
  auto& a = param.impl().get<T>();
  Arrays<T> out{a.value.data(), a.grad.data(), a.value.size(), {}};
  for (std::size_t b = 0; b < state.buffers.size() && b < out.buf.size(); ++b)
    out.buf[b] = state.buffers[b].mutable_value<T>().data();
  return out;
}

// Calls f with the parameter's arrays in its dtype.
template <class F>
void with_arrays(const Tensor& param, ParamState& state, F&& f) {
  dispatch(param.dtype(), [&](auto s) {
    using T = decltype(s);
    f(arrays_of<T>(param, state));
  });
}

// a * b + c. ATen's vectorized kernels fuse x.add_(y, alpha) (vec::fmadd) and addcmul's final
// add; so do we where the CPU has FMA, which makes float32 results equal PyTorch's bit for bit.
template <class T>
T madd(T a, T b, T c) {
#ifdef __FMA__
  return std::fma(a, b, c);
#else
  return a * b + c;
#endif
}

// Calls f with each run-time flag as std::true_type / std::false_type, so that every option
// combination gets its own branch-free loop: GCC does not unswitch the Adam and RMSprop loops
// by itself, and with the branches inside they stay scalar (measured 20x slower).
template <class F>
void with_flags(F&& f) {
  f();
}
template <class F, class... Flags>
void with_flags(F&& f, bool flag, Flags... rest) {
  if (flag)
    with_flags([&](auto... c) { f(std::true_type{}, c...); }, rest...);
  else
    with_flags([&](auto... c) { f(std::false_type{}, c...); }, rest...);
}

// torch.maximum: NaN wins.
template <class T>
T nan_max(T a, T b) {
  return (std::isnan(a) || a > b) ? a : b;
}

std::vector<std::string> sgd_buffers(const SGDOptions& o) {
  if (o.momentum != 0) return {"momentum_buffer"};
  return {};
}

std::vector<std::string> adam_buffers(const AdamOptions& o) {
  if (o.amsgrad) return {"exp_avg", "exp_avg_sq", "max_exp_avg_sq"};
  return {"exp_avg", "exp_avg_sq"};
}

std::vector<std::string> rmsprop_buffers(const RMSpropOptions& o) {
  std::vector<std::string> names{"square_avg"};
  if (o.momentum > 0) names.push_back("momentum_buffer");
  if (o.centered) names.push_back("grad_avg");
  return names;
}

AdamOptions to_adam(const AdamWOptions& o) {
  return AdamOptions{o.lr, o.betas, o.eps, o.weight_decay, o.amsgrad};
}

}  // namespace

// ---- SGD ----------------------------------------------------------------------------------

SGD::SGD(ParamList params, const SGDOptions& options)
    : SGD(single_group(std::move(params)), options) {}

SGD::SGD(std::vector<ParamGroupSpec> groups, const SGDOptions& options)
    : Optimizer("SGD", std::move(groups), options.lr, options.weight_decay, sgd_buffers(options)),
      options_(options) {
  if (!(options.momentum >= 0)) fail(fmt::format("invalid momentum value: {}", options.momentum));
  if (options.nesterov && (options.momentum <= 0 || options.dampening != 0))
    fail("Nesterov momentum requires a momentum and zero dampening");
}

void SGD::update(const ParamGroup& group, const Tensor& param, ParamState& state) {
  const SGDOptions& o = options_;
  with_arrays(param, state, [&](auto a) {
    using T = std::remove_pointer_t<decltype(a.p)>;
    const T wd = T(group.weight_decay), neg_lr = T(-group.lr);
    const T momentum = T(o.momentum), keep = T(1 - o.dampening);
    T* buf = a.buf[0];
    // first: PyTorch's momentum_buffer is None, and becomes the (undamped) step direction.
    with_flags([&](auto decay, auto use_momentum, auto first, auto nesterov) {
      for (std::size_t i = 0; i < a.n; ++i) {
        T d = a.g[i];
        if constexpr (decltype(decay)::value) d = madd(wd, a.p[i], d);
        if constexpr (decltype(use_momentum)::value) {
          T b = d;
          if constexpr (!decltype(first)::value) b = madd(keep, d, buf[i] * momentum);
          buf[i] = b;
          if constexpr (decltype(nesterov)::value)
            d = madd(momentum, b, d);
          else
            d = b;
        }
        a.p[i] = madd(neg_lr, d, a.p[i]);
      }
    }, group.weight_decay != 0, o.momentum != 0, state.step == 1, o.nesterov);
  });
}

// ---- Adam / AdamW ---------------------------------------------------------------------------

Adam::Adam(ParamList params, const AdamOptions& options)
    : Adam("Adam", single_group(std::move(params)), options, false) {}

Adam::Adam(std::vector<ParamGroupSpec> groups, const AdamOptions& options)
    : Adam("Adam", std::move(groups), options, false) {}

Adam::Adam(const char* type_name, std::vector<ParamGroupSpec> groups, const AdamOptions& options,
           bool decoupled_weight_decay)
    : Optimizer(type_name, std::move(groups), options.lr, options.weight_decay,
                adam_buffers(options)),
      options_(options),
      decoupled_(decoupled_weight_decay) {
  if (!(options.eps >= 0)) fail(fmt::format("invalid epsilon value: {}", options.eps));
  if (!(options.betas.first >= 0 && options.betas.first < 1))
    fail(fmt::format("invalid beta parameter at index 0: {}", options.betas.first));
  if (!(options.betas.second >= 0 && options.betas.second < 1))
    fail(fmt::format("invalid beta parameter at index 1: {}", options.betas.second));
}

AdamW::AdamW(ParamList params, const AdamWOptions& options)
    : Adam("AdamW", single_group(std::move(params)), to_adam(options), true) {}

AdamW::AdamW(std::vector<ParamGroupSpec> groups, const AdamWOptions& options)
    : Adam("AdamW", std::move(groups), to_adam(options), true) {}

void Adam::update(const ParamGroup& group, const Tensor& param, ParamState& state) {
  const AdamOptions& o = options_;
  const double beta1 = o.betas.first, beta2 = o.betas.second;
  const double step = static_cast<double>(state.step);
  const double bias_correction1 = 1 - std::pow(beta1, step);
  const double bias_correction2 = 1 - std::pow(beta2, step);
  const double step_size = group.lr / bias_correction1;
  with_arrays(param, state, [&](auto a) {
    using T = std::remove_pointer_t<decltype(a.p)>;
    const T b1 = T(beta1), b2 = T(beta2), one_minus_b1 = T(1 - beta1), one_minus_b2 = T(1 - beta2);
    const T bc2_sqrt = T(std::sqrt(bias_correction2)), neg_step = T(-step_size), eps = T(o.eps);
    const T wd = T(group.weight_decay), shrink = T(1 - group.lr * group.weight_decay);
    T* exp_avg = a.buf[0];
    T* exp_avg_sq = a.buf[1];
    T* max_sq = a.buf[2];
    with_flags([&](auto decoupled, auto l2, auto amsgrad) {
      for (std::size_t i = 0; i < a.n; ++i) {
        T p = a.p[i];
        T g = a.g[i];
        // AdamW: param.mul_(1 - lr * weight_decay), even when weight_decay is 0.
        if constexpr (decltype(decoupled)::value) p = p * shrink;
        if constexpr (decltype(l2)::value) g = madd(wd, p, g);
        const T m = madd(one_minus_b1, g, exp_avg[i] * b1);
        T v = madd(one_minus_b2 * g, g, exp_avg_sq[i] * b2);
        exp_avg[i] = m;
        exp_avg_sq[i] = v;
        if constexpr (decltype(amsgrad)::value) v = max_sq[i] = nan_max(v, max_sq[i]);
        const T denom = std::sqrt(v) / bc2_sqrt + eps;
        a.p[i] = p + neg_step * m / denom;
      }
    }, decoupled_, !decoupled_ && group.weight_decay != 0, o.amsgrad);
  });
}

// ---- RMSprop ------------------------------------------------------------------------------

RMSprop::RMSprop(ParamList params, const RMSpropOptions& options)
    : RMSprop(single_group(std::move(params)), options) {}

RMSprop::RMSprop(std::vector<ParamGroupSpec> groups, const RMSpropOptions& options)
    : Optimizer("RMSprop", std::move(groups), options.lr, options.weight_decay,
                rmsprop_buffers(options)),
      options_(options) {
  if (!(options.eps >= 0)) fail(fmt::format("invalid epsilon value: {}", options.eps));
  if (!(options.momentum >= 0)) fail(fmt::format("invalid momentum value: {}", options.momentum));
  if (!(options.alpha >= 0)) fail(fmt::format("invalid alpha value: {}", options.alpha));
}

void RMSprop::update(const ParamGroup& group, const Tensor& param, ParamState& state) {
  const RMSpropOptions& o = options_;
  const bool use_momentum = o.momentum > 0;
  with_arrays(param, state, [&](auto a) {
    using T = std::remove_pointer_t<decltype(a.p)>;
    const T alpha = T(o.alpha), one_minus_alpha = T(1 - o.alpha), eps = T(o.eps);
    const T wd = T(group.weight_decay), momentum = T(o.momentum), neg_lr = T(-group.lr);
    T* square_avg = a.buf[0];
    T* momentum_buffer = use_momentum ? a.buf[1] : nullptr;
    T* grad_avg = o.centered ? a.buf[use_momentum ? 2 : 1] : nullptr;
    with_flags([&](auto decay, auto centered, auto with_momentum) {
      for (std::size_t i = 0; i < a.n; ++i) {
        T g = a.g[i];
        if constexpr (decltype(decay)::value) g = madd(wd, a.p[i], g);
        const T sq = madd(one_minus_alpha * g, g, square_avg[i] * alpha);
        square_avg[i] = sq;
        T avg;
        if constexpr (decltype(centered)::value) {
          const T ga = madd(one_minus_alpha, g, grad_avg[i] * alpha);
          grad_avg[i] = ga;
          avg = std::sqrt(madd(T(-1) * ga, ga, sq));
        } else {
          avg = std::sqrt(sq);
        }
        avg = avg + eps;
        if constexpr (decltype(with_momentum)::value) {
          const T b = momentum_buffer[i] * momentum + g / avg;
          momentum_buffer[i] = b;
          a.p[i] = madd(neg_lr, b, a.p[i]);
        } else {
          a.p[i] = a.p[i] + neg_lr * g / avg;
        }
      }
    }, group.weight_decay != 0, o.centered, use_momentum);
  });
}

// ---- Adagrad ------------------------------------------------------------------------------

Adagrad::Adagrad(ParamList params, const AdagradOptions& options)
    : Adagrad(single_group(std::move(params)), options) {}

Adagrad::Adagrad(std::vector<ParamGroupSpec> groups, const AdagradOptions& options)
    : Optimizer("Adagrad", std::move(groups), options.lr, options.weight_decay, {"sum"}),
      options_(options) {
  if (!(options.lr_decay >= 0)) fail(fmt::format("invalid lr_decay value: {}", options.lr_decay));
  if (!(options.initial_accumulator_value >= 0))
    fail(fmt::format("invalid initial_accumulator_value value: {}",
                     options.initial_accumulator_value));
  if (!(options.eps >= 0)) fail(fmt::format("invalid epsilon value: {}", options.eps));
}

double Adagrad::initial_buffer_value(std::size_t) const {
  return options_.initial_accumulator_value;
}

void Adagrad::update(const ParamGroup& group, const Tensor& param, ParamState& state) {
  const double clr =
      group.lr / (1 + (static_cast<double>(state.step) - 1) * options_.lr_decay);
  with_arrays(param, state, [&](auto a) {
    using T = std::remove_pointer_t<decltype(a.p)>;
    const T wd = T(group.weight_decay), neg_clr = T(-clr), eps = T(options_.eps);
    T* sum = a.buf[0];
    with_flags([&](auto decay) {
      for (std::size_t i = 0; i < a.n; ++i) {
        T g = a.g[i];
        if constexpr (decltype(decay)::value) g = madd(wd, a.p[i], g);
        const T s = madd(T(1) * g, g, sum[i]);
        sum[i] = s;
        a.p[i] = a.p[i] + neg_clr * g / (std::sqrt(s) + eps);
      }
    }, group.weight_decay != 0);
  });
}

}  // namespace tg::optim
