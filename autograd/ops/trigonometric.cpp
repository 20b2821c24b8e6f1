// Element-wise sin and cos, forward and backward side by side (declared in
// tapegrad/autograd/ops/trigonometric.hpp).
#include "tapegrad/autograd/ops/trigonometric.hpp"

#include "autograd/op_registry.hpp"
#include "tapegrad/autograd/ops/elementwise.hpp"
#include "autograd/ops/elementwise_kernels.hpp"

namespace tg {

// The names this family records on the tape (autograd/op_registry.hpp).
const OpName op_sin{"sin"};
const OpName op_cos{"cos"};

// Each op: forward, then its gradient as an expression over the arrays (the raw kernel) and as
// a formula over tensors (recorded under create_graph).

Tensor sin(const Tensor& x) {
  return detail::unary(
      op_sin, x, saves_inputs, [](const auto& v) { return xt::sin(v); },
      [](const auto& g, const auto& v, const auto&) { return g * xt::cos(v); },
      [](const Tensor& g, const Tensor& v, const Tensor&) { return g * cos(v); });
}

Tensor cos(const Tensor& x) {
  return detail::unary(
      op_cos, x, saves_inputs, [](const auto& v) { return xt::cos(v); },
      [](const auto& g, const auto& v, const auto&) { return -(g * xt::sin(v)); },
      [](const Tensor& g, const Tensor& v, const Tensor&) { return -(g * sin(v)); });
}

}  // namespace tg
