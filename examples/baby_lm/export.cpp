// baby_lm export: BabyLM::forward written as ONNX nodes in its own order: Embedding -> each LSTM
// layer from its state (Dropout: the identity) -> Linear at every step.
#include "baby_lm/export.hpp"

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include <cstdio>
#include <filesystem>

#include "baby_lm/model.hpp"
#include "common/json.hpp"
#include "common/program.hpp"
#include "common/text.hpp"
#include "tapegrad/train/files.hpp"

#ifdef TAPEGRAD_EXAMPLES_ONNX
#include <tapegrad/onnx/graph.hpp>
#include <tapegrad/onnx/modules.hpp>
#endif

namespace tg::baby_lm {

#ifdef TAPEGRAD_EXAMPLES_ONNX

namespace {

onnx::Graph export_step(const BabyLM& model) {
  using namespace tg::onnx;
  const ModelConfig& c = model.config();
  Graph g("baby_lm");
  const auto L = static_cast<std::int64_t>(c.layers), H = static_cast<std::int64_t>(c.units);
  const auto V = static_cast<std::int64_t>(c.vocab);
  const std::string ids = g.input("ids", ElementType::Int64, {"batch", "steps"});
  const std::string h0 = g.input("h0", ElementType::Float, {L, "batch", H});
  const std::string c0 = g.input("c0", ElementType::Float, {L, "batch", H});
  std::string x = export_embedding(g, nn::child_as<nn::Embedding>(model, "emb"), ids, "emb");  // [B, T, E]
  std::vector<std::string> hs, cs;
  for (std::int64_t l = 0; l < L; ++l) {
    const std::string n = "lstm" + std::to_string(l + 1);
    const RecurrentValues r = export_recurrent(
        g, nn::child_as<nn::LSTM>(model, n), {x, "", slice(g, h0, 0, l, l + 1), slice(g, c0, 0, l, l + 1)}, n);
    x = r.output;  // [B, T, H] (batch_first); the Dropout after it is the identity
    hs.push_back(r.h);
    cs.push_back(r.c);
  }
  g.output(export_linear(g, nn::child_as<nn::Linear>(model, "fc"), x, "fc"), "logits", ElementType::Float,
           {"batch", "steps", V});
  g.output(concat(g, hs, 0), "h", ElementType::Float, {L, "batch", H});
  g.output(concat(g, cs, 0), "c", ElementType::Float, {L, "batch", H});
  return g;
}

}  // namespace

int run_export(const examples::ExportArgs& options) {
  LoadedModel loaded = load_model(options.checkpoint);
  loaded.model->eval();
  onnx::Graph graph = export_step(*loaded.model);
  graph.metadata("vocabulary", loaded.info.vocab.utf8());
  graph.save(options.out);
  std::vector<std::string> chars;
  for (char32_t ch : loaded.info.vocab.chars()) chars.push_back(examples::encode_utf8(ch));
  const ModelConfig& c = loaded.model->config();
  const std::string json = std::filesystem::path(options.out).replace_extension(".json").string();
  tg::train::write_file_atomic(
      json, fmt::format("{{\n  \"model\": \"baby_lm\",\n  \"layers\": {},\n  \"units\": {},\n"
                        "  \"vocabulary\": {}\n}}\n",
                        c.layers, c.units, examples::json_strings(chars)));
  std::printf("wrote %s (one step: ids, h0, c0 -> logits, h, c; %zu LSTM layers x %zu, %zu "
              "characters) and %s (vocabulary)\n",
              options.out.c_str(), c.layers, c.units, c.vocab, json.c_str());
  return 0;
}

#else

int run_export(const examples::ExportArgs&) { return examples::refuse_export_without_onnx(); }

#endif

}  // namespace tg::baby_lm
