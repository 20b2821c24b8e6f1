// Shared argument checks for ops.
#include "tapegrad/autograd/function.hpp"

namespace tg {

bool any_requires_grad_in(const std::vector<Tensor>& tensors) {
  if (!grad_enabled()) return false;
  for (const Tensor& t : tensors)
    if (t.requires_grad()) return true;
  return false;
}

Shape broadcast_shapes(const char* op, const Shape& a, const Shape& b) {
  const std::size_t n = std::max(a.size(), b.size());
  Shape out(n);
  for (std::size_t i = 0; i < n; ++i) {
    const std::size_t da = i < n - a.size() ? 1 : a[i - (n - a.size())];
    const std::size_t db = i < n - b.size() ? 1 : b[i - (n - b.size())];
    if (da != db && da != 1 && db != 1)
      throw Error(fmt::format("{}: shapes {} and {} cannot be broadcast", op, shape_str(a),
                              shape_str(b)));
    out[i] = da == 1 ? db : da;
  }
  return out;
}

void check_same_dtype(const char* op, const std::vector<Tensor>& tensors) {
  for (const Tensor& t : tensors)
    if (!t.defined()) throw Error(fmt::format("{}: undefined tensor argument", op));
  for (const Tensor& t : tensors)
    if (t.dtype() != tensors.front().dtype())
      throw Error(fmt::format("{}: mixed dtypes {} and {}", op, to_string(tensors.front().dtype()),
                              to_string(t.dtype())));
}

std::size_t normalize_axis(const char* op, int axis, const Shape& shape) {
  const int n = static_cast<int>(shape.size());
  const int a = axis < 0 ? axis + n : axis;
  if (a < 0 || a >= n)
    throw Error(fmt::format("{}: axis {} out of range for shape {}", op, axis, shape_str(shape)));
  return static_cast<std::size_t>(a);
}

}  // namespace tg

namespace tg {

void record(const char* op, const Tensor& out, const std::vector<Tensor>& inputs, Saves saves,
            Formula formula) {
  auto node = std::make_shared<Node>();
  node->op = op;
  node->formula = std::move(formula);
  detail::attach_node(node, out.impl(), inputs, saves.inputs, saves.output);
}

}  // namespace tg
