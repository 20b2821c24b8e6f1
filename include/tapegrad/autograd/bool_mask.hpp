// tg::BoolMask: a boolean tensor (values + shape, no gradient), PyTorch's torch.bool masks.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <vector>

#include "tapegrad/autograd/tensor.hpp"

namespace tg {

// tapegrad's Tensor holds only floating-point values, so a mask that means "hide where true"
// needs its own type: where an API takes a mask as either a BoolMask or a float Tensor (e.g.
// nn::AttentionArgs), the BoolMask hides and the Tensor is added, as in PyTorch.
//
//   tg::BoolMask causal({false, true, false, false}, {2, 2});
//   tg::BoolMask padded(batch.mask);  // true where batch.mask != 0
class BoolMask {
 public:
  BoolMask() = default;  // undefined (defined() is false)
  // Row-major values; their count must match the shape (tg::Error otherwise).
  BoolMask(std::initializer_list<bool> values, Shape shape);
  BoolMask(const std::vector<bool>& values, Shape shape);
  BoolMask(const std::vector<std::uint8_t>& values, Shape shape);  // non-zero = true
  // True where t != 0 (NaN counts as true, as torch's `t != 0`).
  explicit BoolMask(const Tensor& t);

  bool defined() const { return defined_; }
  const Shape& shape() const { return shape_; }
  std::size_t dim() const { return shape_.size(); }
  std::size_t size() const { return values_.size(); }
  bool operator[](std::size_t i) const { return values_[i] != 0; }
  bool any() const;
  const std::vector<std::uint8_t>& values() const { return values_; }  // 0 / 1, row-major
  // 1 where true, 0 elsewhere (masked_fill's and masked_softmax's convention).
  Tensor to_tensor(DType dtype = DType::Float32) const;

 private:
  std::vector<std::uint8_t> values_;
  Shape shape_;
  bool defined_ = false;
};

}  // namespace tg
