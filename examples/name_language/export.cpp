// name_language export: NameClassifier's forward written as ONNX nodes, in its own order:
// ids -> embedding (or one-hot) -> recurrent layer read up to each name's length -> Linear ->
// softmax.
#include "name_language/export.hpp"

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include <cstdio>
#include <filesystem>
#include <fstream>

#include "common/cli.hpp"
#include "common/json.hpp"
#include "common/text.hpp"
#include "name_language/commands.hpp"
#include "tapegrad/train/files.hpp"

#ifdef TAPEGRAD_EXAMPLES_ONNX
#include <tapegrad/onnx/graph.hpp>
#include <tapegrad/onnx/modules.hpp>
#endif

namespace tg::examples::names {

#ifdef TAPEGRAD_EXAMPLES_ONNX

namespace {

std::string vocabulary_json(const ModelConfig& c) {
  std::vector<std::string> alphabet;
  for (char32_t ch : c.vocabulary.alphabet()) alphabet.push_back(encode_utf8(ch));
  return fmt::format(
      "{{\n  \"model\": \"name_language\",\n  \"charset\": {},\n  \"unknown_id\": 0,\n"
      "  \"max_name_bytes\": {},\n  \"alphabet\": {},\n  \"labels\": {}\n}}\n",
      json_string(to_string(c.charset)), kMaxNameBytes, json_strings(alphabet),
      json_strings(c.labels));
}

}  // namespace

onnx::Graph export_classifier(NameClassifier& model) {
  using namespace tg::onnx;
  const ModelConfig& c = model.config();
  Graph g("name_language");
  g.doc_string(describe(c));
  const std::string ids = g.input("ids", ElementType::Int64, {"batch", "steps"});
  const std::string lengths = g.input("lengths", ElementType::Int64, {"batch"});
  const std::string time_major = transpose(g, ids, {1, 0});  // [T, B], as the model reads
  std::string x;
  if (c.embedding > 0) {
    x = export_embedding(g, nn::child_as<nn::Embedding>(model, "embedding"), time_major, "embedding");
  } else {
    // One-hot characters: rows of an identity whose row 0 (unknown, padding) is zero.
    const std::size_t V = c.vocabulary.size();
    std::vector<float> table(V * V, 0.0f);
    for (std::size_t i = 1; i < V; ++i) table[i * V + i] = 1.0f;
    const auto v = static_cast<std::int64_t>(V);
    x = gather(g, g.initializer("one_hot", table, {v, v}), time_major);
  }
  const RecurrentValues r = export_recurrent(g, model.rnn(), {x, lengths, "", ""}, "rnn");
  // Dropout: the identity in evaluation.
  const std::string logits = export_linear(g, nn::child_as<nn::Linear>(model, "fc"), r.last, "fc");
  const auto classes = static_cast<std::int64_t>(c.labels.size());
  g.output(logits, "logits", ElementType::Float, {"batch", classes});
  g.output(softmax(g, logits, 1), "probabilities", ElementType::Float, {"batch", classes});
  g.metadata("labels", fmt::format("{}", fmt::join(c.labels, "\n")));
  g.metadata("charset", to_string(c.charset));
  g.metadata("alphabet", c.vocabulary.to_text());
  return g;
}

int run_export(const examples::ExportArgs& args) {
  LoadedModel loaded = load_model(args.checkpoint);
  loaded.model->eval();
  const onnx::Graph graph = export_classifier(*loaded.model);
  graph.save(args.out);
  const std::string json = std::filesystem::path(args.out).replace_extension(".json").string();
  tg::train::write_file_atomic(json, vocabulary_json(loaded.model->config()));
  std::printf("wrote %s (%s) and %s (vocabulary and labels)\n", args.out.c_str(),
              describe(loaded.model->config()).c_str(), json.c_str());
  return 0;
}

#else

int run_export(const examples::ExportArgs&) { return examples::refuse_export_without_onnx(); }

#endif

}  // namespace tg::examples::names
