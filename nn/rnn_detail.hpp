// Internal helpers shared by the recurrent ops (not part of the public API).
#pragma once

#include <fmt/format.h>

#include <algorithm>
#include <initializer_list>
#include <memory>
#include <vector>

#include "tapegrad/autograd/blas.hpp"
#include "tapegrad/autograd/function.hpp"
#include "nn/rnn_kernels.hpp"

namespace tg::nn::detail {

inline int as_int(std::size_t n) { return static_cast<int>(n); }

// The products below take `how` (precision, prepared weights; blas.hpp): the op records its
// forward's precision and hands the same to its backward.

// c[m, n] = a[m, k] w[n, k]^T + beta c, with a matrix-vector kernel for a single row (float32
// in any precision: as fast as bf16 there).
template <class T>
void times_transposed(std::size_t m, std::size_t n, std::size_t k, const T* a, std::size_t lda,
                      const T* w, T beta, T* c, std::size_t ldc, const blas::How& how) {
  if (m == 1) {
    row_times_transposed(a, w, n, k, c, beta != T(0));
    return;
  }
  blas::gemm<T>(false, true, as_int(m), as_int(n), as_int(k), T(1), a, as_int(lda), w, as_int(k),
                beta, c, as_int(ldc), how);
}

// The weights w of times_transposed prepared once for many products of that shape (null when
// the product does not use preparation).
template <class T>
std::shared_ptr<const blas::PreparedB> prepare_times_transposed(
    std::size_t m, std::size_t n, std::size_t k, std::size_t lda, const T* w, T beta,
    std::size_t ldc, MatmulPrecision precision) {
  if (m == 1) return nullptr;
  return blas::prepare_b<T>(precision, false, true, as_int(m), as_int(n), as_int(k), as_int(lda),
                            w, as_int(k), beta, as_int(ldc));
}

// c[m, n] = a[m, k] w[k, n] + beta c (beta 0 or 1), with a vector-matrix kernel for a single
// row (BLAS packs all of w for one row).
template <class T>
void times(std::size_t m, std::size_t n, std::size_t k, const T* a, std::size_t lda, const T* w,
           T beta, T* c, std::size_t ldc, const blas::How& how) {
  if (m == 1) {
    row_times(a, w, k, n, n, c, beta != T(0));
    return;
  }
  blas::gemm<T>(false, false, as_int(m), as_int(n), as_int(k), T(1), a, as_int(lda), w, as_int(n),
                beta, c, as_int(ldc), how);
}

// The weights w of times prepared once (see prepare_times_transposed).
template <class T>
std::shared_ptr<const blas::PreparedB> prepare_times(std::size_t m, std::size_t n, std::size_t k,
                                                     std::size_t lda, const T* w, T beta,
                                                     std::size_t ldc, MatmulPrecision precision) {
  if (m == 1) return nullptr;
  return blas::prepare_b<T>(precision, false, false, as_int(m), as_int(n), as_int(k), as_int(lda),
                            w, as_int(n), beta, as_int(ldc));
}

// grad(w) += a[rows, :]^T b[rows, :], the weight gradient of a product.
template <class T>
void add_weight_grad(const Tensor& w, std::size_t m, std::size_t n, std::size_t rows, const T* a,
                     std::size_t lda, const T* b, std::size_t ldb, const blas::How& how) {
  T beta;
  T* dw = grad_for_accumulation<T>(w, beta);
  blas::gemm<T>(true, false, as_int(m), as_int(n), as_int(rows), T(1), a, as_int(lda), b,
                as_int(ldb), beta, dw, as_int(n), how);
}

// grad(bias)[first + j] += sum over rows of g[r, first + j] for j < cols.
template <class T>
void add_column_sums(const Tensor& bias, const T* g, std::size_t rows, std::size_t ld,
                     std::size_t first, std::size_t cols) {
  T* d = grad_buffer_for_add<T>(bias) + first;
  for (std::size_t r = 0; r < rows; ++r) {
    const T* row = g + r * ld + first;
    for (std::size_t j = 0; j < cols; ++j) d[j] += row[j];
  }
}

// Every bias row of the gates: b_ih + b_hh, except the split gate's part of b_hh (the GRU's and
// MGU's n), which goes inside r * (W_hn h + b_hn) in the cell.
template <class T>
bool fill_gate_bias(CellKind kind, const Tensor& b_ih, const Tensor& b_hh, std::size_t rows,
                    std::size_t hidden, T* gates) {
  const CellSpec& spec = cell_spec(kind);
  const std::size_t gh = spec.gate_count * hidden;
  const std::size_t hh_cols = spec.split_hidden_gate ? spec.split_offset(hidden) : gh;
  if (!b_ih.defined() && !b_hh.defined()) return false;
  std::vector<T> row(gh, T(0));
  if (b_ih.defined()) std::copy_n(b_ih.value<T>().data(), gh, row.begin());
  if (b_hh.defined()) {
    const T* p = b_hh.value<T>().data();
    for (std::size_t j = 0; j < hh_cols; ++j) row[j] += p[j];
  }
  for (std::size_t r = 0; r < rows; ++r) std::copy(row.begin(), row.end(), gates + r * gh);
  return true;
}

// Gradients of both biases given the input-side gate gradient dg and, for the GRU, the
// hidden-side one dhh (its n part differs: r * dn).
template <class T>
void add_bias_grads(CellKind kind, const Tensor& b_ih, const Tensor& b_hh, const T* dg,
                    const T* dhh, std::size_t rows, std::size_t hidden) {
  const CellSpec& spec = cell_spec(kind);
  const std::size_t gh = spec.gate_count * hidden;
  if (b_ih.requires_grad()) add_column_sums(b_ih, dg, rows, gh, 0, gh);
  if (b_hh.requires_grad()) {
    if (spec.split_hidden_gate) {
      const std::size_t split = spec.split_offset(hidden);
      add_column_sums(b_hh, dg, rows, gh, 0, split);
      add_column_sums(b_hh, dhh, rows, gh, split, hidden);
    } else {
      add_column_sums(b_hh, dg, rows, gh, 0, gh);
    }
  }
}

// Shapes of a cell's weights: weight_ih [G*H, in], weight_hh [G*H, H], biases [G*H].
struct Dims {
  std::size_t in = 0, hidden = 0, gh = 0;
};

inline Dims check_weights(const char* op, CellKind kind, const Tensor& w_ih,
                          const Tensor& w_hh, const Tensor& b_ih, const Tensor& b_hh) {
  const Shape si = w_ih.shape(), sh = w_hh.shape();
  const std::size_t g = gate_count(kind);
  if (sh.size() != 2 || sh[0] != g * sh[1])
    throw Error(fmt::format("{}: weight_hh {} is not [{}*H, H]", op, shape_str(sh), g));
  Dims d{0, sh[1], sh[0]};
  if (si.size() != 2 || si[0] != d.gh)
    throw Error(fmt::format("{}: weight_ih {} does not match weight_hh {} (expected [{}, in])", op,
                            shape_str(si), shape_str(sh), d.gh));
  d.in = si[1];
  for (const Tensor* b : {&b_ih, &b_hh})
    if (b->defined() && b->shape() != Shape{d.gh})
      throw Error(fmt::format("{}: bias {} does not match weight_hh {} (expected [{}])", op,
                              shape_str(b->shape()), shape_str(sh), d.gh));
  return d;
}

inline std::vector<Tensor> defined_of(std::initializer_list<Tensor> tensors) {
  std::vector<Tensor> out;
  for (const Tensor& t : tensors)
    if (t.defined()) out.push_back(t);
  return out;
}


}  // namespace tg::nn::detail
