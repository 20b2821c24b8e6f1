// What the kinds' row kernels are written with: a body over V (an xsimd batch or a scalar) that
// lanes() runs over full vectors and then the scalar tail, and loads, stores and activations
// that work on both.
#pragma once

#include <xsimd/xsimd.hpp>

#include <cstddef>
#include <type_traits>

#include "nn/rnn_kernels.hpp"
#include "tapegrad/autograd/ops.hpp"

namespace tg::nn::lanes_detail {

template <class V>
struct Lane {
  using type = V;
};

// f(j, Lane<V>{}) for j = 0, S, 2S, ... with V a batch of S values, then j one by one.
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

// Columns [k H, (k + 1) H) of a [B, G*H] tensor: gate k of the op-built step.
inline Tensor gate_part(const Tensor& t, std::size_t k, std::size_t hidden) {
  return slice(t, 1, static_cast<long>(k * hidden), static_cast<long>((k + 1) * hidden));
}

// The tap's view of gate k, or the gate itself without a tap.
inline Tensor tapped(const GateTap& tap, std::size_t k, const Tensor& value) {
  return tap ? tap(k, value) : value;
}

}  // namespace tg::nn::lanes_detail
