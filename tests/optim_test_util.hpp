// Shared helpers of the optim tests: setting gradients, a least-squares problem, a schedule rig,
// state-dict comparison and the fixtures' number lists.
#pragma once

#include <catch2/catch.hpp>

#include <cmath>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "tapegrad/autograd/function.hpp"
#include "tapegrad/autograd/ops.hpp"
#include "tapegrad/optim/optim.hpp"
#include "compare.hpp"

namespace optim_test {

using tg::DType;
using tg::Tensor;
using StateDict = std::map<std::string, Tensor>;

// Makes `values` the gradient of t, as if a backward pass had produced it.
inline void set_grad(const Tensor& t, const std::vector<double>& values) {
  const Tensor g = Tensor::from_vector(values, t.shape(), t.dtype());
  t.zero_grad();
  tg::dispatch(t.dtype(), [&](auto s) {
    using T = decltype(s);
    tg::accumulate_grad<T>(t, g.value<T>());
  });
}

// The rest of a fixture line as numbers.
inline std::vector<double> read_values(std::istringstream& in) {
  std::vector<double> v;
  std::string tok;
  while (in >> tok) v.push_back(std::stod(tok));  // stod reads "nan"/"inf" too
  return v;
}

// y = x W*^T + b* without noise, so the optimum of the mean squared error is exactly (W*, b*).
struct LeastSquares {
  Tensor x, y, w, b;
  std::vector<double> w_star{1.5, -2.0, 0.5, -0.7, 0.3, 1.2}, b_star{0.3, -0.1};

  explicit LeastSquares(DType dtype, double init = 0.0) {
    tg::Generator gen(1234);
    x = Tensor::normal({64, 3}, 0, 1, dtype, gen);
    y = tg::linear(x, Tensor::from_vector(w_star, {2, 3}, dtype),
                   Tensor::from_vector(b_star, {2}, dtype));
    w = Tensor::full({2, 3}, init, dtype, true);
    b = Tensor::full({2}, init, dtype, true);
  }
  tg::nn::NamedTensors params() const { return {{"fc.weight", w}, {"fc.bias", b}}; }
  double backward() const {
    const Tensor loss = tg::mse_loss(tg::linear(x, w, b), y);
    loss.backward();
    return loss.item();
  }
  // Largest distance to the optimum; +inf if a parameter went NaN or infinite.
  double distance() const {
    return std::max(tg::testing::max_abs_diff(w.to_vector(), w_star),
                    tg::testing::max_abs_diff(b.to_vector(), b_star));
  }
};

// An SGD with one parameter per group at the given learning rates, for driving schedules.
struct ScheduleRig {
  std::vector<Tensor> params;
  std::unique_ptr<tg::optim::SGD> opt;
  explicit ScheduleRig(const std::vector<double>& lrs) {
    std::vector<tg::optim::ParamGroupSpec> groups;
    for (std::size_t g = 0; g < lrs.size(); ++g) {
      params.push_back(Tensor::zeros({1}, DType::Float32, true));
      groups.push_back({{{"p" + std::to_string(g), params.back()}}, lrs[g], std::nullopt});
    }
    opt = std::make_unique<tg::optim::SGD>(std::move(groups), tg::optim::SGDOptions{1.0});
  }
  std::vector<double> lrs() const {
    std::vector<double> out;
    for (const tg::optim::ParamGroup& g : opt->param_groups()) out.push_back(g.lr);
    return out;
  }
};

// Element-wise equality that treats NaN as equal to NaN (initial_lr is NaN without a scheduler).
inline bool same_values(const Tensor& a, const Tensor& b) {
  if (a.dtype() != b.dtype() || a.shape() != b.shape()) return false;
  const auto x = a.to_vector(), y = b.to_vector();
  for (std::size_t i = 0; i < x.size(); ++i)
    if (!(x[i] == y[i] || (std::isnan(x[i]) && std::isnan(y[i])))) return false;
  return true;
}

inline void check_same_state(const StateDict& a, const StateDict& b) {
  REQUIRE(a.size() == b.size());
  for (const auto& [key, t] : a) {
    INFO("key " << key);
    REQUIRE(b.count(key));
    CHECK(same_values(t, b.at(key)));
  }
}

}  // namespace optim_test
