// nn::LayerNorm and nn::MultiheadAttention: PyTorch 1.13 parity (outputs, attention weights and
// every gradient, from tests/fixtures/attention_fixtures.py), gradchecks, masks and errors.
#include <catch2/catch.hpp>

#include <fstream>
#include <map>

#include "tapegrad/autograd/gradcheck.hpp"
#include "tapegrad/autograd/ops.hpp"
#include "compare.hpp"
#include "tapegrad/nn/attention.hpp"
#include "tapegrad/nn/layer_norm.hpp"
#include "tapegrad/nn/npz.hpp"
#include "test_checks.hpp"

using namespace tg;
using tg::testing::load_params;

namespace {

const std::string kDir = std::string(TAPEGRAD_FIXTURES_DIR) + "/attention/";

std::size_t integer(const nn::Archive& a, const std::string& key) {
  return static_cast<std::size_t>(a.integers.at(key).data.at(0));
}

Tensor leaf(const Tensor& t) {
  return Tensor::from_vector(t.to_vector(), t.shape(), DType::Float64, true);
}

Tensor mask_of(const nn::Archive& a, const std::string& key) {
  if (!a.integers.count(key)) return Tensor();
  const Indices& m = a.integers.at(key);
  return Tensor::from_vector(std::vector<double>(m.data.begin(), m.data.end()), m.shape,
                             DType::Float64);
}

// The largest relative error over all comparisons of one fixture; each must be under 1e-9.
double compare_all(const nn::Archive& a, const std::map<std::string, Tensor>& results,
                   nn::Module& m, const std::map<std::string, Tensor>& inputs) {
  double worst = 0.0;
  auto compare = [&](const std::string& what, const Tensor& ours, const Tensor& theirs) {
    INFO(what);
    REQUIRE(ours.shape() == theirs.shape());
    const double rel = tg::testing::max_rel_error(ours.to_vector(), theirs.to_vector(), 1e-6);
    tg::testing::raise_to(worst, rel);
    CHECK(rel < 1e-9);
  };
  Tensor loss;
  for (const auto& [name, value] : results) {
    compare(name, value, a.tensors.at(name));
    const Tensor term = sum(value * a.tensors.at("proj/" + name));
    loss = loss.defined() ? loss + term : term;
  }
  loss.backward();
  for (const auto& [name, t] : m.named_parameters())
    compare("grad " + name, t.grad_tensor(), a.tensors.at("grads/" + name));
  for (const auto& [name, t] : inputs)
    compare("grad " + name, t.grad_tensor(), a.tensors.at("grads/" + name));
  return worst;
}

double check_layer_norm(const nn::Archive& a) {
  const Indices& shape = a.integers.at("normalized_shape");
  nn::LayerNorm ln(nn::LayerNormOptions(Shape(shape.data.begin(), shape.data.end()))
                       .eps(a.tensors.at("eps").item())
                       .elementwise_affine(integer(a, "elementwise_affine") != 0));
  load_params(ln, a);
  const Tensor x = leaf(a.tensors.at("input"));
  return compare_all(a, {{"output", ln(x)}}, ln, {{"input", x}});
}

double check_attention(const nn::Archive& a) {
  nn::MultiheadAttention mha(nn::MultiheadAttentionOptions(integer(a, "embed_dim"), integer(a, "num_heads"))
                                 .batch_first(integer(a, "batch_first") != 0)
                                 .bias(integer(a, "bias") != 0));
  load_params(mha, a);
  std::map<std::string, Tensor> in;
  for (const char* key : {"query", "key", "value"})
    if (a.tensors.count(key)) in[key] = leaf(a.tensors.at(key));
  const bool self = integer(a, "self_attention") != 0;
  const Tensor& q = in.at("query");
  nn::AttentionArgs args;
  args.key_padding_mask = mask_of(a, "key_padding_mask");
  args.attn_mask = mask_of(a, "attn_mask");
  args.average_attn_weights = integer(a, "average_attn_weights") != 0;
  const nn::AttentionOutput out =
      self ? mha(q, q, q, args) : mha(q, in.at("key"), in.at("value"), args);
  return compare_all(a, {{"output", out.output}, {"weights", out.weights}}, mha, in);
}

}  // namespace

TEST_CASE("LayerNorm and MultiheadAttention match PyTorch 1.13 in float64", "[attention][parity]") {
  std::ifstream index(kDir + "index.txt");
  REQUIRE(index);
  std::vector<std::string> names;
  for (std::string line; std::getline(index, line);)
    if (!line.empty()) names.push_back(line);
  REQUIRE(names.size() == 5);
  for (const std::string& name : names) {
    DYNAMIC_SECTION(name) {
      const nn::Archive a = nn::load_npz(kDir + name + ".npz");
      const std::string kind = a.strings.at("kind");
      const double worst = kind == "layer_norm" ? check_layer_norm(a) : check_attention(a);
      WARN(name << ": max relative error against PyTorch " << worst);
    }
  }
}

TEST_CASE("LayerNorm and MultiheadAttention pass gradcheck, parameters included", "[attention][gradcheck]") {
  Generator gen(7);
  SECTION("LayerNorm") {
    nn::LayerNorm ln({4});
    ln.to(DType::Float64);
    for (const Tensor& p : ln.parameters()) {
      const Tensor r = Tensor::uniform(p.shape(), 0.5, 1.5, DType::Float64, gen);
      p.mutable_value<double>() = r.value<double>();
    }
    const Tensor x = Tensor::uniform({3, 4}, -2, 2, DType::Float64, gen).set_requires_grad();
    std::vector<Tensor> wrt = ln.parameters();
    wrt.push_back(x);
    const GradcheckReport r = gradcheck([&] { return ln(x); }, wrt);
    INFO(r.message());
    CHECK(r.ok);
  }
  SECTION("MultiheadAttention with both masks") {
    nn::MultiheadAttention mha(nn::MultiheadAttentionOptions(4, 2).batch_first(true), gen);
    mha.to(DType::Float64);
    for (const auto& [name, p] : mha.named_parameters())
      if (name.find("bias") != std::string::npos) {
        const Tensor r = Tensor::uniform(p.shape(), -0.5, 0.5, DType::Float64, gen);
        p.mutable_value<double>() = r.value<double>();
      }
    const Tensor q = Tensor::uniform({2, 3, 4}, -1, 1, DType::Float64, gen).set_requires_grad();
    const Tensor kv = Tensor::uniform({2, 4, 4}, -1, 1, DType::Float64, gen).set_requires_grad();
    nn::AttentionArgs args;
    args.key_padding_mask = Tensor::from_vector({0, 0, 0, 1, 0, 0, 1, 1}, {2, 4}, DType::Float64);
    args.attn_mask = Tensor::from_vector({0, 1, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0}, {3, 4}, DType::Float64);
    std::vector<Tensor> wrt = mha.parameters();
    wrt.push_back(q);
    wrt.push_back(kv);
    const GradcheckReport r = gradcheck([&] {
      const nn::AttentionOutput o = mha(q, kv, kv, args);
      return concat({reshape(o.output, {-1}), reshape(o.weights, {-1})});
    }, wrt);
    INFO(r.message());
    CHECK(r.ok);
  }
}

TEST_CASE("MultiheadAttention: names, shapes, masks and errors", "[attention]") {
  nn::MultiheadAttention mha(8, 2);
  std::vector<std::string> names;
  for (const auto& [name, t] : mha.named_parameters()) names.push_back(name);
  CHECK(names == std::vector<std::string>{"in_proj_weight", "in_proj_bias", "out_proj.weight", "out_proj.bias"});
  CHECK(mha.in_proj_weight().shape() == Shape{24, 8});
  const Tensor x = Tensor::uniform({5, 3, 8}, -1, 1);  // [L, B, E]
  nn::AttentionArgs args;
  args.key_padding_mask = Tensor::from_vector({0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1}, {3, 5});
  const nn::AttentionOutput o = mha(x, x, x, args);
  CHECK(o.output.shape() == Shape{5, 3, 8});
  REQUIRE(o.weights.shape() == Shape{3, 5, 5});
  // Padded keys get no weight; each query's weights sum to 1.
  const std::vector<double> w = o.weights.to_vector();
  for (std::size_t q = 0; q < 5; ++q) {
    CHECK(w[(0 * 5 + q) * 5 + 4] == 0.0);
    CHECK(w[(2 * 5 + q) * 5 + 3] == 0.0);
    double total = 0;
    for (std::size_t k = 0; k < 5; ++k) total += w[(1 * 5 + q) * 5 + k];
    CHECK(total == Approx(1.0));
  }
  CHECK(mha(x).shape() == Shape{5, 3, 8});  // self-attention through Module::operator()
  args.key_padding_mask = Tensor::zeros({5, 3});
  CHECK_THROWS_WITH(mha(x, x, x, args), Catch::Contains("key_padding_mask [5,3] must be [3,5]"));
  CHECK_THROWS_WITH(nn::MultiheadAttention(6, 4), Catch::Contains("multiple of num_heads"));
}
