// seq2seq export: Seq2Seq::encode and Seq2Seq::step written as ONNX nodes, in their own order.
#include "seq2seq/export.hpp"

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include <cstdio>
#include <filesystem>
#include <limits>

#include "common/cli.hpp"
#include "common/json.hpp"
#include "common/text.hpp"
#include "seq2seq/commands.hpp"
#include "tapegrad/train/files.hpp"

#ifdef TAPEGRAD_EXAMPLES_ONNX
#include <tapegrad/onnx/graph.hpp>
#include <tapegrad/onnx/modules.hpp>
#endif

namespace tg::examples::seq2seq {

#ifdef TAPEGRAD_EXAMPLES_ONNX

namespace {

std::int64_t as_int(std::size_t n) { return static_cast<std::int64_t>(n); }

// Seq2Seq::encode: embedding -> bidirectional encoder read up to each length; the attention keys
// once; the decoder's first h from both final states.
onnx::Graph export_encoder(const Seq2Seq& model) {
  using namespace tg::onnx;
  const ModelConfig& c = model.config();
  Graph g("seq2seq_encoder");
  const std::string ids = g.input("ids", ElementType::Int64, {"batch", "steps"});
  const std::string lengths = g.input("lengths", ElementType::Int64, {"batch"});
  const std::string x = export_embedding(g, nn::child_as<nn::Embedding>(model, "source_embedding"), ids,
                                         "source_embedding");
  const RecurrentValues r = export_recurrent(g, nn::child_as<nn::RecurrentLayer>(model, "encoder"),
                                             {x, lengths, "", ""}, "encoder");
  const std::int64_t H2 = as_int(2 * c.hidden), D = as_int(c.decoder_hidden);
  g.output(r.output, "outputs", ElementType::Float, {"batch", "steps", H2});
  g.output(export_linear(g, nn::child_as<nn::Linear>(model, "attention"), r.output, "attention"), "keys",
           ElementType::Float, {"batch", "steps", D});
  // Padding: step t >= length.
  const std::string steps = g.op("Gather", {g.op("Shape", {ids}), g.initializer_int64("one", {1}, {})},
                                 {{"axis", 0}});
  const std::string positions =
      g.op("Range", {g.initializer_int64("zero", {0}, {}), steps, g.initializer_int64("step", {1}, {})});
  g.output(g.op("GreaterOrEqual", {unsqueeze(g, positions, {0}), unsqueeze(g, lengths, {1})}),
           "mask", ElementType::Bool, {"batch", "steps"});
  g.output(tanh(g, export_linear(g, nn::child_as<nn::Linear>(model, "bridge"), r.last, "bridge")), "h",
           ElementType::Float, {"batch", D});
  return g;
}

// Seq2Seq::step: input feeding, the cell, Luong's general attention (masked softmax), the
// attentional vector, the output layer.
onnx::Graph export_decoder_step(const Seq2Seq& model) {
  using namespace tg::onnx;
  const ModelConfig& c = model.config();
  const nn::RecurrentCell& cell = nn::child_as<nn::RecurrentCell>(model, "decoder");
  const bool lstm = nn::cell_spec(cell.kind()).has_cell_state;
  const std::int64_t H2 = as_int(2 * c.hidden), D = as_int(c.decoder_hidden);
  Graph g("seq2seq_decoder_step");
  const std::string previous = g.input("previous", ElementType::Int64, {"batch"});
  const std::string h = g.input("h", ElementType::Float, {"batch", D});
  const std::string c_in = lstm ? g.input("c", ElementType::Float, {"batch", D}) : "";
  const std::string feed = g.input("feed", ElementType::Float, {"batch", D});
  const std::string outputs = g.input("outputs", ElementType::Float, {"batch", "steps", H2});
  const std::string keys = g.input("keys", ElementType::Float, {"batch", "steps", D});
  const std::string mask = g.input("mask", ElementType::Bool, {"batch", "steps"});
  const std::string x = concat(
      g, {export_embedding(g, nn::child_as<nn::Embedding>(model, "target_embedding"), previous, "target_embedding"), feed},
      1);
  const CellValues next = export_cell_step(g, cell, x, h, c_in, "decoder");
  const std::string scores = squeeze(g, matmul(g, keys, unsqueeze(g, next.h, {2})), {2});  // [B, T]
  const std::string weights = softmax(
      g, where(g, mask, g.scalar(-std::numeric_limits<float>::infinity(), "minus_inf"), scores), 1);
  const std::string context = squeeze(g, matmul(g, unsqueeze(g, weights, {1}), outputs), {1});
  const std::string attentional = tanh(
      g, export_linear(g, nn::child_as<nn::Linear>(model, "combine"), concat(g, {context, next.h}, 1), "combine"));
  g.output(export_linear(g, nn::child_as<nn::Linear>(model, "output"), attentional, "output"), "logits",
           ElementType::Float, {"batch", as_int(c.target.size())});
  g.output(weights, "weights", ElementType::Float, {"batch", "steps"});
  g.output(attentional, "attentional", ElementType::Float, {"batch", D});
  g.output(next.h, "h_next", ElementType::Float, {"batch", D});
  if (lstm) g.output(next.c, "c_next", ElementType::Float, {"batch", D});
  return g;
}

std::string characters_json(const Alphabet& a) {
  std::vector<std::string> out;
  for (char32_t ch : a.characters()) out.push_back(encode_utf8(ch));
  return json_strings(out);
}

}  // namespace

int run_export(const examples::ExportArgs& args) {
  const std::unique_ptr<Seq2Seq> model = load_model(args.checkpoint);
  model->eval();
  const ModelConfig& c = model->config();
  const std::filesystem::path dir(args.out);
  std::filesystem::create_directories(dir);
  export_encoder(*model).save((dir / "encoder.onnx").string());
  export_decoder_step(*model).save((dir / "decoder_step.onnx").string());
  tg::train::write_file_atomic(
      dir / "seq2seq.json",
      fmt::format("{{\n  \"model\": \"seq2seq\",\n  \"cell\": {},\n  \"max_output\": {},\n"
                  "  \"source_reserved\": {},\n  \"target_reserved\": {},\n  \"pad\": {},\n"
                  "  \"start\": {},\n  \"end\": {},\n  \"source_characters\": {},\n"
                  "  \"target_characters\": {}\n}}\n",
                  json_string(c.cell), c.max_output, kSourceReserved, kTargetReserved, kPad, kStart,
                  kEnd, characters_json(c.source), characters_json(c.target)));
  std::printf("wrote %s: encoder.onnx, decoder_step.onnx (%s) and seq2seq.json (alphabets)\n",
              dir.string().c_str(), describe(c).c_str());
  return 0;
}

#else

int run_export(const examples::ExportArgs&) { return examples::refuse_export_without_onnx(); }

#endif

}  // namespace tg::examples::seq2seq
