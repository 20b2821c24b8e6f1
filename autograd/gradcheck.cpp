// gradcheck: analytic gradients by one backward pass, numeric ones by central differences.
#include "tapegrad/autograd/gradcheck.hpp"

#include <fmt/format.h>

#include <cmath>
#include <set>

#include "autograd/ops/families.hpp"
#include "tapegrad/autograd/tape.hpp"

namespace tg {

std::string GradcheckReport::message() const {
  return fmt::format(
      "{}: {} elements, max abs error {:.3g}, max rel error {:.3g}, rel norm error {:.3g}; worst "
      "at {}[{}]: analytic {:.10g}, numeric {:.10g}",
      ok ? "gradcheck passed" : "gradcheck FAILED", elements_checked, max_abs_error,
      max_rel_error, rel_norm_error, worst_tensor, worst_index, worst_analytic, worst_numeric);
}

GradcheckReport gradcheck(const std::function<Tensor()>& f, const std::vector<Tensor>& wrt,
                          const GradcheckOptions& options) {
  for (std::size_t i = 0; i < wrt.size(); ++i) {
    const Tensor& t = wrt[i];
    if (!t.defined() || t.dtype() != DType::Float64)
      throw Error(fmt::format("gradcheck: input {} must be a float64 tensor", i));
    if (!t.requires_grad() || !t.is_leaf())
      throw Error(fmt::format("gradcheck: input {} must be a leaf that requires grad", i));
  }

  // Analytic: one backward with seed R, i.e. the gradient of L = sum(f() * R).
  for (const Tensor& t : wrt) t.zero_grad();
  const Tensor out = f();
  if (out.dtype() != DType::Float64) throw Error("gradcheck: f must return a float64 tensor");
  Generator gen(options.seed);
  const Tensor projection = Tensor::uniform(out.shape(), -1.0, 1.0, DType::Float64, gen);
  std::vector<std::vector<double>> analytic(wrt.size());
  if (out.requires_grad()) {
    out.backward(projection);
    for (std::size_t i = 0; i < wrt.size(); ++i)
      analytic[i] = wrt[i].has_grad() ? Tensor(wrt[i].grad<double>()).to_vector()
                                      : std::vector<double>(wrt[i].size(), 0.0);
  } else {
    for (std::size_t i = 0; i < wrt.size(); ++i) analytic[i].assign(wrt[i].size(), 0.0);
  }
  for (const Tensor& t : wrt) t.zero_grad();

  // Numeric: central differences of L, without recording.
  NoGradGuard no_grad;
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
  double worst_excess = -INFINITY, diff_sq = 0.0, num_sq = 0.0;
  for (std::size_t i = 0; i < wrt.size(); ++i) {
    double* values = wrt[i].value<double>().data();
    for (std::size_t j = 0; j < wrt[i].size(); ++j) {
      const double saved = values[j];
      values[j] = saved + options.eps;
      const double plus = loss();
      values[j] = saved - options.eps;
      const double minus = loss();
      values[j] = saved;
      const double numeric = (plus - minus) / (2.0 * options.eps);
      const double a = analytic[i][j];
      const double abs_error = std::abs(a - numeric);
      const double excess = abs_error - (options.atol + options.rtol * std::abs(numeric));
      report.elements_checked++;
      report.max_abs_error = std::max(report.max_abs_error, abs_error);
      report.max_rel_error =
          std::max(report.max_rel_error, abs_error / std::max(std::abs(numeric), options.atol));
      diff_sq += abs_error * abs_error;
      num_sq += numeric * numeric;
      if (!(excess <= 0.0)) report.ok = false;  // also catches NaN
      if (excess > worst_excess || std::isnan(excess)) {
        worst_excess = std::isnan(excess) ? INFINITY : excess;
        report.worst_tensor = wrt[i].name().empty() ? fmt::format("input {}", i) : wrt[i].name();
        report.worst_index = j;
        report.worst_analytic = a;
        report.worst_numeric = numeric;
      }
    }
  }
  report.rel_norm_error = num_sq > 0.0 ? std::sqrt(diff_sq / num_sq) : std::sqrt(diff_sq);
  return report;
}

const std::vector<GradcheckCase>& gradcheck_cases() {
  static const std::vector<GradcheckCase> cases = [] {
    std::vector<GradcheckCase> all;
    add_op_family_cases(all);
    return all;
  }();
  return cases;
}

std::vector<std::string> gradchecked_ops() {
  std::set<std::string> names;
  for (const auto& c : gradcheck_cases()) names.insert(c.op);
  return {names.begin(), names.end()};
}

GradcheckReport run_gradcheck_case(const GradcheckCase& c, const GradcheckOptions& options) {
  Generator gen(options.seed + 1);
  std::vector<Tensor> inputs;
  for (std::size_t i = 0; i < c.shapes.size(); ++i) {
    Tensor t = Tensor::zeros(c.shapes[i], DType::Float64);
    for (double& x : t.value<double>()) {
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
  return gradcheck([&] { return c.f(inputs); }, inputs, options);
}

}  // namespace tg
