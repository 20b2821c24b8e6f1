// gradcheck: compares analytic gradients with central finite differences, in float64.
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
  std::string message() const;
};

// Checks d f / d t for every t in wrt (all float64 and requiring grad). f is evaluated many
// times and must be deterministic (reseed any dropout inside it).
GradcheckReport gradcheck(const std::function<Tensor()>& f, const std::vector<Tensor>& wrt,
                          const GradcheckOptions& options = {});

// A sample case for an op: inputs of the given shapes are drawn in float64 and f is checked
// with respect to all of them. Each op family lists its cases beside its ops.
struct GradcheckCase {
  enum class Domain { Any, Positive, AwayFromZero };
  std::string op;     // the op name recorded on the tape
  std::string label;  // what the case covers ("broadcast row", "size-1 axis", ...)
  std::vector<Shape> shapes;
  std::function<Tensor(const std::vector<Tensor>&)> f;
  Domain domain = Domain::Any;
};

// Every registered case of every op family.
const std::vector<GradcheckCase>& gradcheck_cases();
// The names of all ops that have cases; a tape node with any other name is an unchecked op.
std::vector<std::string> gradchecked_ops();

// Draws a case's inputs and runs gradcheck on it.
GradcheckReport run_gradcheck_case(const GradcheckCase& c, const GradcheckOptions& options = {});

}  // namespace tg
