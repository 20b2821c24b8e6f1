// tg::optim optimizers and clipping: five steps of each against PyTorch 1.13, convergence on least
// squares, option checks. (State dicts and resumption: test_optim_state.cpp; schedules:
// test_lr_scheduler.cpp; all in the test_optim executable.)
#include <catch2/catch.hpp>

#include <cmath>
#include <fstream>
#include <functional>
#include <limits>
#include <memory>
#include <sstream>

#include "optim_test_util.hpp"

using namespace tg;
using namespace tg::optim;
using namespace optim_test;

namespace {

using Options = std::map<std::string, double>;

double get(const Options& o, const std::string& key, double fallback) {
  const auto it = o.find(key);
  return it == o.end() ? fallback : it->second;
}

// ---- optim_steps.txt ----------------------------------------------------------------------

struct StepCase {
  std::string name;
  DType dtype = DType::Float64;
  std::string optimizer;
  Options options;
  struct Group {
    double lr, weight_decay;
    std::vector<std::string> params;
  };
  std::vector<Group> groups;
  std::vector<std::string> param_names;
  std::map<std::string, Shape> shapes;
  std::map<std::string, std::vector<double>> initial;
  std::map<std::pair<int, std::string>, std::vector<double>> grads, after;
};

std::vector<StepCase> load_step_cases() {
  std::ifstream file(TAPEGRAD_FIXTURES_DIR "/optim_steps.txt");
  REQUIRE(file.good());
  std::vector<StepCase> cases;
  std::string line;
  while (std::getline(file, line)) {
    std::istringstream in(line);
    std::string what;
    in >> what;
    if (what == "case") {
      cases.emplace_back();
      std::string dtype;
      in >> cases.back().name >> dtype;
      cases.back().dtype = dtype == "float32" ? DType::Float32 : DType::Float64;
      continue;
    }
    if (what == "end" || what.empty()) continue;
    StepCase& c = cases.back();
    if (what == "optimizer") {
      in >> c.optimizer;
    } else if (what == "option") {
      std::string key, value;
      in >> key >> value;
      c.options[key] = std::stod(value);
    } else if (what == "group") {
      StepCase::Group g;
      std::string lr, wd, name;
      in >> lr >> wd;
      g.lr = std::stod(lr);
      g.weight_decay = std::stod(wd);
      while (in >> name) g.params.push_back(name);
      c.groups.push_back(g);
    } else if (what == "param") {
      std::string name;
      std::size_t ndim = 0;
      in >> name >> ndim;
      Shape shape(ndim);
      for (auto& d : shape) in >> d;
      c.param_names.push_back(name);
      c.shapes[name] = shape;
      c.initial[name] = read_values(in);
    } else if (what == "grad" || what == "after") {
      int step = 0;
      std::string name;
      in >> step >> name;
      (what == "grad" ? c.grads : c.after)[{step, name}] = read_values(in);
    } else {
      FAIL("optim_steps.txt: unexpected line: " << line);
    }
  }
  return cases;
}

std::unique_ptr<Optimizer> make_optimizer(const std::string& kind, const Options& o,
                                          std::vector<ParamGroupSpec> groups) {
  const std::pair<double, double> betas{get(o, "beta1", 0.9), get(o, "beta2", 0.999)};
  if (kind == "sgd")
    return std::make_unique<SGD>(
        std::move(groups), SGDOptions{get(o, "lr", NAN), get(o, "momentum", 0),
                                      get(o, "dampening", 0), get(o, "weight_decay", 0),
                                      get(o, "nesterov", 0) != 0});
  if (kind == "adam")
    return std::make_unique<Adam>(
        std::move(groups), AdamOptions{get(o, "lr", 1e-3), betas, get(o, "eps", 1e-8),
                                       get(o, "weight_decay", 0), get(o, "amsgrad", 0) != 0});
  if (kind == "adamw")
    return std::make_unique<AdamW>(
        std::move(groups), AdamWOptions{get(o, "lr", 1e-3), betas, get(o, "eps", 1e-8),
                                        get(o, "weight_decay", 1e-2), get(o, "amsgrad", 0) != 0});
  if (kind == "rmsprop")
    return std::make_unique<RMSprop>(
        std::move(groups),
        RMSpropOptions{get(o, "lr", 1e-2), get(o, "alpha", 0.99), get(o, "eps", 1e-8),
                       get(o, "weight_decay", 0), get(o, "momentum", 0), get(o, "centered", 0) != 0});
  if (kind == "adagrad")
    return std::make_unique<Adagrad>(
        std::move(groups),
        AdagradOptions{get(o, "lr", 1e-2), get(o, "lr_decay", 0), get(o, "weight_decay", 0),
                       get(o, "initial_accumulator_value", 0), get(o, "eps", 1e-10)});
  FAIL("unknown optimizer " << kind);
  return nullptr;
}

// Largest |a - b| / |b| over the elements (b from PyTorch, never 0 in these fixtures); +inf if
// any value is NaN or infinite (tests/compare.hpp), so an optimizer that produces NaN fails.
using tg::testing::max_rel_error;

}  // namespace

// Every configuration runs twice: float64 parameters against PyTorch in float64, and float32
// parameters against PyTorch in float32 (same initial values and gradients, rounded). The brief's
// bound is 1e-6 relative; the loops in fact reproduce PyTorch's bits.
TEST_CASE("five steps of every optimizer and option match PyTorch 1.13", "[optim][fixtures]") {
  const std::vector<StepCase> cases = load_step_cases();
  REQUIRE(cases.size() == 42);  // 21 configurations, float64 and float32
  double worst64 = 0, worst32 = 0;
  std::string inexact;  // cases not equal to PyTorch bit for bit
  for (const StepCase& c : cases) {
    bool exact = true;
    INFO("case " << c.name << " " << to_string(c.dtype));
    std::map<std::string, Tensor> params;
    for (const std::string& name : c.param_names)
      params[name] = Tensor::from_vector(c.initial.at(name), c.shapes.at(name), c.dtype, true);
    std::vector<ParamGroupSpec> groups;
    for (const StepCase::Group& g : c.groups) {
      ParamGroupSpec spec;
      for (const std::string& name : g.params) spec.params.emplace_back(name, params.at(name));
      // Give only what differs from the options, so that defaulting is exercised too.
      if (g.lr != get(c.options, "lr", NAN)) spec.lr = g.lr;
      if (g.weight_decay != get(c.options, "weight_decay", c.optimizer == "adamw" ? 1e-2 : 0))
        spec.weight_decay = g.weight_decay;
      groups.push_back(spec);
    }
    auto opt = make_optimizer(c.optimizer, c.options, std::move(groups));
    for (int step = 0; step < 5; ++step) {
      opt->zero_grad();
      for (const auto& [name, t] : params) {
        const auto it = c.grads.find({step, name});
        if (it != c.grads.end()) set_grad(t, it->second);
      }
      opt->step();
      for (const auto& [name, t] : params) {
        INFO("step " << step << " parameter " << name);
        const double err = max_rel_error(t.to_vector(), c.after.at({step, name}));
        exact = exact && err == 0;
        CHECK(err <= 1e-6);
        tg::testing::raise_to(c.dtype == DType::Float64 ? worst64 : worst32, err);
      }
    }
    // "frozen" never had a gradient: no state. "b" missed one step: one update fewer.
    CHECK(opt->state("frozen").step == 0);
    CHECK(opt->state("frozen").buffers.empty());
    CHECK(opt->state("b").step == 4);
    CHECK(opt->state("w").step == 5);
    CHECK(opt->step_count() == 5);
    if (!exact) inexact += " " + c.name + "/" + to_string(c.dtype);
  }
  INFO("largest relative difference to PyTorch: float64 " << worst64 << ", float32 " << worst32
       << "; not bit-exact:" << inexact);
  CHECK(worst64 <= 1e-14);
#ifdef __FMA__
  // With FMA the loops fuse exactly where ATen's AVX2 kernels do: PyTorch's bits, float32 too.
  CHECK(inexact.empty());
#endif
}

// ---- clipping -----------------------------------------------------------------------------

TEST_CASE("clip_grad_norm returns the total norm and scales the gradients", "[optim][clip]") {
  const Tensor a = Tensor::zeros({2}, DType::Float32, true);
  const Tensor b = Tensor::zeros({1}, DType::Float64, true);
  const Tensor none = Tensor::zeros({3}, DType::Float32, true);  // no gradient: ignored
  const nn::NamedTensors params{{"a", a}, {"b", b}, {"none", none}};
  set_grad(a, {3, -4});
  set_grad(b, {12});
  CHECK(clip_grad_norm(params, 100.0) == Approx(13.0).epsilon(1e-15));
  CHECK(a.grad_tensor().to_vector() == std::vector<double>{3, -4});  // below max_norm: untouched
  const double total = clip_grad_norm(params, 6.5);
  CHECK(total == Approx(13.0).epsilon(1e-15));
  const double coef = 6.5 / (13.0 + 1e-6);
  CHECK(a.grad<float>()(0) == static_cast<float>(3 * static_cast<float>(coef)));
  CHECK(b.grad<double>()(0) == Approx(12 * coef).epsilon(1e-15));
  CHECK(!none.has_grad());

  set_grad(a, {3, -4});
  set_grad(b, {-2});
  CHECK(clip_grad_norm(params, 1.0, inf_norm) == 4.0);
  CHECK(a.grad<float>()(1) == static_cast<float>(-4 * static_cast<float>(1.0 / (4.0 + 1e-6))));
  set_grad(a, {3, -4});
  set_grad(b, {-2});
  CHECK(clip_grad_norm(params, 100.0, 1.0) == Approx(9.0).epsilon(1e-15));
  CHECK(clip_grad_norm(params, 100.0, 3.0) == Approx(std::cbrt(27.0 + 64 + 8)).epsilon(1e-14));
  CHECK(clip_grad_norm(nn::NamedTensors{{"none", none}}, 1.0) == 0.0);
  CHECK_THROWS_WITH(clip_grad_norm(params, 1.0, 0.0), Catch::StartsWith("clip_grad_norm: norm_type"));
}

TEST_CASE("clip_grad_norm refuses a non-finite norm unless told otherwise", "[optim][clip]") {
  const Tensor a = Tensor::zeros({2}, DType::Float32, true);
  const nn::NamedTensors params{{"a", a}};
  for (const double bad : {std::numeric_limits<double>::quiet_NaN(),
                           std::numeric_limits<double>::infinity()}) {
    for (const double norm_type : {2.0, inf_norm}) {
      set_grad(a, {1, bad});
      CHECK_THROWS_WITH(clip_grad_norm(params, 1.0, norm_type),
                        Catch::StartsWith("clip_grad_norm: total norm is nan/inf"));
      CHECK(a.grad<float>()(0) == 1.0f);  // untouched
      const double total = clip_grad_norm(params, 1.0, norm_type, false);
      CHECK(!std::isfinite(total));
      CHECK(!std::isfinite(a.grad<float>()(0)) == std::isnan(bad));  // PyTorch: * NaN, or * 0
    }
  }
}

TEST_CASE("clip_grad_value clamps every gradient element", "[optim][clip]") {
  const Tensor a = Tensor::zeros({4}, DType::Float64, true);
  set_grad(a, {-3, 0.5, 2, std::numeric_limits<double>::quiet_NaN()});
  clip_grad_value(nn::NamedTensors{{"a", a}}, 1.0);
  const std::vector<double> g = a.grad_tensor().to_vector();
  CHECK(g[0] == -1);
  CHECK(g[1] == 0.5);
  CHECK(g[2] == 1);
  CHECK(std::isnan(g[3]));
  CHECK_THROWS_WITH(clip_grad_value(std::vector<Tensor>{a}, -1), Catch::StartsWith("clip_grad_value"));
}

TEST_CASE("each optimizer drives least squares to its optimum", "[optim][convergence]") {
  using Make = std::function<std::unique_ptr<Optimizer>(const nn::NamedTensors&)>;
  const std::vector<std::pair<const char*, Make>> configs{
      {"SGD", [](const nn::NamedTensors& p) { return std::make_unique<SGD>(p, SGDOptions{0.1}); }},
      {"SGD nesterov",
       [](const nn::NamedTensors& p) {
         return std::make_unique<SGD>(p, SGDOptions{0.05, 0.9, 0, 0, true});
       }},
      {"Adam", [](const nn::NamedTensors& p) { return std::make_unique<Adam>(p, AdamOptions{0.05}); }},
      {"Adam amsgrad",
       [](const nn::NamedTensors& p) {
         return std::make_unique<Adam>(p, AdamOptions{0.05, {0.9, 0.999}, 1e-8, 0, true});
       }},
      {"AdamW without decay",
       [](const nn::NamedTensors& p) {
         return std::make_unique<AdamW>(p, AdamWOptions{0.05, {0.9, 0.999}, 1e-8, 0});
       }},
      {"RMSprop",
       [](const nn::NamedTensors& p) { return std::make_unique<RMSprop>(p, RMSpropOptions{0.02}); }},
      {"RMSprop centered momentum",
       [](const nn::NamedTensors& p) {
         return std::make_unique<RMSprop>(p, RMSpropOptions{0.01, 0.99, 1e-8, 0, 0.5, true});
       }},
      {"Adagrad",
       [](const nn::NamedTensors& p) { return std::make_unique<Adagrad>(p, AdagradOptions{0.5}); }},
  };
  for (const auto& [name, make] : configs) {
    INFO(name);
    LeastSquares problem(DType::Float64);
    auto opt = make(problem.params());
    // A decaying lr lets the adaptive methods settle instead of hovering at the lr's scale.
    ExponentialLR decay(*opt, 0.995);
    const double first = problem.backward();
    for (int i = 0; i < 1500; ++i) {
      opt->step();
      decay.step();
      opt->zero_grad();
      problem.backward();
    }
    CHECK(problem.distance() < 1e-4);
    CHECK(problem.backward() < 1e-8 * first);
  }
}

TEST_CASE("zero_grad leaves step nothing to do", "[optim]") {
  LeastSquares problem(DType::Float32, 0.25);
  Adam opt(problem.params(), AdamOptions{0.1});
  problem.backward();
  opt.zero_grad();
  CHECK(!problem.w.has_grad());
  opt.step();
  CHECK(problem.w.to_vector() == std::vector<double>(6, 0.25));
  CHECK(opt.state("fc.weight").step == 0);
  CHECK(opt.step_count() == 1);
}

TEST_CASE("optimizers check their options and parameters", "[optim]") {
  const Tensor w = Tensor::ones({2}, DType::Float32, true);
  const nn::NamedTensors params{{"w", w}};
  CHECK_THROWS_WITH(SGD(params, SGDOptions{}), Catch::StartsWith("SGD: invalid learning rate: nan"));
  CHECK_THROWS_WITH(SGD(params, SGDOptions{-0.1}), Catch::StartsWith("SGD: invalid learning rate"));
  CHECK_THROWS_WITH(SGD(params, SGDOptions{0.1, 0, 0, 0, true}),
                    Catch::StartsWith("SGD: Nesterov momentum requires a momentum and zero dampening"));
  CHECK_THROWS_WITH(SGD(params, SGDOptions{0.1, -1}), Catch::StartsWith("SGD: invalid momentum"));
  CHECK_THROWS_WITH(Adam(params, AdamOptions{0.1, {1.0, 0.999}}),
                    Catch::StartsWith("Adam: invalid beta parameter at index 0"));
  CHECK_THROWS_WITH(AdamW(params, AdamWOptions{0.1, {0.9, -0.1}}),
                    Catch::StartsWith("AdamW: invalid beta parameter at index 1"));
  CHECK_THROWS_WITH(RMSprop(params, RMSpropOptions{0.1, -0.5}), Catch::StartsWith("RMSprop: invalid alpha"));
  CHECK_THROWS_WITH(Adagrad(params, AdagradOptions{0.1, -1}), Catch::StartsWith("Adagrad: invalid lr_decay"));
  CHECK_THROWS_WITH(Adam(params, AdamOptions{0.1, {0.9, 0.999}, 1e-8, -1}),
                    Catch::StartsWith("Adam: invalid weight_decay"));
  CHECK_THROWS_WITH(Adam(nn::NamedTensors{}), Catch::StartsWith("Adam: got an empty parameter list"));
  CHECK_THROWS_WITH(Adam(nn::NamedTensors{{"w", w}, {"w", Tensor::ones({2})}}),
                    Catch::Contains("parameter name 'w' appears more than once"));
  CHECK_THROWS_WITH(Adam(nn::NamedTensors{{"w", w}, {"v", w}}),
                    Catch::Contains("'v' is a tensor already given under another name"));
  CHECK_THROWS_WITH(Adam(params).state("nope"), Catch::Contains("no parameter named 'nope'"));
  AdamW adamw(params);
  CHECK(adamw.options().weight_decay == 1e-2);  // AdamW's own default
  CHECK(adamw.param_groups()[0].weight_decay == 1e-2);
  CHECK(adamw.type_name() == "AdamW");
  CHECK(Adam(params).param_groups()[0].weight_decay == 0);
}

