// Gradients of gradients (create_graph): Hessian-vector products against finite differences and
// PyTorch 1.13 (tests/fixtures/higher_order_fixtures.py), third derivatives against closed forms,
// a WGAN-GP critic step, gradgradcheck over every op, in-place writes refused, and the refusals.
#include <catch2/catch.hpp>

#include <cmath>
#include <fstream>
#include <functional>
#include <map>
#include <optional>
#include <type_traits>

#include "op_cases.hpp"
#include "compare.hpp"
#include "tapegrad/autograd/function.hpp"
#include "tapegrad/autograd/gradcheck.hpp"
#include "tapegrad/autograd/ops.hpp"
#include "tapegrad/nn/nn.hpp"
#include "tapegrad/nn/npz.hpp"
#include "tapegrad/optim/optimizers.hpp"
#include "test_checks.hpp"

using namespace tg;
using tg::testing::rel_norm_error;

namespace {

const std::string kDir = std::string(TAPEGRAD_FIXTURES_DIR) + "/higher_order/";

Tensor leaf(const Tensor& t) {
  return Tensor::from_vector(t.to_vector(), t.shape(), DType::Float64, true);
}

// Loads params/<prefix><name> into m's parameters (float64).
void load_prefixed(nn::Module& m, const nn::Archive& a, const std::string& prefix) {
  m.to(DType::Float64);
  std::map<std::string, Tensor> state;
  for (const auto& [key, t] : a.tensors)
    if (key.rfind("params/" + prefix, 0) == 0) state[key.substr(7 + prefix.size())] = t;
  m.load_state_dict(state);
}

// Hessian of loss() times v, by create_graph: d/dp sum_i grad_i . v_i.
std::vector<Tensor> hvp(const std::function<Tensor()>& loss, const std::vector<Tensor>& wrt,
                        const std::vector<Tensor>& v) {
  const std::vector<Tensor> g = grad({loss()}, wrt, {}, std::nullopt, /*create_graph=*/true);
  Tensor dot = Tensor::scalar(0.0, DType::Float64);
  for (std::size_t i = 0; i < wrt.size(); ++i) dot = dot + sum(g[i] * v[i]);
  return grad({dot}, wrt);
}

// The same by central differences of the gradient along v.
std::vector<Tensor> hvp_numeric(const std::function<Tensor()>& loss,
                                const std::vector<Tensor>& wrt, const std::vector<Tensor>& v,
                                double eps = 1e-5) {
  auto shifted_gradient = [&](double step) {
    for (std::size_t i = 0; i < wrt.size(); ++i) wrt[i].mutable_value<double>() += step * v[i].value<double>();
    const std::vector<Tensor> g = grad({loss()}, wrt);
    for (std::size_t i = 0; i < wrt.size(); ++i) wrt[i].mutable_value<double>() -= step * v[i].value<double>();
    return g;
  };
  const std::vector<Tensor> plus = shifted_gradient(eps), minus = shifted_gradient(-eps);
  std::vector<Tensor> result;
  for (std::size_t i = 0; i < wrt.size(); ++i)
    result.push_back(Tensor(xt::xarray<double>((plus[i].value<double>() - minus[i].value<double>()) / (2 * eps))));
  return result;
}

// Checks a fixture's gradients and Hessian-vector products: ours against PyTorch's (1e-9) and
// against finite differences of our gradients (1e-6, the bound).
void check_hvp_fixture(const nn::Archive& a, const std::function<Tensor()>& loss,
                       const std::vector<std::pair<std::string, Tensor>>& wrt) {
  std::vector<Tensor> tensors, v;
  for (const auto& [name, t] : wrt) {
    tensors.push_back(t);
    v.push_back(a.tensors.at("v/" + name));
  }
  CHECK(loss().item() == Approx(a.tensors.at("loss").item()).epsilon(1e-12));
  const std::vector<Tensor> first = grad({loss()}, tensors);
  const std::vector<Tensor> ours = hvp(loss, tensors, v);
  const std::vector<Tensor> numeric = hvp_numeric(loss, tensors, v);
  for (std::size_t i = 0; i < wrt.size(); ++i) {
    const std::string& name = wrt[i].first;
    INFO(name);
    CHECK(rel_norm_error(first[i].to_vector(), a.tensors.at("grads/" + name).to_vector()) < 1e-10);
    const std::vector<double> reference = a.tensors.at("hvp/" + name).to_vector();
    const double vs_pytorch = rel_norm_error(ours[i].to_vector(), reference);
    const double vs_numeric = rel_norm_error(ours[i].to_vector(), numeric[i].to_vector());
    INFO("against PyTorch " << vs_pytorch << ", against finite differences " << vs_numeric);
    CHECK(vs_pytorch < 1e-9);
    CHECK(vs_numeric < 1e-6);
  }
}

}  // namespace

TEST_CASE("grad and backward take libtorch's arguments in libtorch's order", "[higher_order]") {
  // torch::autograd::grad(outputs, inputs, grad_outputs, retain_graph, create_graph, allow_unused)
  using GradFn = std::vector<Tensor> (*)(const std::vector<Tensor>&, const std::vector<Tensor>&,
                                         const std::vector<Tensor>&, std::optional<bool>, bool, bool);
  static_assert(std::is_same_v<decltype(&tg::grad), GradFn>);
  // torch::autograd::backward(tensors, grad_tensors, retain_graph, create_graph)
  using BackwardFn = void (*)(const std::vector<Tensor>&, const std::vector<Tensor>&,
                              std::optional<bool>, bool);
  static_assert(std::is_same_v<decltype(static_cast<BackwardFn>(&tg::backward)), BackwardFn>);
  // Tensor::backward(gradient, retain_graph, create_graph)
  using MemberFn = void (Tensor::*)(const Tensor&, std::optional<bool>, bool) const;
  static_assert(std::is_same_v<decltype(&Tensor::backward), MemberFn>);

  // create_graph defaults retain_graph to true, as in PyTorch: the forward graph survives.
  const Tensor x = Tensor::from_vector({0.5, -1.0, 2.0}, {3}, DType::Float64, true);
  const Tensor y = sum(x * x * x);
  const Tensor g = grad({y}, {x}, {}, std::nullopt, true)[0];  // 3 x^2
  tg::testing::check_values(g, {0.75, 3.0, 12.0}, 1e-12);
  CHECK(g.requires_grad());
  CHECK_NOTHROW(grad({y}, {x}, {}, true));  // still there
  const Tensor gg = grad({sum(g)}, {x})[0];  // 6 x
  tg::testing::check_values(gg, {3.0, -6.0, 12.0}, 1e-12);
  // That one released what it ran, the forward's nodes included, as PyTorch does.
  CHECK_THROWS_WITH(grad({y}, {x}), Catch::Contains("retain_graph"));
}

TEST_CASE("backward with create_graph leaves a gradient on the tape", "[higher_order]") {
  const Tensor x = Tensor::from_vector({0.5, -1.0, 2.0}, {3}, DType::Float64, true);
  sum(x * x * x).backward(Tensor(), std::nullopt, /*create_graph=*/true);
  tg::testing::check_values(Tensor(x.grad<double>()), {0.75, 3.0, 12.0}, 1e-12);
  const Tensor g = x.grad_tensor();  // 3 x^2, differentiable
  REQUIRE(g.requires_grad());
  const Tensor penalty = sum(g * g);  // sum 9 x^4: d/dx = 36 x^3
  x.zero_grad();
  penalty.backward();
  tg::testing::check_values(Tensor(x.grad<double>()), {4.5, -36.0, 288.0}, 1e-9);
}

TEST_CASE("third derivatives match closed forms", "[higher_order]") {
  SECTION("tanh") {
    const Tensor x = Tensor::from_vector({-1.5, -0.2, 0.0, 0.7, 2.0}, {5}, DType::Float64, true);
    const Tensor d1 = grad({sum(tanh(x))}, {x}, {}, std::nullopt, true)[0];
    const Tensor d2 = grad({sum(d1)}, {x}, {}, std::nullopt, true)[0];
    const Tensor d3 = grad({sum(d2)}, {x})[0];
    std::vector<double> expected;
    for (double v : x.to_vector()) {
      const double t = std::tanh(v);
      expected.push_back(-2.0 * (1 - t * t) * (1 - 3 * t * t));  // tanh''' = -2 sech^2 (1 - 3 tanh^2)
    }
    CHECK(rel_norm_error(d3.to_vector(), expected) < 1e-12);
    // Shown failing once: expecting tanh'' here gives a relative error of order 1.
  }
  SECTION("a composite of tanh, exp, pow and sigmoid (PyTorch fixture)") {
    const nn::Archive a = nn::load_npz(kDir + "third_derivative_composite.npz");
    const Tensor x = leaf(a.tensors.at("input"));
    auto f = [&] { return sum(tanh(x) * exp(x * 0.5) + pow(x, 3.0) * sigmoid(x)); };
    const Tensor d1 = grad({f()}, {x}, {}, std::nullopt, true)[0];
    const Tensor d2 = grad({sum(d1)}, {x}, {}, std::nullopt, true)[0];
    const Tensor d3 = grad({sum(d2)}, {x})[0];
    CHECK(rel_norm_error(d1.to_vector(), a.tensors.at("d1").to_vector()) < 1e-12);
    CHECK(rel_norm_error(d2.to_vector(), a.tensors.at("d2").to_vector()) < 1e-12);
    CHECK(rel_norm_error(d3.to_vector(), a.tensors.at("d3").to_vector()) < 1e-12);
  }
}

TEST_CASE("Hessian-vector products match PyTorch and finite differences", "[higher_order][parity]") {
  SECTION("tanh MLP") {
    const nn::Archive a = nn::load_npz(kDir + "hvp_tanh_mlp.npz");
    nn::Sequential mlp({std::make_shared<nn::Linear>(3, 5), std::make_shared<nn::Tanh>(),
                        std::make_shared<nn::Linear>(5, 2)});
    load_prefixed(mlp, a, "");
    const Tensor x = leaf(a.tensors.at("input"));
    const Tensor proj = a.tensors.at("proj");
    auto loss = [&] {
      const Tensor out = mlp(x);
      return sum(out * proj) + sum(out * out);
    };
    std::vector<std::pair<std::string, Tensor>> wrt;
    for (const auto& [name, p] : mlp.named_parameters()) wrt.emplace_back(name, p);
    wrt.emplace_back("input", x);
    check_hvp_fixture(a, loss, wrt);
  }
  SECTION("log_softmax and cross-entropy") {
    const nn::Archive a = nn::load_npz(kDir + "hvp_cross_entropy.npz");
    nn::Linear fc(6, 4);
    load_prefixed(fc, a, "");
    const Tensor x = leaf(a.tensors.at("input"));
    const Indices& target = a.integers.at("target");
    auto loss = [&] { return cross_entropy(fc(x), target); };
    check_hvp_fixture(a, loss, {{"weight", fc.weight()}, {"bias", fc.bias()}, {"input", x}});
  }
  SECTION("layer_norm and attention") {
    const nn::Archive a = nn::load_npz(kDir + "hvp_layer_norm_attention.npz");
    nn::LayerNorm norm(nn::LayerNormOptions({4}));
    nn::MultiheadAttention attn(nn::MultiheadAttentionOptions(4, 2).batch_first(true));
    load_prefixed(norm, a, "norm.");
    load_prefixed(attn, a, "attn.");
    const Tensor x = leaf(a.tensors.at("input"));
    const Tensor proj = a.tensors.at("proj");
    auto loss = [&] {
      const Tensor y = norm(x);
      const Tensor out = attn(y, y, y).output;
      return sum(out * proj) + sum(out * out) * 0.5;
    };
    std::vector<std::pair<std::string, Tensor>> wrt;
    for (const auto& [name, p] : norm.named_parameters()) wrt.emplace_back("norm." + name, p);
    for (const auto& [name, p] : attn.named_parameters()) wrt.emplace_back("attn." + name, p);
    wrt.emplace_back("input", x);
    check_hvp_fixture(a, loss, wrt);
  }
}

TEST_CASE("a WGAN-GP critic step gives PyTorch's parameter gradients", "[higher_order][parity]") {
  const nn::Archive a = nn::load_npz(kDir + "wgan_gp.npz");
  nn::Sequential critic({std::make_shared<nn::Linear>(2, 8), std::make_shared<nn::Tanh>(),
                         std::make_shared<nn::Linear>(8, 8), std::make_shared<nn::Tanh>(),
                         std::make_shared<nn::Linear>(8, 1)});
  load_prefixed(critic, a, "");
  const Tensor real = a.tensors.at("real"), fake = a.tensors.at("fake");
  const Tensor alpha = a.tensors.at("alpha");
  const double lambda = a.tensors.at("lambda").item();
  // The gradient penalty: the critic's input gradient at interpolates, kept on the tape.
  const Tensor interp = leaf(Tensor(xt::xarray<double>(alpha.value<double>() * real.value<double>() +
                                                       (1.0 - alpha.value<double>()) * fake.value<double>())));
  const Tensor g = grad({sum(critic(interp))}, {interp}, {}, std::nullopt, true)[0];
  const Tensor gp = mean(pow(sqrt(sum(g * g, {1})) - 1.0, 2.0));
  const Tensor loss = mean(critic(fake)) - mean(critic(real)) + lambda * gp;
  loss.backward();
  CHECK(rel_norm_error(g.to_vector(), a.tensors.at("input_grad").to_vector()) < 1e-12);
  CHECK(gp.item() == Approx(a.tensors.at("gp").item()).epsilon(1e-12));
  CHECK(loss.item() == Approx(a.tensors.at("loss").item()).epsilon(1e-12));
  for (const auto& [name, p] : critic.named_parameters()) {
    INFO(name);
    const std::vector<double> reference = a.tensors.at("grads/" + name).to_vector();
    CHECK(tg::testing::max_abs_diff(p.grad_tensor().to_vector(), reference) < 1e-12);
  }
}

TEST_CASE("every registered op passes gradgradcheck in float64", "[higher_order][gradcheck]") {
  const auto& cases = tg::testing::op_cases();
  REQUIRE(!cases.empty());
  for (const GradcheckCase& c : cases) {
    DYNAMIC_SECTION(c.op << ": " << c.label) {
      const GradcheckReport report = run_gradgradcheck_case(c);
      INFO(report.message());
      CHECK(report.ok);
      CHECK(report.formula_checked);
      CHECK(report.elements_checked > 0);
    }
  }
}

TEST_CASE("gradgradcheck fails on a formula that is right once but not twice", "[higher_order][gradcheck]") {
  // x^3 whose formula takes 3 x^2 as a constant: the gradient is right, its own gradient is not
  // (it misses 6 x g). gradcheck cannot see that; gradgradcheck must.
  auto cube = [](const Tensor& x, bool detached) {
    Tensor y(xt::xarray<double>(xt::pow(x.value<double>(), 3.0)));
    record("cube", y, {x}, saves_inputs, [detached](const Tensor& g, const Inputs& in, const Tensor&) -> Grads {
      if (detached)
        return {g * constant_from([](const auto& v) { return 3.0 * v * v; }, in[0])};
      return {g * 3.0 * in[0] * in[0]};
    });
    return y;
  };
  const Tensor x = Tensor::uniform({3, 4}, 0.5, 1.5, DType::Float64).set_requires_grad();
  CHECK(gradgradcheck([&] { return cube(x, false); }, {x}).ok);
  CHECK(gradcheck([&] { return cube(x, true); }, {x}).ok);
  const GradcheckReport wrong = gradgradcheck([&] { return cube(x, true); }, {x});
  INFO(wrong.message());
  CHECK_FALSE(wrong.ok);
  CHECK(wrong.rel_norm_error > 0.5);
}

TEST_CASE("a tensor written in place after an op saved it is refused at backward", "[higher_order][inplace]") {
  const Tensor x = Tensor::from_vector({1, 2, 3}, {3}, DType::Float32, true);
  SECTION("the issue's case: y = x * x, then x written") {
    const Tensor y = x * x;
    x.mutable_value<float>()(0) += 100;
    CHECK_THROWS_WITH(sum(y).backward(), Catch::Contains("'mul'") && Catch::Contains("modified in place") &&
                                             Catch::Contains("[3]"));
  }
  SECTION("reading between forward and backward changes nothing") {
    const Tensor y = x * x;
    float total = 0;
    for (float v : x.value<float>()) total += v;
    CHECK(total == 6.0f);
    CHECK(x.version() == 0);  // a new tensor, read only
    sum(y).backward();
    tg::testing::check_values(x.grad_tensor(), {2, 4, 6});
  }
  SECTION("an op that does not read its input (add) does not mind") {
    const Tensor y = x + x;
    x.mutable_value<float>()(0) += 100;
    sum(y).backward();
    tg::testing::check_values(x.grad_tensor(), {2, 2, 2});
  }
  SECTION("an output the backward reads (exp) is guarded too") {
    const Tensor y = exp(x);
    y.mutable_value<float>() *= 2.0f;
    CHECK_THROWS_WITH(sum(y).backward(), Catch::Contains("'exp'") && Catch::Contains("its output"));
  }
  SECTION("optimizer steps between steps stay legal") {
    nn::Linear fc(3, 2);
    optim::SGD sgd(fc.parameters(), optim::SGDOptions{0.1});
    for (int step = 0; step < 3; ++step) {
      sgd.zero_grad();
      sum(fc(Tensor::ones({4, 3}))).backward();
      sgd.step();
    }
    // ...but a graph recorded before a step cannot be back-propagated after it, as in PyTorch.
    const Tensor stale = sum(fc(Tensor::ones({4, 3})));
    sgd.step();
    CHECK_THROWS_WITH(stale.backward(), Catch::Contains("'linear'"));
  }
}

TEST_CASE("what has no second derivative says so", "[higher_order]") {
  SECTION("a gradient computed without create_graph names create_graph") {
    const Tensor x = Tensor::from_vector({1, 2}, {2}, DType::Float64, true);
    const Tensor g = grad({sum(x * x)}, {x})[0];
    CHECK_FALSE(g.requires_grad());
    CHECK_THROWS_WITH(sum(g * g).backward(), Catch::Contains("create_graph"));
  }
  SECTION("a fused recurrent layer is refused, naming the op-built cell path") {
    nn::RecurrentOptions options;
    options.input_size(3);
    options.hidden_size(4);
    nn::LSTM lstm(options);
    const Tensor x = Tensor::uniform({5, 2, 3}, -1, 1).set_requires_grad();
    const Tensor out = lstm(x);
    CHECK_THROWS_WITH(grad({sum(out)}, {x}, {}, std::nullopt, true),
                      Catch::Contains("no double backward") && Catch::Contains("nn::CustomCell"));
    CHECK_NOTHROW(grad({sum(out)}, {x}));  // the first derivative is untouched
  }
}
