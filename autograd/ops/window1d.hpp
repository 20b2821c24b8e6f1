// A window sliding along the last axis of [N, C, L] (convolution and pooling), its im2col and
// col2im loops, and the unfold / fold ops on a window with one-sided padding (padding='same').
// Private to autograd/ops/convolution.cpp and pooling.cpp.
#pragma once

#include <algorithm>
#include <cstddef>

#include "tapegrad/autograd/tensor.hpp"

namespace tg::detail {

struct Window1d {
  std::size_t kernel = 1, stride = 1, pad_left = 0, dilation = 1;
  std::size_t length = 0;      // L of the input
  std::size_t out_length = 0;  // L_out: how many windows (so the right padding is implied)

  // Output positions l in [lo, hi) whose tap k falls inside the input.
  void valid_range(std::size_t k, std::size_t& lo, std::size_t& hi) const {
    const std::size_t offset = k * dilation;  // input position of tap k at l = 0, plus pad_left
    lo = offset >= pad_left ? 0 : (pad_left - offset + stride - 1) / stride;
    const std::size_t end = length + pad_left;  // positions (plus pad_left) below end are inside
    hi = end <= offset ? 0 : (end - offset + stride - 1) / stride;
    hi = std::min(hi, out_length);
    lo = std::min(lo, hi);
  }
  // Input position of tap k of window l, for l in its valid range.
  std::size_t position(std::size_t l, std::size_t k) const {
    return l * stride + k * dilation - pad_left;
  }
};

// cols[n * n_stride + (c * K + k) * row_stride + l] = x[n, c, position(l, k)], 0 outside.
template <class T>
void im2col(const T* x, std::size_t batch, std::size_t channels, const Window1d& w, T* cols,
            std::size_t n_stride, std::size_t row_stride) {
  for (std::size_t k = 0; k < w.kernel; ++k) {
    std::size_t lo, hi;
    w.valid_range(k, lo, hi);
    for (std::size_t n = 0; n < batch; ++n)
      for (std::size_t c = 0; c < channels; ++c) {
        const T* src = x + (n * channels + c) * w.length;
        T* dst = cols + n * n_stride + (c * w.kernel + k) * row_stride;
        std::fill(dst, dst + lo, T(0));
        if (w.stride == 1) {
          if (hi > lo) std::copy(src + w.position(lo, k), src + w.position(lo, k) + (hi - lo), dst + lo);
        } else {
          for (std::size_t l = lo; l < hi; ++l) dst[l] = src[w.position(l, k)];
        }
        std::fill(dst + hi, dst + w.out_length, T(0));
      }
  }
}

// The adjoint: x[n, c, position(l, k)] += cols[...], for the same layout.
template <class T>
void col2im_add(const T* cols, std::size_t batch, std::size_t channels, const Window1d& w, T* x,
                std::size_t n_stride, std::size_t row_stride) {
  for (std::size_t k = 0; k < w.kernel; ++k) {
    std::size_t lo, hi;
    w.valid_range(k, lo, hi);
    for (std::size_t n = 0; n < batch; ++n)
      for (std::size_t c = 0; c < channels; ++c) {
        T* dst = x + (n * channels + c) * w.length;
        const T* src = cols + n * n_stride + (c * w.kernel + k) * row_stride;
        for (std::size_t l = lo; l < hi; ++l) dst[w.position(l, k)] += src[l];
      }
  }
}

// unfold1d / fold1d on any window (their public forms check and build a symmetric one).
Tensor unfold_window(const Tensor& x, const Window1d& w);
Tensor fold_window(const Tensor& columns, const Window1d& w);

}  // namespace tg::detail
