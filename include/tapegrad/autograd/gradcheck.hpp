// gradcheck and gradgradcheck: analytic first and second derivatives against central finite
// differences, in float64.
//
// Why float64: in float32 no step size separates a correct gradient from a 1%-wrong one reliably;
// in float64 with h = 1e-6 the gap is over four orders of magnitude. Tensors carry their dtype at
// run time and every op runs in both float32 and float64, so checking a model means converting it
// (Module::to(DType::Float64)) and its inputs, with no second build of anything.
//
// f may return a tensor of any shape; gradcheck checks the scalar L = sum(f() * R) for a fixed
// random R, so every output element and every input element is covered.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "tapegrad/autograd/tensor.hpp"

namespace tg {

struct GradcheckOptions {
  double eps = 1e-6;   // finite-difference step
  double atol = 1e-6;  // element passes if |analytic - numeric| <= atol + rtol * |numeric|
  double rtol = 1e-4;  // ten times stricter than PyTorch's defaults
  std::uint64_t seed = 1234;  // for the output projection R
};

struct GradcheckReport {
  bool ok = true;
  std::size_t elements_checked = 0;
  double max_abs_error = 0.0;
  double max_rel_error = 0.0;  // |a - n| / max(|n|, atol)
  double rel_norm_error = 0.0;  // ||a - n|| / ||n|| over all checked elements
  // The worst element (largest excess over the tolerance):
  std::string worst_tensor;  // name if set, else "input <i>"
  std::size_t worst_index = 0;
  double worst_analytic = 0.0;
  double worst_numeric = 0.0;
  std::string worst_path;       // "raw kernel" or "formula": which analytic gradient it was
  bool formula_checked = false;  // every node had a formula, so both paths were checked
  std::string message() const;
};

// Checks d f / d t for every t in wrt (all float64 and requiring grad). f is evaluated many
// times and must be deterministic (reseed any dropout inside it). Both analytic gradients are
// checked: the ordinary backward (raw kernels where ops have them) and the ops' formulas (as
// create_graph runs them), unless a node has no formula (the fused recurrent kernels).
GradcheckReport gradcheck(const std::function<Tensor()>& f, const std::vector<Tensor>& wrt,
                          const GradcheckOptions& options = {});

// Checks second derivatives the same way (torch.autograd.gradgradcheck): the gradient, taken
// with create_graph, of h = sum_i sum(dL/dt_i * V_i) (L = sum(f() * R), V_i fixed random
// directions), i.e. Hessian-vector products, against central differences of h.
GradcheckReport gradgradcheck(const std::function<Tensor()>& f, const std::vector<Tensor>& wrt,
                              const GradcheckOptions& options = {});

// A sample case for an op: inputs of the given shapes are drawn in float64 and f is checked
// with respect to all of them. The library's cases are registered by its tests.
struct GradcheckCase {
  enum class Domain { Any, Positive, AwayFromZero };
  std::string op;     // the op name recorded on the tape
  std::string label;  // what the case covers ("broadcast row", "size-1 axis", ...)
  std::vector<Shape> shapes;
  std::function<Tensor(const std::vector<Tensor>&)> f;
  Domain domain = Domain::Any;
};

// Draws a case's inputs and runs gradcheck (gradgradcheck) on it.
GradcheckReport run_gradcheck_case(const GradcheckCase& c, const GradcheckOptions& options = {});
GradcheckReport run_gradgradcheck_case(const GradcheckCase& c,
                                       const GradcheckOptions& options = {});

}  // namespace tg
