// Internal to the op families: a floating-point fold over n values on SIMD packs.
#pragma once

#include <cstddef>

namespace tg::detail {

// The folds of the reductions, written once for scalars and for SIMD packs (see fold_values).
struct Plus {
  template <class V>
  V operator()(V a, V b) const { return a + b; }
};
// A plain max is enough for a shift (softmax, logsumexp): a NaN input poisons the sum of
// exponentials anyway, and this compiles to a bare vmaxps.
struct ShiftMax {
  template <class V>
  V operator()(V a, V b) const { return b > a ? b : a; }
};
// The max() op's fold propagates NaN: a NaN accumulator stays NaN, a NaN value replaces it.
struct NanMax {
  template <class V>
  V operator()(V a, V b) const { return ((b > a) | (b != b)) ? b : a; }
};
// The min() op's fold, NaN-propagating likewise.
struct NanMin {
  template <class V>
  V operator()(V a, V b) const { return ((b < a) | (b != b)) ? b : a; }
};

// fold(init, value(0), ..., value(n-1)), reassociated into one SIMD pack of accumulators. The
// compiler may not reassociate floating-point folds by itself, and a scalar accumulator is
// latency-bound (4 cycles per add): the pack is 4-8x faster on rows of 128.
template <class T, class Value, class Fold>
T fold_values(std::size_t n, T init, Value value, Fold fold) {
  std::size_t j = 0;
  T result = init;
#if defined(__GNUC__)
  typedef T Pack __attribute__((vector_size(32)));
  constexpr std::size_t width = sizeof(Pack) / sizeof(T);
  if (n >= width) {
    Pack acc, v;
    for (std::size_t k = 0; k < width; ++k) acc[k] = init;
    for (; j + width <= n; j += width) {
      for (std::size_t k = 0; k < width; ++k) v[k] = value(j + k);
      acc = fold(acc, v);
    }
    for (std::size_t k = 0; k < width; ++k) result = fold(result, T(acc[k]));
  }
#endif
  for (; j < n; ++j) result = fold(result, value(j));
  return result;
}

}  // namespace tg::detail
