// operator<< for tensors: PyTorch's layout, NumPy's abbreviation of large tensors.
#include <fmt/format.h>

#include <ostream>
#include <string>

#include "tapegrad/autograd/tensor.hpp"

namespace tg {

namespace {

constexpr std::size_t kThreshold = 1000;  // NumPy's print threshold and edge items
constexpr std::size_t kEdge = 3;

struct Printer {
  const std::vector<double>& v;
  const Shape& shape;
  std::vector<std::size_t> strides;
  bool abbreviate;
  std::string indent = "       ";  // under "tensor("

  void print(std::string& out, std::size_t axis, std::size_t offset) const {
    if (shape.empty()) {
      out += fmt::format("{:.4f}", v[offset]);
      return;
    }
    out += '[';
    const std::size_t n = shape[axis];
    for (std::size_t i = 0; i < n; ++i) {
      if (abbreviate && n > 2 * kEdge && i == kEdge) {
        out += axis + 1 == shape.size() ? "..., " : "...,\n" + indent + std::string(axis + 1, ' ');
        i = n - kEdge;
      }
      if (axis + 1 == shape.size()) {
        out += fmt::format("{:.4f}", v[offset + i * strides[axis]]);
      } else {
        print(out, axis + 1, offset + i * strides[axis]);
      }
      if (i + 1 < n)
        out += axis + 1 == shape.size()
                   ? ", "
                   : "," + std::string(shape.size() - axis - 1, '\n') + indent + std::string(axis + 1, ' ');
    }
    out += ']';
  }
};

}  // namespace

std::ostream& operator<<(std::ostream& out, const Tensor& t) {
  if (!t.defined()) return out << "tensor(undefined)";
  const Shape shape = t.shape();
  const std::vector<double> values = t.to_vector();
  Printer p{values, shape, std::vector<std::size_t>(shape.size(), 1), values.size() > kThreshold};
  for (std::size_t d = shape.size(); d-- > 1;) p.strides[d - 1] = p.strides[d] * shape[d];
  std::string text = "tensor(";
  if (values.empty()) {
    text += "[]";
  } else {
    p.print(text, 0, 0);
  }
  if (p.abbreviate || values.empty()) text += ", shape=" + shape_str(shape);
  text += ", dtype=" + to_string(t.dtype());
  if (t.requires_grad()) text += ", requires_grad=True";
  return out << text << ')';
}

}  // namespace tg

namespace xt {

// Printed as a tensor holding a copy of the array (for people reading, not for hot paths).
std::ostream& operator<<(std::ostream& out, const xarray<float>& a) { return out << tg::Tensor(a); }
std::ostream& operator<<(std::ostream& out, const xarray<double>& a) { return out << tg::Tensor(a); }

}  // namespace xt
