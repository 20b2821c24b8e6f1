// The recurrent cells' element-wise kernels: one vectorized pass per row forward and backward.
#include "nn/rnn_kernels.hpp"

#include <xsimd/xsimd.hpp>

#include <algorithm>
#include <cmath>
#include <type_traits>

namespace tg::nn {

namespace {

// Each kernel body is written once as a generic lambda over V, a SIMD batch or a plain scalar:
// lanes() runs it on full batches and then on the scalar tail.
template <class V>
struct Lane {
  using type = V;
};

template <class T, class F>
void lanes(std::size_t n, F&& f) {
  using B = xsimd::batch<T>;
  std::size_t j = 0;
  for (; j + B::size <= n; j += B::size) f(j, Lane<B>{});
  for (; j < n; ++j) f(j, Lane<T>{});
}

template <class V, class T>
V load(const T* p) {
  if constexpr (std::is_same_v<V, T>)
    return *p;
  else
    return V::load_unaligned(p);
}

// A null pointer reads as zeros (a zero initial state).
template <class V, class T>
V load_or_zero(const T* p, std::size_t j) {
  return p ? load<V>(p + j) : V(T(0));
}

// Not named `store`: argument-dependent lookup would then pick xsimd::store for a batch, an
// aligned store, which faults on rows that do not start at a multiple of the vector size.
template <class T, class V>
void store_lane(T* p, const V& v) {
  if constexpr (std::is_same_v<V, T>)
    *p = v;
  else
    v.store_unaligned(p);
}

template <class T, class V>
V sigmoid(const V& x) {
  return T(1) / (T(1) + xsimd::exp(-x));
}

template <class T, class V>
V relu(const V& x) {
  if constexpr (std::is_same_v<V, T>)
    return x > T(0) ? x : T(0);
  else
    return xsimd::max(x, V(T(0)));
}

// g where the relu's output is positive, else 0.
template <class T, class V>
V relu_grad(const V& y, const V& g) {
  if constexpr (std::is_same_v<V, T>)
    return y > T(0) ? g : T(0);
  else
    return xsimd::select(y > V(T(0)), g, V(T(0)));
}

template <class T>
void rnn_forward_row(std::size_t H, bool is_relu, const T* pre, T* h) {
  lanes<T>(H, [&](std::size_t j, auto lane) {
    using V = typename decltype(lane)::type;
    const V x = load<V>(pre + j);
    store_lane(h + j, is_relu ? relu<T>(x) : V(xsimd::tanh(x)));
  });
}

template <class T>
void rnn_backward_row(std::size_t H, bool is_relu, const T* h, const T* dh, T* dpre) {
  lanes<T>(H, [&](std::size_t j, auto lane) {
    using V = typename decltype(lane)::type;
    const V y = load<V>(h + j), g = load<V>(dh + j);
    store_lane(dpre + j, is_relu ? relu_grad<T>(y, g) : V(g * (T(1) - y * y)));
  });
}

template <class T>
void lstm_forward_row(std::size_t H, T* gates, const T* c_prev, T* h, T* c) {
  lanes<T>(H, [&](std::size_t j, auto lane) {
    using V = typename decltype(lane)::type;
    const V i = sigmoid<T>(load<V>(gates + j));
    const V f = sigmoid<T>(load<V>(gates + H + j));
    const V g = xsimd::tanh(load<V>(gates + 2 * H + j));
    const V o = sigmoid<T>(load<V>(gates + 3 * H + j));
    const V cn = f * load_or_zero<V>(c_prev, j) + i * g;
    store_lane(gates + j, i);
    store_lane(gates + H + j, f);
    store_lane(gates + 2 * H + j, g);
    store_lane(gates + 3 * H + j, o);
    store_lane(c + j, cn);
    store_lane(h + j, V(o * xsimd::tanh(cn)));
  });
}

template <class T>
void lstm_backward_row(std::size_t H, const T* act, const T* c_prev, const T* c, const T* dh,
                       const T* dc, T* dgates, T* dc_prev) {
  lanes<T>(H, [&](std::size_t j, auto lane) {
    using V = typename decltype(lane)::type;
    const V i = load<V>(act + j), f = load<V>(act + H + j);
    const V g = load<V>(act + 2 * H + j), o = load<V>(act + 3 * H + j);
    const V th = xsimd::tanh(load<V>(c + j));
    const V dhv = load<V>(dh + j);
    const V dcv = load<V>(dc + j) + dhv * o * (T(1) - th * th);
    store_lane(dgates + j, V(dcv * g * i * (T(1) - i)));
    store_lane(dgates + H + j, V(dcv * load_or_zero<V>(c_prev, j) * f * (T(1) - f)));
    store_lane(dgates + 2 * H + j, V(dcv * i * (T(1) - g * g)));
    store_lane(dgates + 3 * H + j, V(dhv * th * o * (T(1) - o)));
    if (dc_prev) store_lane(dc_prev + j, V(load<V>(dc_prev + j) + dcv * f));
  });
}

template <class T>
void gru_forward_row(std::size_t H, T* gates, const T* hh, const T* b_hn, const T* h_prev,
                     T* hn_out, T* h) {
  lanes<T>(H, [&](std::size_t j, auto lane) {
    using V = typename decltype(lane)::type;
    const V r = sigmoid<T>(load<V>(gates + j) + load_or_zero<V>(hh, j));
    const V z = sigmoid<T>(load<V>(gates + H + j) + load_or_zero<V>(hh, H + j));
    const V hn = load_or_zero<V>(hh, 2 * H + j) + load_or_zero<V>(b_hn, j);
    const V n = xsimd::tanh(load<V>(gates + 2 * H + j) + r * hn);
    const V hp = load_or_zero<V>(h_prev, j);
    store_lane(gates + j, r);
    store_lane(gates + H + j, z);
    store_lane(gates + 2 * H + j, n);
    store_lane(hn_out + j, hn);
    store_lane(h + j, V(n + z * (hp - n)));
  });
}

template <class T>
void gru_backward_row(std::size_t H, const T* act, const T* hn, const T* h_prev, const T* dh,
                      T* dgates, T* dhh, T* dh_prev) {
  lanes<T>(H, [&](std::size_t j, auto lane) {
    using V = typename decltype(lane)::type;
    const V r = load<V>(act + j), z = load<V>(act + H + j), n = load<V>(act + 2 * H + j);
    const V dhv = load<V>(dh + j);
    const V dn_pre = dhv * (T(1) - z) * (T(1) - n * n);
    const V dr_pre = dn_pre * load<V>(hn + j) * r * (T(1) - r);
    const V dz_pre = dhv * (load_or_zero<V>(h_prev, j) - n) * z * (T(1) - z);
    store_lane(dgates + j, dr_pre);
    store_lane(dgates + H + j, dz_pre);
    store_lane(dgates + 2 * H + j, dn_pre);
    store_lane(dhh + j, dr_pre);
    store_lane(dhh + H + j, dz_pre);
    store_lane(dhh + 2 * H + j, V(dn_pre * r));
    if (dh_prev) store_lane(dh_prev + j, V(load<V>(dh_prev + j) + dhv * z));
  });
}

// MGU: f = sigmoid(gates_f + hh_f), n = tanh(gates_n + f * (hh_n + b_hn)), h' = h + f (n - h).
template <class T>
void mgu_forward_row(std::size_t H, T* gates, const T* hh, const T* b_hn, const T* h_prev,
                     T* hn_out, T* h) {
  lanes<T>(H, [&](std::size_t j, auto lane) {
    using V = typename decltype(lane)::type;
    const V f = sigmoid<T>(load<V>(gates + j) + load_or_zero<V>(hh, j));
    const V hn = load_or_zero<V>(hh, H + j) + load_or_zero<V>(b_hn, j);
    const V n = xsimd::tanh(load<V>(gates + H + j) + f * hn);
    const V hp = load_or_zero<V>(h_prev, j);
    store_lane(gates + j, f);
    store_lane(gates + H + j, n);
    store_lane(hn_out + j, hn);
    store_lane(h + j, V(hp + f * (n - hp)));
  });
}

// dn_pre = dh f (1 - n^2); df = dh (n - h) + dn_pre hn, the second term through f * hn; the
// hidden side's n part is dn_pre f.
template <class T>
void mgu_backward_row(std::size_t H, const T* act, const T* hn, const T* h_prev, const T* dh,
                      T* dgates, T* dhh, T* dh_prev) {
  lanes<T>(H, [&](std::size_t j, auto lane) {
    using V = typename decltype(lane)::type;
    const V f = load<V>(act + j), n = load<V>(act + H + j);
    const V dhv = load<V>(dh + j), hp = load_or_zero<V>(h_prev, j);
    const V dn_pre = dhv * f * (T(1) - n * n);
    const V df_pre = (dhv * (n - hp) + dn_pre * load<V>(hn + j)) * f * (T(1) - f);
    store_lane(dgates + j, df_pre);
    store_lane(dgates + H + j, dn_pre);
    store_lane(dhh + j, df_pre);
    store_lane(dhh + H + j, V(dn_pre * f));
    if (dh_prev) store_lane(dh_prev + j, V(load<V>(dh_prev + j) + dhv * (T(1) - f)));
  });
}

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

}  // namespace

template <class T>
void cell_forward(const CellRows<T>& r) {
  const CellSpec& spec = cell_spec(r.kind);
  const std::size_t H = r.hidden, GH = spec.gate_count * H;
  for (std::size_t b = 0; b < r.rows; ++b) {
    const T* hp = row_of(r.h_prev, b, r.ld_h_prev);
    const T* cp = row_of(r.c_prev, b, r.ld_c_prev);
    T* h = r.h + b * r.ld_out;
    T* c = row_of(r.c, b, r.ld_out);
    if (r.active && !r.active[b]) {  // padding: the state passes through unchanged
      if (hp) std::copy(hp, hp + H, h); else std::fill(h, h + H, T(0));
      if (c) {
        if (cp) std::copy(cp, cp + H, c); else std::fill(c, c + H, T(0));
      }
      continue;
    }
    T* gates = r.gates + b * GH;
    switch (r.kind) {
      case CellKind::RnnTanh:
      case CellKind::RnnRelu: rnn_forward_row(H, spec.relu, gates, h); break;
      case CellKind::Lstm: lstm_forward_row(H, gates, cp, h, c); break;
      case CellKind::Gru:
        gru_forward_row(H, gates, row_of(r.hh, b, GH), r.b_hn, hp, r.hn + b * H, h);
        break;
      case CellKind::Mgu:
        mgu_forward_row(H, gates, row_of(r.hh, b, GH), r.b_hn, hp, r.hn + b * H, h);
        break;
    }
  }
}

template <class T>
void cell_backward(const CellRows<T>& f, const CellGrads<T>& g) {
  const CellSpec& spec = cell_spec(f.kind);
  const std::size_t H = f.hidden, GH = spec.gate_count * H;
  for (std::size_t b = 0; b < f.rows; ++b) {
    const T* dh = g.dh + b * g.ld_dout;
    const T* dc = row_of(g.dc, b, g.ld_dout);
    T* dgates = g.dgates + b * GH;
    T* dh_prev = row_of(g.dh_prev, b, g.ld_dh_prev);
    T* dc_prev = row_of(g.dc_prev, b, g.ld_dc_prev);
    if (f.active && !f.active[b]) {  // padding: no gate gradient, the state's passes through
      std::fill(dgates, dgates + GH, T(0));
      if (spec.split_hidden_gate) std::fill(g.dhh + b * GH, g.dhh + (b + 1) * GH, T(0));
      if (dh_prev) add_row(dh_prev, dh, H);
      if (dc_prev && dc) add_row(dc_prev, dc, H);
      continue;
    }
    const T* act = f.gates + b * GH;
    switch (f.kind) {
      case CellKind::RnnTanh:
      case CellKind::RnnRelu:
        rnn_backward_row(H, spec.relu, f.h + b * f.ld_out, dh, dgates);
        break;
      case CellKind::Lstm:
        lstm_backward_row(H, act, row_of(f.c_prev, b, f.ld_c_prev), f.c + b * f.ld_out, dh, dc,
                          dgates, dc_prev);
        break;
      case CellKind::Gru:
        gru_backward_row(H, act, f.hn + b * H, row_of(f.h_prev, b, f.ld_h_prev), dh, dgates,
                         g.dhh + b * GH, dh_prev);
        break;
      case CellKind::Mgu:
        mgu_backward_row(H, act, f.hn + b * H, row_of(f.h_prev, b, f.ld_h_prev), dh, dgates,
                         g.dhh + b * GH, dh_prev);
        break;
    }
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
