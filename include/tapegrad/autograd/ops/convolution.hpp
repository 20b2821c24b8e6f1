// 1-D convolution and pooling over [N, C, L] tensors (or unbatched [C, L]), as PyTorch 1.13's
// conv1d, max_pool1d and avg_pool1d, with unfold1d / fold1d (im2col and its adjoint) beneath.
#pragma once

#include <cstddef>
#include <optional>

#include "tapegrad/autograd/tensor.hpp"

namespace tg {

// PyTorch's padding='same' / 'valid' for convolutions.
enum class PaddingMode { Same, Valid };

// A convolution's padding: a count of zeros on both ends, or a mode. Converts from either, so
// conv1d(x, w, b, 1, 2) and conv1d(x, w, b, 1, PaddingMode::Same) both read naturally.
class ConvPadding {
 public:
  ConvPadding(std::size_t zeros = 0) : zeros_(zeros) {}
  ConvPadding(PaddingMode mode) : mode_(mode) {}
  bool is_mode() const { return mode_.has_value(); }
  PaddingMode mode() const { return *mode_; }  // only if is_mode()
  std::size_t zeros() const { return zeros_; }

 private:
  std::size_t zeros_ = 0;
  std::optional<PaddingMode> mode_;
};

// input [N, C_in, L] (or [C_in, L]), weight [C_out, C_in / groups, K], bias [C_out] or
// undefined -> [N, C_out, L_out], L_out = (L + 2 padding - dilation (K - 1) - 1) / stride + 1
// (torch.nn.functional.conv1d). PaddingMode::Same keeps L (stride 1 only; an odd total padding
// puts the extra zero on the right, as PyTorch); Valid means 0. Runs as im2col + one BLAS
// product per group; backward is a formula over unfold1d, fold1d and matmul (so create_graph
// and second derivatives work), with a raw kernel for plain backward.
Tensor conv1d(const Tensor& input, const Tensor& weight, const Tensor& bias = Tensor(),
              std::size_t stride = 1, ConvPadding padding = 0, std::size_t dilation = 1,
              std::size_t groups = 1);

// im2col: x [N, C, L] -> [N, C * K, L_out], row c * K + k holding x[n, c, l * stride - padding
// + k * dilation] (0 outside the input): torch.nn.functional.unfold for one spatial axis.
Tensor unfold1d(const Tensor& x, std::size_t kernel_size, std::size_t stride = 1,
                std::size_t padding = 0, std::size_t dilation = 1);
// Its adjoint: columns [N, C * K, L_out] summed back into [N, C, length] (torch's fold).
// L_out must be the count that unfold1d gives for `length`.
Tensor fold1d(const Tensor& columns, std::size_t length, std::size_t kernel_size,
              std::size_t stride = 1, std::size_t padding = 0, std::size_t dilation = 1);

// Maximum over windows of x [N, C, L] (or [C, L]); stride defaults to kernel_size; padding (at
// most kernel_size / 2) counts as -inf; ceil_mode rounds L_out up, as long as the last window
// starts inside the input or its left padding. A NaN in a window wins it. The gradient goes
// to one element per window: the first maximum in window order (PyTorch's CPU rule).
Tensor max_pool1d(const Tensor& x, std::size_t kernel_size,
                  std::optional<std::size_t> stride = std::nullopt, std::size_t padding = 0,
                  std::size_t dilation = 1, bool ceil_mode = false);

// Mean over windows, PyTorch's divisor: with count_include_pad the window's size clipped to the
// padded input, otherwise the count of real elements in it.
Tensor avg_pool1d(const Tensor& x, std::size_t kernel_size,
                  std::optional<std::size_t> stride = std::nullopt, std::size_t padding = 0,
                  bool ceil_mode = false, bool count_include_pad = true);

// L_out of a window sliding over `length` (PyTorch's formula; -1 when no window fits).
long conv_output_length(std::size_t length, std::size_t kernel_size, std::size_t stride,
                        std::size_t padding, std::size_t dilation);
long pool_output_length(std::size_t length, std::size_t kernel_size, std::size_t stride,
                        std::size_t padding, std::size_t dilation, bool ceil_mode);

}  // namespace tg
