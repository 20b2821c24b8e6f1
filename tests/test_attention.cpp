// nn::LayerNorm and nn::MultiheadAttention: PyTorch 1.13 parity (outputs, attention weights and
// every gradient, from tests/fixtures/attention_fixtures.py), gradchecks, masks and errors.
#include <catch2/catch.hpp>

#include <cmath>
#include <fstream>
#include <limits>
#include <map>

#include "tapegrad/autograd/gradcheck.hpp"
#include "tapegrad/autograd/ops.hpp"
#include "compare.hpp"
#include "tapegrad/nn/attention.hpp"
#include "tapegrad/nn/layer_norm.hpp"
#include "tapegrad/nn/npz.hpp"
#include "test_checks.hpp"

using namespace tg;
using tg::testing::check_values;
using tg::testing::load_params;

namespace {

const std::string kDir = std::string(TAPEGRAD_FIXTURES_DIR) + "/attention/";

std::size_t integer(const nn::Archive& a, const std::string& key) {
  return static_cast<std::size_t>(a.integers.at(key).data.at(0));
}

Tensor leaf(const Tensor& t) {
  return Tensor::from_vector(t.to_vector(), t.shape(), DType::Float64, true);
}

// A fixture's mask: int64 0/1 entries are PyTorch bool masks; float64 ones are float masks,
// leaves whose gradients are compared too (they join `inputs`).
nn::AttentionMask mask_of(const nn::Archive& a, const std::string& key,
                          std::map<std::string, Tensor>& inputs) {
  if (a.tensors.count(key)) return inputs[key] = leaf(a.tensors.at(key));
  if (!a.integers.count(key)) return {};
  const Indices& m = a.integers.at(key);
  return BoolMask(std::vector<std::uint8_t>(m.data.begin(), m.data.end()), m.shape);
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
  args.key_padding_mask = mask_of(a, "key_padding_mask", in);
  args.attn_mask = mask_of(a, "attn_mask", in);
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
  REQUIRE(names.size() == 10);
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
    args.key_padding_mask = BoolMask({0, 0, 0, 1, 0, 0, 1, 1}, {2, 4});
    args.attn_mask = BoolMask({0, 1, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0}, {3, 4});
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
  args.key_padding_mask = BoolMask({0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1}, {3, 5});
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
  args.key_padding_mask = BoolMask(Tensor::zeros({5, 3}));
  CHECK_THROWS_WITH(mha(x, x, x, args), Catch::Contains("key_padding_mask [5,3] must be [3,5]"));
  CHECK_THROWS_WITH(nn::MultiheadAttention(6, 4), Catch::Contains("multiple of num_heads"));
}

TEST_CASE("MultiheadAttention: a float mask is added to the scores, as in PyTorch 1.13", "[attention]") {
  // One query, two keys with equal scores (zero weights): only the mask separates them.
  nn::MultiheadAttention mha(nn::MultiheadAttentionOptions(2, 1).batch_first(true));
  for (const Tensor& p : mha.parameters()) p.mutable_value<float>().fill(0.0f);
  const Tensor x = Tensor::uniform({1, 2, 2}, -1, 1);
  nn::AttentionArgs args;
  args.attn_mask = Tensor::from_vector({0, -0.1, 0, -0.1}, {2, 2});
  const double e = std::exp(-0.1);
  check_values(mha(x, x, x, args).weights, {1 / (1 + e), e / (1 + e), 1 / (1 + e), e / (1 + e)}, 1e-6);
  // The same as a bool mask hides key 1.
  args.attn_mask = BoolMask({false, true, false, true}, {2, 2});
  check_values(mha(x, x, x, args).weights, {1, 0, 1, 0}, 1e-7);
  // A float key padding mask is added too; -inf hides.
  args.attn_mask = {};
  args.key_padding_mask = Tensor::from_vector({-std::numeric_limits<double>::infinity(), 0.5}, {1, 2});
  check_values(mha(x, x, x, args).weights, {0, 1, 0, 1}, 1e-7);
}

TEST_CASE("MultiheadAttention refuses a float 0/1 mask with one line saying what to write", "[attention]") {
  nn::MultiheadAttention mha(4, 2);
  const Tensor x = Tensor::uniform({3, 2, 4}, -1, 1);
  nn::AttentionArgs args;
  args.attn_mask = Tensor::from_vector({0, 1, 1, 0, 0, 1, 0, 0, 0}, {3, 3});
  CHECK_THROWS_WITH(mha(x, x, x, args),
                    "MultiheadAttention: attn_mask holds only 0 and 1; a float mask is added to the "
                    "scores (PyTorch), so write tg::BoolMask(mask) to hide where 1, or use -inf");
  args.attn_mask = {};
  args.key_padding_mask = Tensor::from_vector({0, 0, 1, 0, 0, 0}, {2, 3});
  CHECK_THROWS_WITH(mha(x, x, x, args), Catch::StartsWith("MultiheadAttention: key_padding_mask holds only 0 and 1"));
  // All zeros adds nothing: accepted.
  args.key_padding_mask = Tensor::zeros({2, 3});
  CHECK(mha(x, x, x, args).output.shape() == Shape{3, 2, 4});
  args.key_padding_mask = BoolMask(Tensor::from_vector({0, 0, 1, 0, 0, 0}, {2, 3}));
  CHECK(mha(x, x, x, args).output.shape() == Shape{3, 2, 4});
  args.attn_mask = BoolMask(Tensor::zeros({4, 3, 3}));  // 3-D needs B * H = 4 rows
  CHECK(mha(x, x, x, args).output.shape() == Shape{3, 2, 4});
  args.attn_mask = BoolMask(Tensor::zeros({2, 3, 3}));
  CHECK_THROWS_WITH(mha(x, x, x, args), Catch::Contains("attn_mask [2,3,3] must be [3,3] (queries, keys) or [4,3,3]"));
}

TEST_CASE("MultiheadAttention: a query with every key hidden gets zero weights (PyTorch: NaN)", "[attention]") {
  nn::MultiheadAttention mha(nn::MultiheadAttentionOptions(4, 2).batch_first(true));
  const Tensor x = Tensor::uniform({2, 3, 4}, -1, 1).set_requires_grad();
  const double inf = std::numeric_limits<double>::infinity();
  for (const nn::AttentionMask& mask :
       {nn::AttentionMask(BoolMask({1, 1, 1, 0, 0, 0, 0, 1, 0}, {3, 3})),
        nn::AttentionMask(Tensor::from_vector({-inf, -inf, -inf, 0, 0, 0, 0, -inf, 0.2}, {3, 3}))}) {
    nn::AttentionArgs args;
    args.attn_mask = mask;
    const nn::AttentionOutput o = mha(x, x, x, args);
    const std::vector<double> w = o.weights.to_vector();
    for (std::size_t b = 0; b < 2; ++b) {
      for (std::size_t k = 0; k < 3; ++k) CHECK(w[(b * 3 + 0) * 3 + k] == 0.0);  // query 0: none
      CHECK(w[(b * 3 + 2) * 3 + 1] == 0.0);
      CHECK(w[(b * 3 + 1) * 3 + 0] + w[(b * 3 + 1) * 3 + 1] + w[(b * 3 + 1) * 3 + 2] == Approx(1.0));
    }
    sum(o.output).backward();
    for (double g : x.grad_tensor().to_vector()) REQUIRE(std::isfinite(g));
    x.zero_grad();
  }
}

TEST_CASE("generate_square_subsequent_mask is PyTorch's causal float mask", "[attention]") {
  const double inf = std::numeric_limits<double>::infinity();
  const Tensor m = nn::generate_square_subsequent_mask(3, DType::Float64);
  CHECK(m.shape() == Shape{3, 3});
  CHECK(m.to_vector() == std::vector<double>{0, -inf, -inf, 0, 0, -inf, 0, 0, 0});
  CHECK(nn::generate_square_subsequent_mask(2).dtype() == DType::Float32);
}

TEST_CASE("BoolMask: construction and checks", "[attention]") {
  const BoolMask a({true, false, true, true}, {2, 2});
  CHECK(a.shape() == Shape{2, 2});
  CHECK(a[0]);
  CHECK_FALSE(a[1]);
  CHECK(a.any());
  const BoolMask b(std::vector<std::uint8_t>{0, 3, 0}, {3});
  CHECK(b.values() == std::vector<std::uint8_t>{0, 1, 0});
  const BoolMask c(Tensor::from_vector({0.0, -0.5, 0.0}, {1, 3}));
  CHECK(c.values() == std::vector<std::uint8_t>{0, 1, 0});
  CHECK(c.to_tensor(DType::Float64).to_vector() == std::vector<double>{0, 1, 0});
  CHECK_FALSE(BoolMask().defined());
  CHECK_FALSE(BoolMask({false, false}, {2}).any());
  CHECK_THROWS_WITH(BoolMask({true, false, true}, {2, 2}), "BoolMask: 3 values do not fill shape [2,2]");
}

TEST_CASE("MultiheadAttention with a 3-D float mask passes gradcheck, mask included", "[attention][gradcheck]") {
  Generator gen(11);
  nn::MultiheadAttention mha(nn::MultiheadAttentionOptions(4, 2), gen);
  mha.to(DType::Float64);
  const Tensor x = Tensor::uniform({3, 2, 4}, -1, 1, DType::Float64, gen).set_requires_grad();
  // Finite values: finite differences cannot step a -inf (the parity fixtures cover -inf).
  const Tensor mask = Tensor::uniform({4, 3, 3}, -1, 1, DType::Float64, gen).set_requires_grad();
  nn::AttentionArgs args;
  args.attn_mask = mask;
  args.key_padding_mask = BoolMask({0, 0, 0, 0, 0, 1}, {2, 3});
  std::vector<Tensor> wrt = mha.parameters();
  wrt.push_back(x);
  wrt.push_back(mask);
  const GradcheckReport r = gradcheck([&] {
    const nn::AttentionOutput o = mha(x, x, x, args);
    return concat({reshape(o.output, {-1}), reshape(o.weights, {-1})});
  }, wrt);
  INFO(r.message());
  CHECK(r.ok);
}
