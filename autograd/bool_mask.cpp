// tg::BoolMask: construction checks and conversions.
#include "tapegrad/autograd/bool_mask.hpp"

#include <algorithm>
#include <functional>
#include <numeric>

#include <fmt/format.h>

#include "tapegrad/autograd/error.hpp"

namespace tg {

namespace {

std::size_t element_count(const Shape& shape) {
  return std::accumulate(shape.begin(), shape.end(), std::size_t{1}, std::multiplies<>());
}

}  // namespace

BoolMask::BoolMask(std::initializer_list<bool> values, Shape shape)
    : BoolMask(std::vector<bool>(values), std::move(shape)) {}

BoolMask::BoolMask(const std::vector<bool>& values, Shape shape)
    : values_(values.begin(), values.end()), shape_(std::move(shape)), defined_(true) {
  if (values_.size() != element_count(shape_))
    throw Error(fmt::format("BoolMask: {} values do not fill shape {}", values_.size(),
                            shape_str(shape_)));
}

BoolMask::BoolMask(const std::vector<std::uint8_t>& values, Shape shape)
    : values_(values.size()), shape_(std::move(shape)), defined_(true) {
  if (values_.size() != element_count(shape_))
    throw Error(fmt::format("BoolMask: {} values do not fill shape {}", values_.size(),
                            shape_str(shape_)));
  std::transform(values.begin(), values.end(), values_.begin(),
                 [](std::uint8_t v) { return static_cast<std::uint8_t>(v != 0); });
}

BoolMask::BoolMask(const Tensor& t) : shape_(t.defined() ? t.shape() : Shape{}), defined_(true) {
  if (!t.defined()) throw Error("BoolMask: the tensor is undefined");
  const std::vector<double> v = t.to_vector();
  values_.resize(v.size());
  std::transform(v.begin(), v.end(), values_.begin(),
                 [](double x) { return static_cast<std::uint8_t>(x != 0.0); });
}

bool BoolMask::any() const {
  return std::any_of(values_.begin(), values_.end(), [](std::uint8_t v) { return v != 0; });
}

Tensor BoolMask::to_tensor(DType dtype) const {
  if (!defined_) throw Error("BoolMask::to_tensor: the mask is undefined");
  return Tensor::from_vector(std::vector<double>(values_.begin(), values_.end()), shape_, dtype);
}

}  // namespace tg
