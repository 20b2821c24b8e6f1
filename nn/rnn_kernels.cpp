// The blocks of rows through the kinds' row kernels, padding rows handled here; and the
// products of a single row.
#include "nn/rnn_kernels.hpp"

#include <xsimd/xsimd.hpp>

#include <algorithm>

namespace tg::nn {

namespace {

template <class T>
const T* row_of(const T* base, std::size_t b, std::size_t ld) {
  return base ? base + b * ld : nullptr;
}

template <class T>
T* row_of(T* base, std::size_t b, std::size_t ld) {
  return base ? base + b * ld : nullptr;
}

template <class T>
void add_row(T* dst, const T* src, std::size_t n) {
  for (std::size_t j = 0; j < n; ++j) dst[j] += src[j];
}

template <class T>
void copy_or_zero(const T* src, T* dst, std::size_t n) {
  if (src) std::copy(src, src + n, dst); else std::fill(dst, dst + n, T(0));
}

}  // namespace

template <class T>
void cell_forward(const CellRows<T>& r) {
  const CellSpec& spec = cell_spec(r.kind);
  const auto forward_row = spec.row_kernels<T>().forward;
  const std::size_t H = r.hidden, GH = spec.gate_count * H;
  for (std::size_t b = 0; b < r.rows; ++b) {
    CellRow<T> row;
    row.hidden = H;
    row.h_prev = row_of(r.h_prev, b, r.ld_h_prev);
    row.c_prev = row_of(r.c_prev, b, r.ld_c_prev);
    row.h = r.h + b * r.ld_out;
    row.c = row_of(r.c, b, r.ld_out);
    if (r.active && !r.active[b]) {  // padding: the state passes through unchanged
      copy_or_zero(row.h_prev, row.h, H);
      if (row.c) copy_or_zero(row.c_prev, row.c, H);
      continue;
    }
    row.gates = r.gates + b * GH;
    row.hh = row_of(r.hh, b, GH);
    row.b_hn = r.b_hn;
    row.hn = row_of(r.hn, b, H);
    forward_row(row);
  }
}

template <class T>
void cell_backward(const CellRows<T>& f, const CellGrads<T>& g) {
  const CellSpec& spec = cell_spec(f.kind);
  const auto backward_row = spec.row_kernels<T>().backward;
  const std::size_t H = f.hidden, GH = spec.gate_count * H;
  for (std::size_t b = 0; b < f.rows; ++b) {
    CellRowGrads<T> d;
    d.dh = g.dh + b * g.ld_dout;
    d.dc = row_of(g.dc, b, g.ld_dout);
    d.dgates = g.dgates + b * GH;
    d.dhh = row_of(g.dhh, b, GH);
    d.dh_prev = row_of(g.dh_prev, b, g.ld_dh_prev);
    d.dc_prev = row_of(g.dc_prev, b, g.ld_dc_prev);
    if (f.active && !f.active[b]) {  // padding: no gate gradient, the state's passes through
      std::fill(d.dgates, d.dgates + GH, T(0));
      if (d.dhh) std::fill(d.dhh, d.dhh + GH, T(0));
      if (d.dh_prev) add_row(d.dh_prev, d.dh, H);
      if (d.dc_prev && d.dc) add_row(d.dc_prev, d.dc, H);
      continue;
    }
    CellRow<T> row;
    row.hidden = H;
    row.gates = f.gates + b * GH;
    row.hn = row_of(f.hn, b, H);
    row.h_prev = row_of(f.h_prev, b, f.ld_h_prev);
    row.c_prev = row_of(f.c_prev, b, f.ld_c_prev);
    row.h = f.h + b * f.ld_out;
    row.c = row_of(f.c, b, f.ld_out);
    backward_row(row, d);
  }
}

template <class T>
void row_times_transposed(const T* x, const T* w, std::size_t n, std::size_t k, T* y,
                          bool accumulate) {
  using B = xsimd::batch<T>;
  const std::size_t kv = k - k % B::size;
  std::size_t j = 0;
  // Four rows at a time: four independent accumulators keep the FMA units busy.
  for (; j + 4 <= n; j += 4) {
    const T* w0 = w + j * k;
    B a0(T(0)), a1(T(0)), a2(T(0)), a3(T(0));
    for (std::size_t q = 0; q < kv; q += B::size) {
      const B xv = B::load_unaligned(x + q);
      a0 = xsimd::fma(B::load_unaligned(w0 + q), xv, a0);
      a1 = xsimd::fma(B::load_unaligned(w0 + k + q), xv, a1);
      a2 = xsimd::fma(B::load_unaligned(w0 + 2 * k + q), xv, a2);
      a3 = xsimd::fma(B::load_unaligned(w0 + 3 * k + q), xv, a3);
    }
    T s[4] = {xsimd::hadd(a0), xsimd::hadd(a1), xsimd::hadd(a2), xsimd::hadd(a3)};
    for (std::size_t q = kv; q < k; ++q)
      for (std::size_t u = 0; u < 4; ++u) s[u] += w0[u * k + q] * x[q];
    for (std::size_t u = 0; u < 4; ++u) y[j + u] = accumulate ? y[j + u] + s[u] : s[u];
  }
  for (; j < n; ++j) {
    const T* wr = w + j * k;
    B a(T(0));
    for (std::size_t q = 0; q < kv; q += B::size)
      a = xsimd::fma(B::load_unaligned(wr + q), B::load_unaligned(x + q), a);
    T s = xsimd::hadd(a);
    for (std::size_t q = kv; q < k; ++q) s += wr[q] * x[q];
    y[j] = accumulate ? y[j] + s : s;
  }
}

template <class T>
void row_times(const T* x, const T* w, std::size_t k, std::size_t n, std::size_t ldw, T* y,
               bool accumulate) {
  using B = xsimd::batch<T>;
  constexpr std::size_t S = B::size;
  // Column blocks of four vectors held in registers over all of x: W is read once, row segments
  // at a constant stride, and y is written once per block.
  std::size_t j = 0;
  for (; j + 4 * S <= n; j += 4 * S) {
    B a0(T(0)), a1(T(0)), a2(T(0)), a3(T(0));
    for (std::size_t q = 0; q < k; ++q) {
      const B xv(x[q]);
      const T* wr = w + q * ldw + j;
      a0 = xsimd::fma(B::load_unaligned(wr), xv, a0);
      a1 = xsimd::fma(B::load_unaligned(wr + S), xv, a1);
      a2 = xsimd::fma(B::load_unaligned(wr + 2 * S), xv, a2);
      a3 = xsimd::fma(B::load_unaligned(wr + 3 * S), xv, a3);
    }
    if (accumulate) {
      a0 += B::load_unaligned(y + j);
      a1 += B::load_unaligned(y + j + S);
      a2 += B::load_unaligned(y + j + 2 * S);
      a3 += B::load_unaligned(y + j + 3 * S);
    }
    a0.store_unaligned(y + j);
    a1.store_unaligned(y + j + S);
    a2.store_unaligned(y + j + 2 * S);
    a3.store_unaligned(y + j + 3 * S);
  }
  for (; j + S <= n; j += S) {
    B a(T(0));
    for (std::size_t q = 0; q < k; ++q)
      a = xsimd::fma(B::load_unaligned(w + q * ldw + j), B(x[q]), a);
    if (accumulate) a += B::load_unaligned(y + j);
    a.store_unaligned(y + j);
  }
  for (; j < n; ++j) {
    T s(0);
    for (std::size_t q = 0; q < k; ++q) s += x[q] * w[q * ldw + j];
    y[j] = accumulate ? y[j] + s : s;
  }
}

template void cell_forward<float>(const CellRows<float>&);
template void cell_forward<double>(const CellRows<double>&);
template void cell_backward<float>(const CellRows<float>&, const CellGrads<float>&);
template void cell_backward<double>(const CellRows<double>&, const CellGrads<double>&);
template void row_times_transposed<float>(const float*, const float*, std::size_t, std::size_t,
                                          float*, bool);
template void row_times_transposed<double>(const double*, const double*, std::size_t,
                                           std::size_t, double*, bool);
template void row_times<float>(const float*, const float*, std::size_t, std::size_t, std::size_t,
                               float*, bool);
template void row_times<double>(const double*, const double*, std::size_t, std::size_t,
                                std::size_t, double*, bool);

}  // namespace tg::nn
