// tg::onnx: modules exported, checked by ONNX's checker and run by ONNX Runtime against
// tapegrad's own forward (100 random inputs per model, lengths varying); refusals name the op.
#include <catch2/catch.hpp>

#include <tapegrad.hpp>
#include <tapegrad/onnx/graph.hpp>
#include <tapegrad/onnx/modules.hpp>

#include <fmt/format.h>

#include "tests/onnx_support.hpp"

namespace {

using namespace tg;
using tg::testing::TempDir;
namespace ort = tg::testing::onnx_runtime;

std::vector<double> lengths_of(const std::vector<std::size_t>& lengths) {
  return std::vector<double>(lengths.begin(), lengths.end());
}

TEST_CASE("onnx: a Sequential of Linear, LayerNorm, attention and activations matches ONNX Runtime") {
  TG_REQUIRE_ONNX_TOOLS();
  Generator gen(3);
  const std::size_t E = 12;
  nn::Sequential model({std::make_shared<nn::Linear>(5, E, true, gen),
                        std::make_shared<nn::LayerNorm>(Shape{E}),
                        std::make_shared<nn::ReLU>(),
                        std::make_shared<nn::MultiheadAttention>(E, 3, gen),
                        std::make_shared<nn::Dropout>(0.5),
                        std::make_shared<nn::Tanh>(),
                        std::make_shared<nn::Linear>(E, 4, true, gen),
                        std::make_shared<nn::Sigmoid>()});
  model.eval();
  onnx::Graph g("sequential");
  const std::string x = g.input("x", onnx::ElementType::Float, {"steps", "batch", 5});
  g.output(onnx::export_module(g, model, x, ""), "y", onnx::ElementType::Float,
           {"steps", "batch", 4});
  TempDir dir;
  g.save(dir.file("sequential.onnx"));
  std::vector<ort::Case> cases;
  for (std::size_t i = 0; i < 100; ++i) {
    const Tensor in = Tensor::uniform({1 + i % 6, 1 + i % 3, 5}, -2, 2, DType::Float32, gen);
    const Tensor out = model(in);
    cases.push_back({{ort::float_feed("x", in)}, {ort::float_feed("y", out)}});
  }
  TG_CHECK_ONNX_PARITY(dir.file("sequential.onnx"), cases);
}

TEST_CASE("onnx: the graph's softmax, reductions and shape operators match tapegrad's ops") {
  TG_REQUIRE_ONNX_TOOLS();
  onnx::Graph g("operators");
  const std::string x = g.input("x", onnx::ElementType::Float, {"a", 4, 6});
  const std::string y = g.input("y", onnx::ElementType::Float, {"a", 4, 6});
  using namespace tg::onnx;
  const auto out = [&](const std::string& v, const std::string& name, std::size_t rank) {
    g.output(v, name, ElementType::Float, rank);
  };
  out(softmax(g, x, 2), "softmax", 3);
  out(log_softmax(g, x, 1), "log_softmax", 3);
  out(reduce_sum(g, mul(g, x, y), {1}, false), "sum", 2);
  out(reduce_mean(g, sub(g, x, y), {2}, true), "mean", 3);
  out(reduce_max(g, x, {0, 2}, false), "max", 1);
  out(reshape(g, transpose(g, tanh(g, x), {2, 0, 1}), {6, -1}), "reshape", 2);
  out(concat(g, {slice(g, x, 2, 1, 4), exp(g, y)}, 2), "concat", 3);
  out(div(g, relu(g, x), add(g, sigmoid(g, y), g.scalar(1.0f))), "arith", 3);
  TempDir dir;
  g.save(dir.file("ops.onnx"));
  Generator gen(5);
  std::vector<ort::Case> cases;
  for (std::size_t i = 0; i < 100; ++i) {
    const Tensor a = Tensor::uniform({1 + i % 4, 4, 6}, -3, 3, DType::Float32, gen);
    const Tensor b = Tensor::uniform({1 + i % 4, 4, 6}, -3, 3, DType::Float32, gen);
    const long rows = static_cast<long>(a.size() / 6);
    cases.push_back(
        {{ort::float_feed("x", a), ort::float_feed("y", b)},
         {ort::float_feed("softmax", tg::softmax(a, 2)),
          ort::float_feed("log_softmax", tg::log_softmax(a, 1)),
          ort::float_feed("sum", tg::sum(a * b, {1})),
          ort::float_feed("mean", tg::mean(a - b, {2}, true)),
          ort::float_feed("max", tg::max(a, {0, 2})),
          ort::float_feed("reshape", tg::reshape(tg::transpose(tg::tanh(a), {2, 0, 1}), {6, rows})),
          ort::float_feed("concat", tg::concat({tg::slice(a, 2, 1, 4), tg::exp(b)}, 2)),
          ort::float_feed("arith", tg::relu(a) / (tg::sigmoid(b) + 1.0))}});
  }
  TG_CHECK_ONNX_PARITY(dir.file("ops.onnx"), cases);
}

TEST_CASE("onnx: MultiheadAttention with a key padding mask, query and memory apart") {
  TG_REQUIRE_ONNX_TOOLS();
  Generator gen(7);
  nn::MultiheadAttention attention(nn::MultiheadAttentionOptions(8, 2).batch_first(true), gen);
  attention.eval();
  onnx::Graph g("attention");
  using onnx::ElementType;
  const std::string q = g.input("query", ElementType::Float, {"batch", "targets", 8});
  const std::string m = g.input("memory", ElementType::Float, {"batch", "sources", 8});
  const std::string mask = g.input("mask", ElementType::Bool, {"batch", "sources"});
  g.output(onnx::export_attention(g, attention, q, m, m, mask, "attention"), "y",
           ElementType::Float, {"batch", "targets", 8});
  TempDir dir;
  g.save(dir.file("attention.onnx"));
  std::vector<ort::Case> cases;
  for (std::size_t i = 0; i < 100; ++i) {
    const std::size_t B = 1 + i % 3, L = 1 + i % 4, S = 1 + (i * 3) % 7;
    const Tensor query = Tensor::uniform({B, L, 8}, -1, 1, DType::Float32, gen);
    const Tensor memory = Tensor::uniform({B, S, 8}, -1, 1, DType::Float32, gen);
    std::vector<double> hidden(B * S, 0.0);  // padding past each row's length (at least 1)
    for (std::size_t b = 0; b < B; ++b)
      for (std::size_t s = 1 + (i + b) % S; s < S; ++s) hidden[b * S + s] = 1.0;
    const Tensor mask_values = Tensor::from_vector(hidden, {B, S});
    nn::AttentionArgs args;
    args.key_padding_mask = BoolMask(mask_values);
    const Tensor y = attention(query, memory, memory, args).output;
    cases.push_back({{ort::float_feed("query", query), ort::float_feed("memory", memory),
                      {"mask", "bool", {B, S}, hidden}},
                     {ort::float_feed("y", y)}});
  }
  TG_CHECK_ONNX_PARITY(dir.file("attention.onnx"), cases);
}

// A recurrent layer of `kind` with lengths and initial states in, every output out.
void check_recurrent(nn::CellKind kind, bool bidirectional, bool batch_first, std::size_t layers) {
  Generator gen(11);
  const std::size_t I = 5, H = 7, D = bidirectional ? 2 : 1;
  nn::RecurrentOptions o(I, H);
  o.num_layers(layers).bidirectional(bidirectional).batch_first(batch_first);
  const auto layer = nn::make_recurrent_layer(kind, o, gen);
  layer->eval();
  const bool lstm = nn::cell_spec(kind).has_cell_state;
  onnx::Graph g("recurrent");
  using onnx::Dim;
  using onnx::ElementType;
  const std::vector<Dim> x_dims =
      batch_first ? std::vector<Dim>{"batch", "steps", Dim(I)} : std::vector<Dim>{"steps", "batch", Dim(I)};
  const std::vector<Dim> state_dims{Dim(layers * D), "batch", Dim(H)};
  onnx::RecurrentInputs in{g.input("x", ElementType::Float, x_dims),
                           g.input("lengths", ElementType::Int64, {"batch"}),
                           g.input("h0", ElementType::Float, state_dims), ""};
  if (lstm) in.c0 = g.input("c0", ElementType::Float, state_dims);
  const onnx::RecurrentValues v = onnx::export_recurrent(g, *layer, in, "rnn");
  g.output(v.output, "output", ElementType::Float, 3);
  g.output(v.last, "last", ElementType::Float, {"batch", Dim(D * H)});
  g.output(v.h, "h", ElementType::Float, state_dims);
  if (lstm) g.output(v.c, "c", ElementType::Float, state_dims);
  TempDir dir;
  const std::string path = dir.file(fmt::format("{}.onnx", layer->type_name()));
  g.save(path);
  std::vector<ort::Case> cases;
  for (std::size_t i = 0; i < 100; ++i) {
    const std::size_t T = 1 + i % 6, B = 1 + (i / 6) % 4;
    const Tensor x = Tensor::uniform(batch_first ? Shape{B, T, I} : Shape{T, B, I}, -1, 1,
                                     DType::Float32, gen);
    std::vector<std::size_t> lengths;
    for (std::size_t b = 0; b < B; ++b) lengths.push_back(1 + (i * 7 + b * 3) % T);
    const nn::RecurrentState s{Tensor::uniform({layers * D, B, H}, -1, 1, DType::Float32, gen),
                               lstm ? Tensor::uniform({layers * D, B, H}, -1, 1, DType::Float32, gen)
                                    : Tensor()};
    const nn::RecurrentOutput r = (*layer)(x, s, lengths);
    ort::Case c{{ort::float_feed("x", x), {"lengths", "int64", {B}, lengths_of(lengths)},
                 ort::float_feed("h0", s.h)},
                {ort::float_feed("output", r.output), ort::float_feed("last", r.last),
                 ort::float_feed("h", r.state.h)}};
    if (lstm) {
      c.inputs.push_back(ort::float_feed("c0", s.c));
      c.expected.push_back(ort::float_feed("c", r.state.c));
    }
    cases.push_back(std::move(c));
  }
  INFO(layer->type_name() << " bidirectional " << bidirectional << " batch_first " << batch_first
                          << " layers " << layers);
  TG_CHECK_ONNX_PARITY(path, cases);
}

TEST_CASE("onnx: RNN, LSTM and GRU as ONNX's operators, lengths and states in and out") {
  TG_REQUIRE_ONNX_TOOLS();
  for (nn::CellKind kind : {nn::CellKind::RnnTanh, nn::CellKind::RnnRelu, nn::CellKind::Lstm,
                            nn::CellKind::Gru}) {
    check_recurrent(kind, false, false, 1);
    check_recurrent(kind, true, true, 2);
  }
}

TEST_CASE("onnx: the maximum and mean over a padded batch's steps, in both layouts") {
  TG_REQUIRE_ONNX_TOOLS();
  onnx::Graph g("steps");
  const std::string lengths = g.input("lengths", onnx::ElementType::Int64, {"batch"});
  for (bool batch_first : {false, true}) {
    const std::string layout = batch_first ? "bt" : "tb";
    const std::string x = g.input("x_" + layout, onnx::ElementType::Float,
                                  batch_first ? std::vector<onnx::Dim>{"batch", "steps", 3}
                                              : std::vector<onnx::Dim>{"steps", "batch", 3});
    g.output(onnx::export_max_over_steps(g, x, lengths, batch_first), "max_" + layout,
             onnx::ElementType::Float, {"batch", 3});
    g.output(onnx::export_mean_over_steps(g, x, lengths, batch_first), "mean_" + layout,
             onnx::ElementType::Float, {"batch", 3});
  }
  TempDir dir;
  g.save(dir.file("steps.onnx"));
  Generator gen(9);
  std::vector<ort::Case> cases;
  for (std::size_t i = 0; i < 100; ++i) {
    const std::size_t T = 1 + i % 6, B = 1 + i % 4;
    std::vector<std::size_t> lengths_b;
    for (std::size_t b = 0; b < B; ++b) lengths_b.push_back(1 + (i * 5 + b * 3) % T);
    const Tensor tb = Tensor::uniform({T, B, 3}, -2, 2, DType::Float32, gen);
    const Tensor bt = transpose(tb, {1, 0, 2});
    cases.push_back({{{"lengths", "int64", {B}, lengths_of(lengths_b)}, ort::float_feed("x_tb", tb),
                      ort::float_feed("x_bt", bt)},
                     {ort::float_feed("max_tb", nn::max_over_steps(tb, lengths_b)),
                      ort::float_feed("mean_tb", nn::mean_over_steps(tb, lengths_b)),
                      ort::float_feed("max_bt", nn::max_over_steps(bt, lengths_b, true)),
                      ort::float_feed("mean_bt", nn::mean_over_steps(bt, lengths_b, true))}});
  }
  TG_CHECK_ONNX_PARITY(dir.file("steps.onnx"), cases);
}

TEST_CASE("onnx: one step of an LSTM and a GRU cell") {
  TG_REQUIRE_ONNX_TOOLS();
  for (nn::CellKind kind : {nn::CellKind::Lstm, nn::CellKind::Gru, nn::CellKind::RnnTanh}) {
    Generator gen(13);
    const nn::FusedCell cell(kind, 4, 6, true, gen);
    const bool lstm = nn::cell_spec(kind).has_cell_state;
    onnx::Graph g("cell");
    const std::string x = g.input("x", onnx::ElementType::Float, {"batch", 4});
    const std::string h = g.input("h", onnx::ElementType::Float, {"batch", 6});
    const std::string c = lstm ? g.input("c", onnx::ElementType::Float, {"batch", 6}) : "";
    const onnx::CellValues v = onnx::export_cell_step(g, cell, x, h, c, "cell");
    g.output(v.h, "h_next", onnx::ElementType::Float, {"batch", 6});
    if (lstm) g.output(v.c, "c_next", onnx::ElementType::Float, {"batch", 6});
    TempDir dir;
    g.save(dir.file("cell.onnx"));
    std::vector<ort::Case> cases;
    for (std::size_t i = 0; i < 100; ++i) {
      const std::size_t B = 1 + i % 5;
      const Tensor xs = Tensor::uniform({B, 4}, -1, 1, DType::Float32, gen);
      const Tensor hs = Tensor::uniform({B, 6}, -1, 1, DType::Float32, gen);
      const Tensor cs = lstm ? Tensor::uniform({B, 6}, -1, 1, DType::Float32, gen) : Tensor();
      const Tensor next = cell.step(xs, hs, cs);
      ort::Case k{{ort::float_feed("x", xs), ort::float_feed("h", hs)}, {}};
      if (lstm) {
        k.inputs.push_back(ort::float_feed("c", cs));
        k.expected = {ort::float_feed("h_next", slice(next, 1, 0, 6)),
                      ort::float_feed("c_next", slice(next, 1, 6, 12))};
      } else {
        k.expected = {ort::float_feed("h_next", next)};
      }
      cases.push_back(std::move(k));
    }
    TG_CHECK_ONNX_PARITY(dir.file("cell.onnx"), cases);
  }
}

TEST_CASE("onnx: what has no exporter is refused with one line naming it") {
  Generator gen(1);
  onnx::Graph g("refused");
  const std::string x = g.input("x", onnx::ElementType::Float, {3, 2, 4});
  const auto refusal = [&](const nn::Module& m) {
    try {
      onnx::export_module(g, m, x, "layer");
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string("(not refused)");
  };
  const std::string mgu = refusal(nn::MGU(nn::RecurrentOptions(4, 5), gen));
  CHECK_THAT(mgu, Catch::Contains("MGU") && Catch::Contains("no operator"));
  nn::Sequential conv({std::make_shared<nn::Linear>(4, 4, true, gen),
                       std::make_shared<nn::Conv1d>(2, 2, 1)});
  const std::string conv_message = refusal(conv);
  CHECK_THAT(conv_message, Catch::StartsWith("onnx export: Conv1d ('layer.1') is not supported"));
  CHECK(refusal(nn::GELU()).rfind("onnx export: GELU", 0) == 0);
  for (const std::string& m : {mgu, conv_message}) CHECK(m.find('\n') == std::string::npos);
}

TEST_CASE("onnx: ONNX's checker inside the exporter refuses a malformed graph") {
  onnx::Graph g("malformed");
  const std::string x = g.input("x", onnx::ElementType::Float, {2, 3});
  g.output(onnx::matmul(g, x, x), "y", onnx::ElementType::Float, {2, 3});  // [2,3] x [2,3]
  TempDir dir;
  CHECK_THROWS_WITH(g.save(dir.file("bad.onnx")), Catch::StartsWith("onnx export: the model 'malformed' fails ONNX's checker"));
  CHECK_FALSE(std::filesystem::exists(dir.file("bad.onnx")));
}

}  // namespace
