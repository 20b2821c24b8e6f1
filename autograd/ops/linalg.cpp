// Matrix ops: forward and backward are BLAS calls on the arrays' buffers, no temporaries.
#include "tapegrad/autograd/ops/linalg.hpp"

#include <algorithm>
#include <numeric>

#include "tapegrad/autograd/blas.hpp"
#include "tapegrad/autograd/function.hpp"
#include "tapegrad/autograd/ops/reduction.hpp"
#include "tapegrad/autograd/ops/shape.hpp"
#include "autograd/op_registry.hpp"
#include "autograd/parameter_cache.hpp"

namespace tg {

// The names this family records on the tape (autograd/op_registry.hpp).
const OpName op_matmul{"matmul"};
const OpName op_linear{"linear"};
const OpName op_transpose{"transpose"};

namespace {

int as_int(std::size_t n) { return static_cast<int>(n); }

// The matrices of t transposed: its last two axes swapped.
Tensor swap_last_axes(const Tensor& t) {
  std::vector<std::size_t> perm(t.dim());
  std::iota(perm.begin(), perm.end(), std::size_t{0});
  std::swap(perm[perm.size() - 2], perm[perm.size() - 1]);
  return transpose(t, perm);
}

// Writes (Add false) or adds (Add true) the row-major array `src` of shape `shape`, its axes
// permuted by `perm`, into the row-major `dst`: output axis i is source axis perm[i]. Axes of
// extent 1 are dropped and output neighbours that are neighbours in the source too are merged,
// so a permutation that keeps the innermost axis copies whole rows; otherwise the output's and
// the source's innermost axes are walked in square tiles that fit in L1, so neither the strided
// reads nor the writes miss the cache on every element (bench_core: a [2048, 512] weight's
// forward and backward took 17.6 ms through xtensor's element-by-element stepper, 2.3 ms so).
template <bool Add, class T>
void permute_into(const T* src, const Shape& shape, const std::vector<std::size_t>& perm, T* dst) {
  const std::size_t nd = shape.size();
  std::vector<std::size_t> src_stride(nd);
  std::size_t total = 1;
  for (std::size_t d = nd; d-- > 0;) {
    src_stride[d] = total;
    total *= shape[d];
  }
  if (total == 0) return;
  std::vector<std::size_t> extent, stride;  // the output's axes, outermost first; source strides
  for (std::size_t i = 0; i < nd; ++i) {
    const std::size_t n = shape[perm[i]], s = src_stride[perm[i]];
    if (n == 1) continue;
    if (!extent.empty() && stride.back() == s * n) {
      extent.back() *= n;
      stride.back() = s;
    } else {
      extent.push_back(n);
      stride.push_back(s);
    }
  }
  if (extent.empty()) extent = stride = {1};
  const std::size_t k = extent.size(), last = k - 1;
  std::vector<std::size_t> dst_stride(k);
  for (std::size_t d = k, step = 1; d-- > 0; step *= extent[d]) dst_stride[d] = step;
  std::size_t unit = last;  // the source's innermost axis among the output's
  for (std::size_t d = 0; d < k; ++d)
    if (stride[d] == 1) unit = d;
  std::vector<std::size_t> outer;  // axes walked one index at a time
  for (std::size_t d = 0; d < k; ++d)
    if (d != unit && d != last) outer.push_back(d);
  auto put = [](T& to, T v) {
    if constexpr (Add)
      to += v;
    else
      to = v;
  };
  constexpr std::size_t tile = 32;
  const std::size_t rows = unit == last ? 1 : extent[unit], cols = extent[last];
  const std::size_t row_step = dst_stride[unit], col_stride = stride[last];
  std::vector<std::size_t> pos(outer.size(), 0);
  std::size_t from = 0, to = 0;
  for (std::size_t block = total / (rows * cols); block-- > 0;) {
    if (unit == last) {
      for (std::size_t j = 0; j < cols; ++j) put(dst[to + j], src[from + j]);
    } else {
      for (std::size_t i0 = 0; i0 < rows; i0 += tile)
        for (std::size_t j0 = 0; j0 < cols; j0 += tile) {
          const std::size_t i1 = std::min(i0 + tile, rows), j1 = std::min(j0 + tile, cols);
          for (std::size_t i = i0; i < i1; ++i) {
            T* out = dst + to + i * row_step;
            const T* in = src + from + i;
            for (std::size_t j = j0; j < j1; ++j) put(out[j], in[j * col_stride]);
          }
        }
    }
    for (std::size_t q = outer.size(); q-- > 0;) {
      const std::size_t d = outer[q];
      from += stride[d];
      to += dst_stride[d];
      if (++pos[q] < extent[d]) break;
      from -= stride[d] * extent[d];
      to -= dst_stride[d] * extent[d];
      pos[q] = 0;
    }
  }
}

}  // namespace

namespace {

// Which matrix of a and of b each output matrix of a batched matmul multiplies: batch axes
// broadcast as NumPy's (a missing or size-1 axis repeats).
struct BatchPlan {
  Shape out_batch;
  std::vector<std::size_t> a_index, b_index;  // per output matrix
  bool a_once = true, b_once = true;          // every matrix of a (b) used exactly once
};

BatchPlan plan_batches(const Shape& ba, const Shape& bb) {
  BatchPlan p;
  p.out_batch = broadcast_shapes(op_matmul, ba, bb);
  const std::size_t nd = p.out_batch.size();
  const std::size_t n = std::accumulate(p.out_batch.begin(), p.out_batch.end(), std::size_t(1),
                                        std::multiplies<>());
  // Strides of a's and b's batch axes aligned to the output's, 0 where broadcast.
  auto strides_of = [&](const Shape& s) {
    std::vector<std::size_t> st(nd, 0);
    std::size_t stride = 1;
    for (std::size_t d = s.size(); d-- > 0;) {
      const std::size_t od = nd - s.size() + d;
      st[od] = s[d] == 1 ? 0 : stride;
      stride *= s[d];
    }
    return st;
  };
  const auto sta = strides_of(ba), stb = strides_of(bb);
  std::vector<std::size_t> pos(nd, 0);
  for (std::size_t i = 0; i < n; ++i) {
    std::size_t ia = 0, ib = 0;
    for (std::size_t d = 0; d < nd; ++d) {
      ia += pos[d] * sta[d];
      ib += pos[d] * stb[d];
    }
    p.a_index.push_back(ia);
    p.b_index.push_back(ib);
    for (std::size_t d = nd; d-- > 0;) {
      if (++pos[d] < p.out_batch[d]) break;
      pos[d] = 0;
    }
  }
  const auto count = [](const Shape& s) {
    return std::accumulate(s.begin(), s.end(), std::size_t(1), std::multiplies<>());
  };
  p.a_once = count(ba) == n;
  p.b_once = count(bb) == n;
  return p;
}

}  // namespace

namespace {

// torch.matmul's 1-D rules: a vector operand becomes a matrix of one row (on the left) or one
// column (on the right) and that axis is dropped from the product, so the gradients are the
// reshapes' and the product's.
Tensor matmul_with_vector(const Tensor& a, const Tensor& b) {
  const Shape sa = a.shape(), sb = b.shape();
  if (sa.empty() || sb.empty())
    throw Error(fmt::format("matmul: both operands need at least 1 axis: {} x {}", shape_str(sa),
                            shape_str(sb)));
  const std::size_t k = sa.back(), kb = sb.size() == 1 ? sb[0] : sb[sb.size() - 2];
  if (k != kb)
    throw Error(fmt::format("matmul: inner dimensions differ: {} x {}", shape_str(sa),
                            shape_str(sb)));
  const long n = static_cast<long>(k);
  const Tensor a2 = sa.size() == 1 ? reshape(a, {1, n}) : a;
  const Tensor b2 = sb.size() == 1 ? reshape(b, {n, 1}) : b;
  Shape out = a2.dim() > 2 ? Shape(sa.begin(), sa.end() - 2) : Shape();
  if (b2.dim() > 2) out = Shape(sb.begin(), sb.end() - 2);  // only one operand can be 2-D+ here
  if (sa.size() > 1) out.push_back(sa[sa.size() - 2]);
  if (sb.size() > 1) out.push_back(sb.back());
  return reshape(matmul(a2, b2), out);
}

}  // namespace

Tensor matmul(const Tensor& a, const Tensor& b) {
  check_same_dtype(op_matmul, {a, b});
  const Shape sa = a.shape(), sb = b.shape();
  if (sa.size() < 2 || sb.size() < 2) return matmul_with_vector(a, b);
  const std::size_t m = sa[sa.size() - 2], k = sa.back();
  const std::size_t kb = sb[sb.size() - 2], n = sb.back();
  if (k != kb)
    throw Error(fmt::format("matmul: inner dimensions differ: {} x {}", shape_str(sa),
                            shape_str(sb)));
  const Shape ba(sa.begin(), sa.end() - 2), bb(sb.begin(), sb.end() - 2);
  if (!(ba.empty() || bb.empty()) && ba != bb) broadcast_shapes(op_matmul, ba, bb);  // throws
  // [..., M, K] x [K, N] is one product of [(...)*M, K] x [K, N].
  const bool shared_b = bb.empty();
  const BatchPlan plan = shared_b ? BatchPlan{ba, {0}, {0}, true, true} : plan_batches(ba, bb);
  const std::size_t rows =
      shared_b ? std::accumulate(ba.begin(), ba.end(), m, std::multiplies<>()) : m;

  return dispatch(a.dtype(), [&](auto s) {
    using T = decltype(s);
    Shape so = plan.out_batch;
    so.push_back(m);
    so.push_back(n);
    xt::xarray<T> out = xt::xarray<T>::from_shape(so);
    const T* pa = a.value<T>().data();
    const T* pb = b.value<T>().data();
    // Backward's products run in the precision this forward ran in (autocast.hpp).
    const blas::How how{matmul_precision()};
    // A 2-D B is one product, and when it is a parameter (h @ W) its conversion is kept.
    const auto prepared_b =
        shared_b ? parameter_cache::prepared(how.precision, b, false, false, rows, n, k, k, n,
                                             false, n)
                 : nullptr;
    for (std::size_t i = 0; i < plan.a_index.size(); ++i)
      blas::gemm<T>(false, false, as_int(rows), as_int(n), as_int(k), T(1),
                    pa + plan.a_index[i] * m * k, as_int(k), pb + plan.b_index[i] * k * n,
                    as_int(n), T(0), out.data() + i * rows * n, as_int(n),
                    {how.precision, prepared_b.get()});
    Tensor result(std::move(out));
    if (any_requires_grad(a, b)) {
      // dA = G B^T, dB = A^T G, summed over the batch axes an operand was broadcast along.
      Formula formula = [](const Tensor& g, const Inputs& in, const Tensor&) -> Grads {
        const Tensor& a = in[0];
        const Tensor& b = in[1];
        return {a.requires_grad() ? sum_to_size(matmul(g, swap_last_axes(b)), a.shape()) : Tensor(),
                b.requires_grad() ? sum_to_size(matmul(swap_last_axes(a), g), b.shape()) : Tensor()};
      };
      record<T>(op_matmul, result, {a, b}, saves_inputs, std::move(formula),
                [a, b, plan, rows, m, n, k, how, shared_b](const xt::xarray<T>& g) {
        const T* pg = g.data();
        // A matrix used by several output matrices (a broadcast batch axis) sums their
        // contributions: its buffer is zeroed once and every product adds (beta 1).
        if (a.requires_grad()) {  // dA = G B^T
          T beta;
          T* da = plan.a_once ? grad_for_accumulation<T>(a, beta) : grad_buffer_for_add<T>(a);
          if (!plan.a_once) beta = T(1);
          const T* pb = b.value<T>().data();
          const auto prepared_b =
              shared_b ? parameter_cache::prepared(how.precision, b, false, true, rows, k, n, n, n,
                                                   beta != T(0), k)
                       : nullptr;
          for (std::size_t i = 0; i < plan.a_index.size(); ++i)
            blas::gemm<T>(false, true, as_int(rows), as_int(k), as_int(n), T(1), pg + i * rows * n,
                          as_int(n), pb + plan.b_index[i] * k * n, as_int(n), beta,
                          da + plan.a_index[i] * m * k, as_int(k),
                          {how.precision, prepared_b.get()});
        }
        if (b.requires_grad()) {  // dB = A^T G
          T beta;
          T* db = plan.b_once ? grad_for_accumulation<T>(b, beta) : grad_buffer_for_add<T>(b);
          if (!plan.b_once) beta = T(1);
          const T* pa = a.value<T>().data();
          for (std::size_t i = 0; i < plan.a_index.size(); ++i)
            blas::gemm<T>(true, false, as_int(k), as_int(n), as_int(rows), T(1),
                          pa + plan.a_index[i] * m * k, as_int(k), pg + i * rows * n, as_int(n),
                          beta, db + plan.b_index[i] * k * n, as_int(n), how);
        }
      });
    }
    return result;
  });
}

Tensor linear(const Tensor& x, const Tensor& weight, const Tensor& bias) {
  const bool has_bias = bias.defined();
  check_same_dtype(op_linear, has_bias ? std::vector<Tensor>{x, weight, bias}
                                      : std::vector<Tensor>{x, weight});
  const Shape sx = x.shape(), sw = weight.shape();
  if (sw.size() != 2 || sx.empty() || sx.back() != sw[1])
    throw Error(fmt::format("linear: input {} does not match weight {} (expected [..., {}])",
                            shape_str(sx), shape_str(sw), sw.size() == 2 ? sw[1] : 0));
  if (has_bias && bias.shape() != Shape{sw[0]})
    throw Error(fmt::format("linear: bias {} does not match weight {}", shape_str(bias.shape()),
                            shape_str(sw)));
  const std::size_t in = sw[1], out_features = sw[0];
  const std::size_t rows = x.size() / in;

  return dispatch(x.dtype(), [&](auto s) {
    using T = decltype(s);
    Shape so = sx;
    so.back() = out_features;
    xt::xarray<T> out = xt::xarray<T>::from_shape(so);
    T beta = T(0);
    if (has_bias) {
      const T* pb = bias.value<T>().data();
      T* po = out.data();
      for (std::size_t r = 0; r < rows; ++r)
        std::copy(pb, pb + out_features, po + r * out_features);
      beta = T(1);
    }
    const blas::How how{matmul_precision()};  // for backward too (autocast.hpp)
    const auto prepared_weight = parameter_cache::prepared(
        how.precision, weight, false, true, rows, out_features, in, in, in, beta != T(0),
        out_features);
    blas::gemm<T>(false, true, as_int(rows), as_int(out_features), as_int(in), T(1),
                  x.value<T>().data(), as_int(in), weight.value<T>().data(), as_int(in), beta,
                  out.data(), as_int(out_features), {how.precision, prepared_weight.get()});
    Tensor result(std::move(out));
    const bool needs = has_bias ? any_requires_grad(x, weight, bias) : any_requires_grad(x, weight);
    if (needs) {
      // On [rows, features] views of x and g: dx = G W, dW = G^T x, db = column sums of G.
      Formula formula = [rows, in, out_features](const Tensor& g, const Inputs& inputs,
                                                 const Tensor&) -> Grads {
        const Tensor& x = inputs[0];
        const Tensor& w = inputs[1];
        const Tensor g2 = reshape(g, {long(rows), long(out_features)});
        Grads grads{x.requires_grad() ? reshape(matmul(g2, w), x.shape()) : Tensor(),
                    w.requires_grad() ? matmul(transpose(g2), reshape(x, {long(rows), long(in)}))
                                      : Tensor()};
        if (inputs.size() > 2 && inputs[2].requires_grad()) grads.push_back(sum(g2, {0}));
        return grads;
      };
      record<T>(op_linear, result, has_bias ? std::vector<Tensor>{x, weight, bias}
                                           : std::vector<Tensor>{x, weight},
                saves_input(0) | saves_input(1), std::move(formula),
                [x, weight, bias, rows, in, out_features, how](const xt::xarray<T>& g) {
                  const T* pg = g.data();
                  T beta;
                  if (x.requires_grad()) {  // dx = G W
                    T* dx = grad_for_accumulation<T>(x, beta);
                    const auto prepared_weight = parameter_cache::prepared(
                        how.precision, weight, false, false, rows, in, out_features, out_features,
                        in, beta != T(0), in);
                    blas::gemm<T>(false, false, as_int(rows), as_int(in), as_int(out_features),
                                  T(1), pg, as_int(out_features), weight.value<T>().data(),
                                  as_int(in), beta, dx, as_int(in),
                                  {how.precision, prepared_weight.get()});
                  }
                  if (weight.requires_grad()) {  // dW = G^T x
                    T* dw = grad_for_accumulation<T>(weight, beta);
                    blas::gemm<T>(true, false, as_int(out_features), as_int(in), as_int(rows),
                                  T(1), pg, as_int(out_features), x.value<T>().data(),
                                  as_int(in), beta, dw, as_int(in), how);
                  }
                  if (bias.requires_grad()) {  // db = column sums of G
                    T* db = grad_buffer_for_add<T>(bias);
                    for (std::size_t r = 0; r < rows; ++r)
                      for (std::size_t j = 0; j < out_features; ++j) db[j] += pg[r * out_features + j];
                  }
                });
    }
    return result;
  });
}

Tensor transpose(const Tensor& x, const std::vector<std::size_t>& perm_in) {
  const Shape sx = x.shape();
  std::vector<std::size_t> perm = perm_in;
  if (perm.empty()) {
    perm.resize(sx.size());
    std::iota(perm.rbegin(), perm.rend(), std::size_t{0});
  }
  std::vector<std::size_t> sorted = perm;
  std::sort(sorted.begin(), sorted.end());
  for (std::size_t i = 0; i < sorted.size(); ++i)
    if (sorted.size() != sx.size() || sorted[i] != i)
      throw Error(fmt::format("transpose: permutation {} does not fit shape {}", shape_str(perm),
                              shape_str(sx)));
  return dispatch(x.dtype(), [&](auto s) {
    using T = decltype(s);
    Shape out_shape(perm.size());
    for (std::size_t i = 0; i < perm.size(); ++i) out_shape[i] = sx[perm[i]];
    xt::xarray<T> out = xt::xarray<T>::from_shape(out_shape);
    permute_into<false>(x.value<T>().data(), sx, perm, out.data());
    Tensor y(std::move(out));
    if (any_requires_grad(x)) {
      std::vector<std::size_t> inverse(perm.size());
      for (std::size_t i = 0; i < perm.size(); ++i) inverse[perm[i]] = i;
      Formula formula = [inverse](const Tensor& g, const Inputs&, const Tensor&) -> Grads {
        return {transpose(g, inverse)};
      };
      record<T>(op_transpose, y, {x}, saves_nothing, std::move(formula),
                [x, inverse, out_shape](const xt::xarray<T>& g) {
        T beta;
        T* grad = grad_for_accumulation<T>(x, beta);
        if (beta == T(0))
          permute_into<false>(g.data(), out_shape, inverse, grad);
        else
          permute_into<true>(g.data(), out_shape, inverse, grad);
      });
    }
    return y;
  });
}

}  // namespace tg
