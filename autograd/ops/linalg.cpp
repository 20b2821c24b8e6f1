// Matrix ops: forward and backward are BLAS calls on the arrays' buffers, no temporaries.
#include "autograd/ops/linalg.hpp"

#include <numeric>

#include <xtensor/xmanipulation.hpp>

#include "autograd/blas.hpp"
#include "autograd/function.hpp"
#include "autograd/ops/families.hpp"

namespace tg {

namespace {

int as_int(std::size_t n) { return static_cast<int>(n); }

}  // namespace

Tensor matmul(const Tensor& a, const Tensor& b) {
  check_same_dtype("matmul", {a, b});
  const Shape sa = a.shape(), sb = b.shape();
  const bool batched = sa.size() == 3;
  const bool shared_b = batched && sb.size() == 2;  // one right-hand matrix for all batches
  if (!((sa.size() == 2 && sb.size() == 2) || (batched && (sb.size() == 2 || sb.size() == 3))))
    throw Error(fmt::format("matmul: unsupported ranks {} x {} (2-D x 2-D, 3-D x 3-D or 3-D x 2-D)",
                            shape_str(sa), shape_str(sb)));
  const std::size_t batch = batched ? sa[0] : 1;
  const std::size_t m = sa[sa.size() - 2], k = sa.back();
  const std::size_t kb = sb[sb.size() - 2], n = sb.back();
  if (k != kb)
    throw Error(fmt::format("matmul: inner dimensions differ: {} x {}", shape_str(sa),
                            shape_str(sb)));
  if (batched && !shared_b && sb[0] != batch)
    throw Error(fmt::format("matmul: batch sizes differ: {} x {}", shape_str(sa), shape_str(sb)));

  return dispatch(a.dtype(), [&](auto s) {
    using T = decltype(s);
    Shape so = batched ? Shape{batch, m, n} : Shape{m, n};
    xt::xarray<T> out = xt::xarray<T>::from_shape(so);
    const T* pa = a.value<T>().data();
    const T* pb = b.value<T>().data();
    if (shared_b) {  // [B*M,K] x [K,N]: one product
      blas::gemm<T>(false, false, as_int(batch * m), as_int(n), as_int(k), T(1), pa, as_int(k), pb,
                    as_int(n), T(0), out.data(), as_int(n));
    } else {
      for (std::size_t i = 0; i < batch; ++i)
        blas::gemm<T>(false, false, as_int(m), as_int(n), as_int(k), T(1), pa + i * m * k,
                      as_int(k), pb + i * k * n, as_int(n), T(0), out.data() + i * m * n,
                      as_int(n));
    }
    Tensor result(std::move(out));
    if (any_requires_grad(a, b)) {
      record<T>("matmul", result, {a, b}, [a, b, batch, m, n, k, shared_b](const xt::xarray<T>& g) {
        const T* pg = g.data();
        if (a.requires_grad()) {  // dA = G B^T
          T beta;
          T* da = grad_for_accumulation<T>(a, beta);
          const T* pb = b.value<T>().data();
          if (shared_b) {
            blas::gemm<T>(false, true, as_int(batch * m), as_int(k), as_int(n), T(1), pg,
                          as_int(n), pb, as_int(n), beta, da, as_int(k));
          } else {
            for (std::size_t i = 0; i < batch; ++i)
              blas::gemm<T>(false, true, as_int(m), as_int(k), as_int(n), T(1), pg + i * m * n,
                            as_int(n), pb + i * k * n, as_int(n), beta, da + i * m * k,
                            as_int(k));
          }
        }
        if (b.requires_grad()) {  // dB = A^T G
          T beta;
          T* db = grad_for_accumulation<T>(b, beta);
          const T* pa = a.value<T>().data();
          if (shared_b) {
            blas::gemm<T>(true, false, as_int(k), as_int(n), as_int(batch * m), T(1), pa,
                          as_int(k), pg, as_int(n), beta, db, as_int(n));
          } else {
            for (std::size_t i = 0; i < batch; ++i)
              blas::gemm<T>(true, false, as_int(k), as_int(n), as_int(m), T(1), pa + i * m * k,
                            as_int(k), pg + i * m * n, as_int(n), beta, db + i * k * n,
                            as_int(n));
          }
        }
      });
    }
    return result;
  });
}

Tensor linear(const Tensor& x, const Tensor& weight, const Tensor& bias) {
  const bool has_bias = bias.defined();
  check_same_dtype("linear", has_bias ? std::vector<Tensor>{x, weight, bias}
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
    blas::gemm<T>(false, true, as_int(rows), as_int(out_features), as_int(in), T(1),
                  x.value<T>().data(), as_int(in), weight.value<T>().data(), as_int(in), beta,
                  out.data(), as_int(out_features));
    Tensor result(std::move(out));
    const bool needs = has_bias ? any_requires_grad(x, weight, bias) : any_requires_grad(x, weight);
    if (needs) {
      record<T>("linear", result, has_bias ? std::vector<Tensor>{x, weight, bias}
                                           : std::vector<Tensor>{x, weight},
                [x, weight, bias, rows, in, out_features](const xt::xarray<T>& g) {
                  const T* pg = g.data();
                  T beta;
                  if (x.requires_grad()) {  // dx = G W
                    T* dx = grad_for_accumulation<T>(x, beta);
                    blas::gemm<T>(false, false, as_int(rows), as_int(in), as_int(out_features),
                                  T(1), pg, as_int(out_features), weight.value<T>().data(),
                                  as_int(in), beta, dx, as_int(in));
                  }
                  if (weight.requires_grad()) {  // dW = G^T x
                    T* dw = grad_for_accumulation<T>(weight, beta);
                    blas::gemm<T>(true, false, as_int(out_features), as_int(in), as_int(rows),
                                  T(1), pg, as_int(out_features), x.value<T>().data(),
                                  as_int(in), beta, dw, as_int(in));
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
    Tensor y(xt::xarray<T>(xt::transpose(x.value<T>(), perm)));
    if (any_requires_grad(x)) {
      std::vector<std::size_t> inverse(perm.size());
      for (std::size_t i = 0; i < perm.size(); ++i) inverse[perm[i]] = i;
      record<T>("transpose", y, {x}, [x, inverse](const xt::xarray<T>& g) {
        accumulate_grad<T>(x, xt::xarray<T>(xt::transpose(g, inverse)));
      });
    }
    return y;
  });
}

void add_linalg_cases(std::vector<GradcheckCase>& cases) {
  auto mm = [](const std::vector<Tensor>& in) { return matmul(in[0], in[1]); };
  cases.push_back({"matmul", "2-D", {{3, 4}, {4, 5}}, mm});
  cases.push_back({"matmul", "2-D with size-1 axes", {{1, 4}, {4, 1}}, mm});
  cases.push_back({"matmul", "batched 3-D", {{2, 3, 4}, {2, 4, 2}}, mm});
  cases.push_back({"matmul", "3-D x shared 2-D", {{2, 3, 4}, {4, 5}}, mm});
  cases.push_back({"linear", "with bias", {{3, 4}, {5, 4}, {5}},
                   [](const std::vector<Tensor>& in) { return linear(in[0], in[1], in[2]); }});
  cases.push_back({"linear", "3-D input, no bias", {{2, 3, 4}, {2, 4}},
                   [](const std::vector<Tensor>& in) { return linear(in[0], in[1]); }});
  cases.push_back({"transpose", "2-D default", {{3, 4}},
                   [](const std::vector<Tensor>& in) { return transpose(in[0]); }});
  cases.push_back({"transpose", "3-D permutation", {{2, 3, 4}},
                   [](const std::vector<Tensor>& in) { return transpose(in[0], {1, 2, 0}); }});
}

}  // namespace tg
