// Module building blocks: buffers, BatchNorm1d against PyTorch (tests/fixtures/norm_fixtures.py),
// activation modules, ModuleList / ModuleDict, the default type_name, forward == operator().
#include <catch2/catch.hpp>

#include <fstream>

#include "compare.hpp"
#include "test_checks.hpp"
#include "tapegrad/autograd/gradcheck.hpp"
#include "tapegrad/autograd/ops.hpp"
#include "tapegrad/nn/nn.hpp"
#include "tapegrad/nn/npz.hpp"

using namespace tg;

namespace {

const std::string kDir = std::string(TAPEGRAD_FIXTURES_DIR) + "/norm/";

std::vector<std::string> fixture_names() { return tg::testing::fixture_index(kDir); }

Tensor leaf(const Tensor& t) { return tg::testing::leaf64(t); }

void require_close(const std::string& what, const Tensor& ours, const Tensor& theirs, double tol = 1e-10) {
  INFO(what);
  REQUIRE(ours.defined());
  REQUIRE(ours.shape() == theirs.shape());
  const double err = tg::testing::max_rel_error(ours.to_vector(), theirs.to_vector(), 1.0);
  INFO("max error " << err);
  CHECK(err <= tol);
}

// A model with a buffer of its own and one in a child.
struct Counter : nn::Module {
  Tensor steps, scratch;
  std::shared_ptr<nn::BatchNorm1d> norm;
  Counter() {
    steps = register_buffer("steps", Tensor::zeros({1}));
    scratch = register_buffer("scratch", Tensor::ones({2}), /*persistent=*/false);
    register_parameter("scale", Tensor::ones({3}));
    norm = register_module("norm", std::make_shared<nn::BatchNorm1d>(3));
  }
};

}  // namespace

TEST_CASE("buffers: named like parameters, in state_dict when persistent, converted, never trained", "[nn][buffers]") {
  Counter m;
  std::vector<std::string> names;
  for (const auto& [name, t] : m.named_buffers()) names.push_back(name);
  CHECK(names == std::vector<std::string>{"steps", "scratch", "norm.running_mean", "norm.running_var",
                                          "norm.num_batches_tracked"});
  std::vector<std::string> params;
  for (const auto& [name, t] : m.named_parameters()) params.push_back(name);
  CHECK(params == std::vector<std::string>{"scale", "norm.weight", "norm.bias"});
  for (const Tensor& b : m.buffers()) CHECK_FALSE(b.requires_grad());

  const auto state = m.state_dict();
  CHECK(state.count("steps") == 1);
  CHECK(state.count("scratch") == 0);  // not persistent
  CHECK(state.count("norm.running_var") == 1);
  CHECK(state.size() == 3 + 4);

  m.to(DType::Float64);
  for (const Tensor& b : m.buffers()) CHECK(b.dtype() == DType::Float64);

  auto changed = state;
  changed["norm.running_mean"] = Tensor::from_vector({1, 2, 3}, {3});
  m.load_state_dict(changed);
  CHECK(m.norm->running_mean().to_vector() == std::vector<double>{1, 2, 3});
  changed.erase("steps");
  CHECK_THROWS_WITH(m.load_state_dict(changed), Catch::Contains("missing keys: steps"));
  // A name is taken once across parameters, buffers and children.
  struct Clash : nn::Module {
    Clash() {
      register_parameter("w", Tensor::zeros({1}));
      register_buffer("w", Tensor::zeros({1}));
    }
  };
  CHECK_THROWS_WITH(Clash(), Catch::Contains("register_buffer: Clash: name 'w' is already taken"));
}

TEST_CASE("BatchNorm1d gives PyTorch's outputs, gradients, running statistics and eval outputs", "[nn][batchnorm]") {
  const auto names = fixture_names();
  REQUIRE(names.size() == 5);
  for (const auto& name : names) {
    SECTION(name) {
      const nn::Archive a = nn::load_npz(kDir + name + ".npz");
      auto integer = [&](const char* k) { return a.integers.at(k).data.at(0); };
      nn::BatchNorm1dOptions o(static_cast<std::size_t>(integer("num_features")));
      o.affine(integer("affine") != 0).track_running_stats(integer("track_running_stats") != 0)
          .eps(a.tensors.at("eps").to_vector()[0]);
      o.momentum(integer("has_momentum") ? std::optional<double>(a.tensors.at("momentum").to_vector()[0])
                                         : std::nullopt);
      nn::BatchNorm1d bn(o);
      bn.to(DType::Float64);
      if (o.affine()) {
        std::map<std::string, Tensor> params;
        for (const char* p : {"weight", "bias"}) params[p] = a.tensors.at(std::string("params/") + p);
        bn.load_state_dict(params, /*strict=*/false);
      }
      for (int k = 0; a.contains("step" + std::to_string(k) + "/input"); ++k) {
        const std::string pre = "step" + std::to_string(k) + "/";
        const Tensor x = leaf(a.tensors.at(pre + "input"));
        const Tensor out = bn(x);
        require_close(pre + "output", out, a.tensors.at(pre + "output"));
        bn.zero_grad();
        sum(out * a.tensors.at(pre + "proj")).backward();
        require_close(pre + "grads/input", x.grad_tensor(), a.tensors.at(pre + "grads/input"));
        for (const auto& [pname, p] : bn.named_parameters())
          require_close(pre + "grads/" + pname, p.grad_tensor(), a.tensors.at(pre + "grads/" + pname));
      }
      const auto state = bn.state_dict();
      for (const char* s : {"running_mean", "running_var"})
        if (o.track_running_stats()) require_close(s, state.at(s), a.tensors.at(std::string("state/") + s));
      if (o.track_running_stats())
        CHECK(state.at("num_batches_tracked").to_vector()[0] ==
              double(a.integers.at("state/num_batches_tracked").data.at(0)));
      else
        CHECK(state.count("running_mean") == 0);
      bn.eval();
      require_close("eval/output", bn(leaf(a.tensors.at("eval/input"))), a.tensors.at("eval/output"));
    }
  }
}

TEST_CASE("BatchNorm1d passes gradcheck and gradgradcheck in both modes", "[nn][batchnorm][gradcheck]") {
  Generator gen(3);
  nn::BatchNorm1d bn(nn::BatchNorm1dOptions(3).momentum(0.5));
  bn.to(DType::Float64);
  for (const Tensor& p : bn.parameters()) {
    const Tensor drawn = Tensor::uniform({3}, 0.5, 1.5, DType::Float64, gen);
    p.mutable_value<double>() = drawn.value<double>();
  }
  const Tensor x = leaf(Tensor::normal({4, 3, 2}, 0.0, 1.0, DType::Float64, gen));
  std::vector<Tensor> wrt = bn.parameters();
  wrt.push_back(x);
  for (bool training : {true, false}) {
    INFO((training ? "training" : "eval"));
    bn.train(training);
    const GradcheckReport first = gradcheck([&] { return bn(x); }, wrt);
    INFO(first.message());
    CHECK(first.ok);
    const GradcheckReport second = gradgradcheck([&] { return bn(x); }, wrt);
    INFO(second.message());
    CHECK(second.ok);
  }
}

TEST_CASE("BatchNorm1d refuses what PyTorch refuses, in one line", "[nn][batchnorm]") {
  nn::BatchNorm1d bn(4);
  CHECK_THROWS_WITH(bn(Tensor::zeros({2, 3})), "BatchNorm1d: input must be [N, 4] or [N, 4, L], got [2,3]");
  CHECK_THROWS_WITH(bn(Tensor::zeros({1, 4})),
                    "BatchNorm1d: expected more than 1 value per channel when training, got input [1,4]");
  bn.eval();
  CHECK(bn(Tensor::zeros({1, 4})).shape() == Shape{1, 4});
}

TEST_CASE("activation modules apply their op with its options", "[nn][activation]") {
  Generator gen(8);
  const Tensor x = Tensor::normal({3, 4}, 0.0, 2.0, DType::Float64, gen);
  auto same = [](const Tensor& a, const Tensor& b) { return a.to_vector() == b.to_vector(); };
  CHECK(same(nn::GELU()(x), gelu(x)));
  CHECK(same(nn::GELU(GeluApproximation::Tanh)(x), gelu(x, GeluApproximation::Tanh)));
  CHECK(same(nn::SiLU()(x), silu(x)));
  CHECK(same(nn::LeakyReLU(0.2)(x), leaky_relu(x, 0.2)));
  CHECK(same(nn::ELU(0.5)(x), elu(x, 0.5)));
  CHECK(same(nn::Softplus(2.0, 3.0)(x), softplus(x, 2.0, 3.0)));
  CHECK(same(nn::Softmax(0)(x), softmax(x, 0)));
  CHECK(same(nn::LogSoftmax(-1)(x), log_softmax(x, -1)));
  CHECK(same(nn::Identity()(x), x));
  CHECK(nn::GELU().type_name() == "GELU");
  // A function with options, bound by a lambda.
  nn::Activation swish("Swish", [](const Tensor& t) { return silu(t); });
  CHECK(same(swish(x), silu(x)));
  nn::Sequential seq{std::make_shared<nn::Linear>(4, 5), std::make_shared<nn::GELU>(),
                     std::make_shared<nn::Linear>(5, 2)};
  CHECK(seq(Tensor::zeros({3, 4})).shape() == Shape{3, 2});
  CHECK_THAT(seq.summary({3, 4}), Catch::Contains("1 (GELU)"));
}

TEST_CASE("ModuleList and ModuleDict name their children as PyTorch does", "[nn][containers]") {
  struct Stack : nn::Module {
    std::shared_ptr<nn::ModuleList> layers;
    std::shared_ptr<nn::ModuleDict> heads;
    Stack() {
      layers = register_module("layers", std::make_shared<nn::ModuleList>());
      for (int i = 0; i < 2; ++i) layers->push_back(std::make_shared<nn::Linear>(3, 3));
      heads = register_module("heads", std::make_shared<nn::ModuleDict>());
      heads->insert("tag", std::make_shared<nn::Linear>(3, 5));
      heads->insert("lang", std::make_shared<nn::Linear>(3, 2, false));
    }
  };
  Stack s;
  std::vector<std::string> names;
  for (const auto& [name, t] : s.named_parameters()) names.push_back(name);
  CHECK(names == std::vector<std::string>{"layers.0.weight", "layers.0.bias", "layers.1.weight", "layers.1.bias",
                                          "heads.tag.weight", "heads.tag.bias", "heads.lang.weight"});
  CHECK(s.layers->size() == 2);
  CHECK(s.layers->as<nn::Linear>(1)->out_features() == 3);
  CHECK(s.heads->keys() == std::vector<std::string>{"tag", "lang"});
  CHECK_THROWS_WITH((*s.layers)[2], "ModuleList: index 2 out of range for 2 modules");
  CHECK_THROWS_WITH(s.layers->as<nn::GELU>(0), "ModuleList: module 0 is a Linear, not the type asked for");
  CHECK_THROWS_WITH((*s.heads)["pos"], "ModuleDict: no module 'pos' (keys: tag, lang)");
  CHECK(s.type_name() == "Stack");  // the default: the class's own name
}

TEST_CASE("forward and operator() compute the same, in any precision scope", "[nn]") {
  struct Square : nn::Module {
    Tensor forward(const Tensor& x) override { return x * x; }
  };
  Square sq;
  const Tensor x = Tensor::from_vector({1, 2, 3}, {3});
  CHECK(sq(x).to_vector() == sq.forward(x).to_vector());
  nn::Linear lin(3, 2);
  lin.set_matmul_precision(MatmulPrecision::BFloat16);
  CHECK(lin(x).to_vector() == lin.forward(x).to_vector());
}
