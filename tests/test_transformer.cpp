// nn::TransformerEncoder / Decoder and their layers: PyTorch 1.13 state_dicts load by name and
// give PyTorch's outputs (float32 to 1e-5; float64 values and every gradient, masks included, to
// 1e-9; tests/fixtures/transformer_fixtures.py), gradcheck, names, modes and errors.
#include <catch2/catch.hpp>

#include <cmath>
#include <fstream>
#include <map>
#include <memory>

#include "compare.hpp"
#include "tapegrad/autograd/gradcheck.hpp"
#include "tapegrad/autograd/ops.hpp"
#include "tapegrad/nn/npz.hpp"
#include "tapegrad/nn/transformer.hpp"

using namespace tg;

namespace {

const std::string kDir = std::string(TAPEGRAD_FIXTURES_DIR) + "/transformer/";

std::size_t integer(const nn::Archive& a, const std::string& key) {
  return static_cast<std::size_t>(a.integers.at(key).data.at(0));
}

nn::TransformerLayerOptions layer_options(const nn::Archive& a) {
  return nn::TransformerLayerOptions(integer(a, "d_model"), integer(a, "nhead"))
      .dim_feedforward(integer(a, "dim_feedforward"))
      .activation(a.strings.at("activation") == "gelu" ? nn::TransformerActivation::GELU
                                                       : nn::TransformerActivation::ReLU)
      .layer_norm_eps(a.tensors.at("layer_norm_eps").item())
      .batch_first(integer(a, "batch_first") != 0)
      .norm_first(integer(a, "norm_first") != 0);
}

// A fixture's input, float mask or bool mask; float64 float tensors become leaves whose
// gradients are compared (they join `leaves`).
Tensor input(const nn::Archive& a, const std::string& key, DType dtype,
             std::map<std::string, Tensor>& leaves) {
  const Tensor& t = a.tensors.at(key);
  if (dtype == DType::Float32) return t;
  return leaves[key] = Tensor::from_vector(t.to_vector(), t.shape(), DType::Float64, true);
}

nn::AttentionMask mask(const nn::Archive& a, const std::string& key, DType dtype,
                       std::map<std::string, Tensor>& leaves) {
  if (a.tensors.count(key)) return input(a, key, dtype, leaves);
  if (!a.integers.count(key)) return {};
  const Indices& m = a.integers.at(key);
  return BoolMask(std::vector<std::uint8_t>(m.data.begin(), m.data.end()), m.shape);
}

// Loads, runs and compares one fixture; returns the worst error (absolute in float32, relative
// in float64).
double check_stack(const nn::Archive& a) {
  const bool f32 = a.strings.at("dtype") == "float32";
  const DType dtype = f32 ? DType::Float32 : DType::Float64;
  const nn::TransformerStackOptions options =
      nn::TransformerStackOptions(layer_options(a), integer(a, "num_layers"))
          .norm(integer(a, "final_norm") != 0);
  std::unique_ptr<nn::Module> model;
  std::map<std::string, Tensor> leaves;
  Tensor out;
  if (a.strings.at("kind") == "encoder") {
    auto enc = std::make_unique<nn::TransformerEncoder>(options);
    enc->eval();
    enc->to(dtype);
    std::map<std::string, Tensor> state;
    for (const auto& [key, t] : a.tensors)
      if (key.rfind("params/", 0) == 0) state[key.substr(7)] = t;
    enc->load_state_dict(state);  // strict: every PyTorch name, and only those
    out = (*enc)(input(a, "src", dtype, leaves), mask(a, "src_mask", dtype, leaves),
                 mask(a, "src_key_padding_mask", dtype, leaves));
    model = std::move(enc);
  } else {
    auto dec = std::make_unique<nn::TransformerDecoder>(options);
    dec->eval();
    dec->to(dtype);
    std::map<std::string, Tensor> state;
    for (const auto& [key, t] : a.tensors)
      if (key.rfind("params/", 0) == 0) state[key.substr(7)] = t;
    dec->load_state_dict(state);
    out = (*dec)(input(a, "tgt", dtype, leaves), input(a, "memory", dtype, leaves),
                 mask(a, "tgt_mask", dtype, leaves), mask(a, "memory_mask", dtype, leaves),
                 mask(a, "tgt_key_padding_mask", dtype, leaves),
                 mask(a, "memory_key_padding_mask", dtype, leaves));
    model = std::move(dec);
  }
  const Tensor& expected = a.tensors.at("output");
  REQUIRE(out.dtype() == dtype);
  REQUIRE(out.shape() == expected.shape());
  if (f32) {
    const double err = testing::max_abs_diff(out.to_vector(), expected.to_vector());
    CHECK(err < 1e-5);
    return err;
  }
  double worst = 0.0;
  auto compare = [&](const std::string& what, const Tensor& ours, const std::string& key) {
    INFO(what);
    const Tensor& theirs = a.tensors.at(key);
    REQUIRE(ours.defined());
    REQUIRE(ours.shape() == theirs.shape());
    const double rel = testing::max_rel_error(ours.to_vector(), theirs.to_vector(), 1e-6);
    testing::raise_to(worst, rel);
    CHECK(rel < 1e-9);
  };
  compare("output", out, "output");
  sum(out * a.tensors.at("proj/output")).backward();
  std::size_t params = 0;
  for (const auto& [name, p] : model->named_parameters()) {
    compare("grad " + name, p.grad_tensor(), "grads/" + name);
    ++params;
  }
  CHECK(params > 0);
  for (const auto& [name, t] : leaves) compare("grad " + name, t.grad_tensor(), "grads/" + name);
  return worst;
}

std::vector<std::string> names_of(const nn::Module& m) {
  std::vector<std::string> names;
  for (const auto& [name, t] : m.named_parameters()) names.push_back(name);
  return names;
}

}  // namespace

TEST_CASE("TransformerEncoder and TransformerDecoder load PyTorch 1.13 state_dicts and match it",
          "[transformer][parity]") {
  std::ifstream index(kDir + "index.txt");
  REQUIRE(index);
  std::vector<std::string> names;
  for (std::string line; std::getline(index, line);)
    if (!line.empty()) names.push_back(line);
  REQUIRE(names.size() == 10);
  for (const std::string& name : names) {
    DYNAMIC_SECTION(name) {
      const double worst = check_stack(nn::load_npz(kDir + name + ".npz"));
      WARN(name << ": max error against PyTorch " << worst);
    }
  }
}

TEST_CASE("Transformer layers have PyTorch's parameter names", "[transformer]") {
  const std::vector<std::string> attention{"in_proj_weight", "in_proj_bias", "out_proj.weight",
                                           "out_proj.bias"};
  auto prefixed = [](const std::string& prefix, const std::vector<std::string>& names) {
    std::vector<std::string> out;
    for (const std::string& n : names) out.push_back(prefix + n);
    return out;
  };
  auto join = [](std::vector<std::string> a, const std::vector<std::string>& b) {
    a.insert(a.end(), b.begin(), b.end());
    return a;
  };
  const std::vector<std::string> feed_forward{"linear1.weight", "linear1.bias", "linear2.weight",
                                              "linear2.bias"};
  const std::vector<std::string> encoder_layer =
      join(join(prefixed("self_attn.", attention), feed_forward),
           {"norm1.weight", "norm1.bias", "norm2.weight", "norm2.bias"});
  const nn::TransformerLayerOptions o = nn::TransformerLayerOptions(8, 2).dim_feedforward(16);
  CHECK(names_of(nn::TransformerEncoderLayer(o)) == encoder_layer);
  const std::vector<std::string> decoder_layer =
      join(join(join(prefixed("self_attn.", attention), prefixed("multihead_attn.", attention)),
                feed_forward),
           {"norm1.weight", "norm1.bias", "norm2.weight", "norm2.bias", "norm3.weight", "norm3.bias"});
  CHECK(names_of(nn::TransformerDecoderLayer(o)) == decoder_layer);
  CHECK(names_of(nn::TransformerEncoder(o, 2, true)) ==
        join(join(prefixed("layers.0.", encoder_layer), prefixed("layers.1.", encoder_layer)),
             {"norm.weight", "norm.bias"}));
  CHECK(names_of(nn::TransformerDecoder(o, 1)) == prefixed("layers.0.", decoder_layer));
  // Tensor names carry the full path (DOT graphs), the stack being built bottom-up.
  const nn::TransformerEncoder enc(o, 2);
  CHECK(enc.named_parameters().back().second.name() == "layers.1.norm2.bias");
  // Defaults are PyTorch's.
  const nn::TransformerLayerOptions d(512, 8);
  CHECK(d.dim_feedforward() == 2048);
  CHECK(d.dropout() == 0.1);
  CHECK(d.activation() == nn::TransformerActivation::ReLU);
  CHECK(d.layer_norm_eps() == 1e-5);
  CHECK_FALSE(d.batch_first());
  CHECK_FALSE(d.norm_first());
}

TEST_CASE("TransformerEncoderLayer and TransformerDecoderLayer pass gradcheck", "[transformer][gradcheck]") {
  Generator gen(5);
  for (const bool norm_first : {false, true}) {
    DYNAMIC_SECTION((norm_first ? "pre-LN" : "post-LN")) {
      const nn::TransformerLayerOptions o = nn::TransformerLayerOptions(4, 2)
                                                .dim_feedforward(6)
                                                .dropout(0.0)
                                                .activation(nn::TransformerActivation::GELU)
                                                .norm_first(norm_first);
      nn::TransformerEncoderLayer enc(o, gen);
      nn::TransformerDecoderLayer dec(o, gen);
      for (nn::Module* m : std::vector<nn::Module*>{&enc, &dec}) {
        m->to(DType::Float64);
        for (const auto& [name, p] : m->named_parameters())  // biases and norms away from 0 / 1
          if (name.find("bias") != std::string::npos || name.find("norm") != std::string::npos) {
            const Tensor r = Tensor::uniform(p.shape(), -0.5, 0.5, DType::Float64, gen);
            p.mutable_value<double>() += r.value<double>();
          }
      }
      const Tensor src = Tensor::uniform({3, 2, 4}, -1, 1, DType::Float64, gen).set_requires_grad();
      const Tensor memory = Tensor::uniform({4, 2, 4}, -1, 1, DType::Float64, gen).set_requires_grad();
      const Tensor causal = nn::generate_square_subsequent_mask(3, DType::Float64);
      const BoolMask padding({0, 0, 0, 0, 1, 1}, {2, 3});
      const BoolMask memory_padding({0, 0, 0, 0, 0, 0, 0, 1}, {2, 4});
      {
        std::vector<Tensor> wrt = enc.parameters();
        wrt.push_back(src);
        const GradcheckReport r = gradcheck([&] { return enc(src, causal, padding); }, wrt);
        INFO("encoder layer: " << r.message());
        CHECK(r.ok);
      }
      {
        std::vector<Tensor> wrt = dec.parameters();
        wrt.push_back(src);
        wrt.push_back(memory);
        const GradcheckReport r = gradcheck(
            [&] { return dec(src, memory, causal, {}, padding, memory_padding); }, wrt);
        INFO("decoder layer: " << r.message());
        CHECK(r.ok);
      }
    }
  }
}

TEST_CASE("Transformer layers: dropout in training mode only, shapes, errors", "[transformer]") {
  manual_seed(3);
  nn::TransformerEncoder enc(nn::TransformerLayerOptions(8, 2).dim_feedforward(16).batch_first(true), 2);
  const Tensor x = Tensor::uniform({2, 5, 8}, -1, 1);
  CHECK(enc.is_training());
  const std::vector<double> train1 = enc(x).to_vector(), train2 = enc(x).to_vector();
  CHECK(testing::max_abs_diff(train1, train2) > 1e-3);  // fresh dropout masks
  enc.eval();
  const Tensor e1 = enc(x), e2 = enc(x, nn::generate_square_subsequent_mask(5));
  CHECK(e1.shape() == Shape{2, 5, 8});
  CHECK(testing::max_abs_diff(e1.to_vector(), enc(x).to_vector()) == 0.0);
  CHECK(testing::max_abs_diff(e1.to_vector(), e2.to_vector()) > 1e-3);  // the mask matters
  CHECK_THROWS_WITH(nn::TransformerEncoderLayer(6, 4),
                    Catch::Contains("TransformerEncoderLayer: d_model 6 must be a positive multiple of nhead 4"));
  CHECK_THROWS_WITH(enc(Tensor::uniform({2, 5, 6}, -1, 1)),
                    Catch::Contains("TransformerEncoderLayer: src must be [batch, time, d_model] with d_model 8 last, got [2,5,6]"));
  nn::TransformerDecoder dec(nn::TransformerLayerOptions(8, 2).dim_feedforward(16), 1);
  dec.eval();
  const Tensor tgt = Tensor::uniform({3, 2, 8}, -1, 1), memory = Tensor::uniform({4, 2, 8}, -1, 1);
  CHECK(dec(tgt, memory).shape() == Shape{3, 2, 8});
  CHECK_THROWS_WITH(dec(tgt, Tensor::uniform({4, 8}, -1, 1)),
                    Catch::Contains("TransformerDecoderLayer: memory must be [time, batch, d_model]"));
  CHECK_THROWS_WITH(dec(tgt, memory, BoolMask(Tensor::zeros({4, 4}))),
                    Catch::Contains("attn_mask [4,4] must be [3,3]"));
}

TEST_CASE("TransformerEncoder: a fully padded sequence stays finite (PyTorch gives NaN)", "[transformer]") {
  nn::TransformerEncoder enc(nn::TransformerLayerOptions(8, 2).dim_feedforward(16).dropout(0.0), 2);
  const Tensor x = Tensor::uniform({4, 2, 8}, -1, 1).set_requires_grad();  // [S, B, E]
  const BoolMask padding({0, 0, 1, 1, 1, 1, 1, 1}, {2, 4});  // batch element 1: all padding
  const Tensor y = enc(x, nn::generate_square_subsequent_mask(4), padding);
  sum(y).backward();
  for (double v : y.to_vector()) REQUIRE(std::isfinite(v));
  for (double g : x.grad_tensor().to_vector()) REQUIRE(std::isfinite(g));
}
