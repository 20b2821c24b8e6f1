// gradcheck: analytic gradients by one backward pass, numeric ones by central differences.
#include "tapegrad/autograd/gradcheck.hpp"

#include <fmt/format.h>

#include <cmath>

#include "tapegrad/autograd/ops/elementwise.hpp"
#include "tapegrad/autograd/ops/reduction.hpp"
#include "tapegrad/autograd/tape.hpp"

namespace tg {

std::string GradcheckReport::message() const {
  return fmt::format(
      "{}: {} elements{}, max abs error {:.3g}, max rel error {:.3g}, rel norm error {:.3g}; "
      "worst at {}[{}] ({}): analytic {:.10g}, numeric {:.10g}",
      ok ? "gradcheck passed" : "gradcheck FAILED", elements_checked,
      formula_checked ? " (raw kernels and formulas)" : " (raw kernels; no formula)", max_abs_error,
      max_rel_error, rel_norm_error, worst_tensor, worst_index, worst_path, worst_analytic,
      worst_numeric);
}

namespace {

void check_wrt(const char* caller, const std::vector<Tensor>& wrt) {
  for (std::size_t i = 0; i < wrt.size(); ++i) {
    const Tensor& t = wrt[i];
    if (!t.defined() || t.dtype() != DType::Float64)
      throw Error(fmt::format("{}: input {} must be a float64 tensor", caller, i));
    if (!t.requires_grad() || !t.is_leaf())
      throw Error(fmt::format("{}: input {} must be a leaf that requires grad", caller, i));
  }
}

// Whether every node of out's graph has a formula (the fused recurrent kernels have none).
bool all_formulas(const Tensor& out) {
  for (const auto& node : graph_nodes({out}))
    if (!node->formula) return false;
  return true;
}

using Gradients = std::vector<std::vector<double>>;

// d/d wrt of sum(out * projection): by the raw kernels, or by the formulas (create_graph).
Gradients analytic_gradients(const Tensor& out, const Tensor& projection,
                             const std::vector<Tensor>& wrt, bool by_formulas) {
  Gradients result(wrt.size());
  std::vector<Tensor> grads(wrt.size());
  if (out.requires_grad())
    grads = grad({out}, wrt, {projection}, true, by_formulas, true);
  for (std::size_t i = 0; i < wrt.size(); ++i)
    result[i] = grads[i].defined() ? grads[i].to_vector() : std::vector<double>(wrt[i].size(), 0.0);
  return result;
}

// Compares both analytic gradients with central differences of L = sum(f() * R). `recording`:
// f must record even while it is perturbed (it differentiates inside, as gradgradcheck's does).
GradcheckReport check(const std::function<Tensor()>& f, const std::vector<Tensor>& wrt,
                      const GradcheckOptions& options, bool recording) {
  const Tensor out = f();
  if (out.dtype() != DType::Float64) throw Error("gradcheck: f must return a float64 tensor");
  Generator gen(options.seed);
  const Tensor projection = Tensor::uniform(out.shape(), -1.0, 1.0, DType::Float64, gen);
  std::vector<Gradients> analytic{analytic_gradients(out, projection, wrt, false)};
  const char* paths[] = {"raw kernel", "formula"};
  if (!out.requires_grad() || all_formulas(out))
    analytic.push_back(analytic_gradients(out, projection, wrt, true));

  GradModeGuard mode(recording);
  const auto& r = projection.value<double>();
  auto loss = [&] {
    const Tensor o = f();
    const auto& v = o.value<double>();
    if (v.size() != r.size()) throw Error("gradcheck: f's output changed shape between calls");
    double s = 0.0;
    for (std::size_t k = 0; k < v.size(); ++k) s += v.data()[k] * r.data()[k];
    return s;
  };

  GradcheckReport report;
  double worst_excess = -INFINITY, num_sq = 0.0;
  std::vector<double> diff_sq(analytic.size(), 0.0);  // per path
  for (std::size_t i = 0; i < wrt.size(); ++i) {
    // Perturbed in place without counting as a write: the values are restored before anything
    // recorded from them is differentiated.
    double* values = wrt[i].impl().get<double>().value.data();
    for (std::size_t j = 0; j < wrt[i].size(); ++j) {
      const double saved = values[j];
      values[j] = saved + options.eps;
      const double plus = loss();
      values[j] = saved - options.eps;
      const double minus = loss();
      values[j] = saved;
      const double numeric = (plus - minus) / (2.0 * options.eps);
      num_sq += numeric * numeric;
      for (std::size_t p = 0; p < analytic.size(); ++p) {
        const double a = analytic[p][i][j];
        const double abs_error = std::abs(a - numeric);
        const double excess = abs_error - (options.atol + options.rtol * std::abs(numeric));
        report.elements_checked += p == 0;
        report.max_abs_error = std::max(report.max_abs_error, abs_error);
        report.max_rel_error =
            std::max(report.max_rel_error, abs_error / std::max(std::abs(numeric), options.atol));
        diff_sq[p] += abs_error * abs_error;
        if (!(excess <= 0.0)) report.ok = false;  // also catches NaN
        if (excess > worst_excess || std::isnan(excess)) {
          worst_excess = std::isnan(excess) ? INFINITY : excess;
          report.worst_tensor = wrt[i].name().empty() ? fmt::format("input {}", i) : wrt[i].name();
          report.worst_index = j;
          report.worst_analytic = a;
          report.worst_numeric = numeric;
          report.worst_path = paths[p];
        }
      }
    }
  }
  report.formula_checked = analytic.size() > 1;
  for (double d : diff_sq)
    report.rel_norm_error =
        std::max(report.rel_norm_error, num_sq > 0.0 ? std::sqrt(d / num_sq) : std::sqrt(d));
  return report;
}

}  // namespace

GradcheckReport gradcheck(const std::function<Tensor()>& f, const std::vector<Tensor>& wrt,
                          const GradcheckOptions& options) {
  check_wrt("gradcheck", wrt);
  return check(f, wrt, options, false);
}

GradcheckReport gradgradcheck(const std::function<Tensor()>& f, const std::vector<Tensor>& wrt,
                              const GradcheckOptions& options) {
  check_wrt("gradgradcheck", wrt);
  // h = sum_i sum(dL/dwrt_i * V_i), L = sum(f() * R): its gradient is the Hessian of L times V,
  // which gradcheck compares with central differences of h (of first derivatives).
  Generator gen(options.seed + 7);
  const Tensor first = f();
  const Tensor projection = Tensor::uniform(first.shape(), -1.0, 1.0, DType::Float64, gen);
  std::vector<Tensor> directions;
  for (const Tensor& t : wrt)
    directions.push_back(Tensor::uniform(t.shape(), -1.0, 1.0, DType::Float64, gen));
  auto h = [&]() -> Tensor {
    const Tensor out = f();
    if (!out.requires_grad()) return Tensor::scalar(0.0, DType::Float64);
    const std::vector<Tensor> grads = grad({out}, wrt, {projection}, true, true, true);
    Tensor total = Tensor::scalar(0.0, DType::Float64);
    for (std::size_t i = 0; i < wrt.size(); ++i)
      if (grads[i].defined()) total = total + sum(grads[i] * directions[i]);
    return total;
  };
  return check(h, wrt, options, true);
}

namespace {

std::vector<Tensor> case_inputs(const GradcheckCase& c, const GradcheckOptions& options) {
  Generator gen(options.seed + 1);
  std::vector<Tensor> inputs;
  for (std::size_t i = 0; i < c.shapes.size(); ++i) {
    Tensor t = Tensor::zeros(c.shapes[i], DType::Float64);
    for (double& x : t.mutable_value<double>()) {
      const double u = gen.uniform();
      switch (c.domain) {
        case GradcheckCase::Domain::Any: x = 2.0 * u - 1.0; break;
        case GradcheckCase::Domain::Positive: x = 0.5 + 1.5 * u; break;
        case GradcheckCase::Domain::AwayFromZero:
          x = (gen.uniform() < 0.5 ? -1.0 : 1.0) * (0.3 + u);
          break;
      }
    }
    t.set_requires_grad(true).set_name(fmt::format("{} input {}", c.op, i));
    inputs.push_back(t);
  }
  return inputs;
}

}  // namespace

GradcheckReport run_gradcheck_case(const GradcheckCase& c, const GradcheckOptions& options) {
  const std::vector<Tensor> inputs = case_inputs(c, options);
  return gradcheck([&] { return c.f(inputs); }, inputs, options);
}

GradcheckReport run_gradgradcheck_case(const GradcheckCase& c, const GradcheckOptions& options) {
  const std::vector<Tensor> inputs = case_inputs(c, options);
  return gradgradcheck([&] { return c.f(inputs); }, inputs, options);
}

}  // namespace tg
