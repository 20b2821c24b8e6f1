// name_language export: NameClassifier's forward written as ONNX nodes, in its own order:
// ids -> embedding (or one-hot) -> recurrent layer read up to each name's length -> its final
// states (beside its outputs' maximum and mean with concat pooling) -> Linear, the n-gram member
// beside it (its hashing computed in the graph from the same ids), the members' mean softmax, the
// prior shift.
#include "name_language/export.hpp"

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <limits>

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

// The n-gram member as ngram_rows computes it, from the batch-major ids [B, T] and the lengths:
// every name marked with V before and V + 1 after, its n-grams' codes in int64, the table rows
// they hash to summed, over the name's count of n-grams. Logits [B, classes].
std::string export_ngram_member(onnx::Graph& g, const NameClassifier& model, const std::string& ids,
                                const std::string& lengths) {
  using namespace tg::onnx;
  const ModelConfig& c = model.config();
  const auto V = static_cast<std::int64_t>(c.vocabulary.size());
  const auto N = static_cast<std::int64_t>(c.ngrams);
  const std::string zero = g.int64s({0}, "zero"), one = g.int64s({1}, "one");
  const std::string zero_column = mul(g, slice(g, ids, 1, 0, 1), zero);  // [B, 1]
  std::vector<std::string> parts{add(g, zero_column, g.int64s({V}, "start_mark")), ids};
  for (std::int64_t k = 0; k < N; ++k) parts.push_back(zero_column);  // room for the last window
  const std::string padded = concat(g, parts, 1);  // [B, E], E = T + 1 + N
  const std::string position =  // 0, 1, ... along each row
      sub(g, g.op("CumSum", {add(g, mul(g, padded, zero), one), g.int64s({1}, "axis")}), one);
  const std::string length_column = unsqueeze(g, lengths, {1});  // [B, 1]
  const std::string at_end = g.op("Equal", {position, add(g, length_column, one)});
  const std::string marked = where(g, at_end, g.int64s({V + 1}, "end_mark"), padded);
  // The windows start at 0 .. T + 1: W = E - N + 1 columns.
  const auto window = [&](std::int64_t first) {
    const std::int64_t end = first - (N - 1);
    return slice(g, marked, 1, first, end < 0 ? end : std::numeric_limits<std::int64_t>::max());
  };
  const std::string window_position =
      slice(g, position, 1, 0, N > 1 ? -(N - 1) : std::numeric_limits<std::int64_t>::max());
  std::vector<float> table(model.ngram_table().size());
  const auto& values = model.ngram_table().value<float>();
  for (std::size_t i = 0; i < table.size(); ++i)
    table[i] = static_cast<float>(NameClassifier::kNgramScale) * values.data()[i];
  const auto rows = static_cast<std::int64_t>(c.ngram_buckets) + 1;
  const std::string scaled = g.initializer("ngram_table", table,
                                           {rows, static_cast<std::int64_t>(c.labels.size())});
  const std::string radix = g.int64s({V + 2}, "radix");
  const std::string buckets = g.int64s({static_cast<std::int64_t>(c.ngram_buckets)}, "buckets");
  std::string total, count;
  for (std::int64_t n = 1; n <= N; ++n) {
    std::string code = g.int64s({n}, "n");
    for (std::int64_t j = 0; j < n; ++j) code = add(g, mul(g, code, radix), window(j));
    const std::string row = add(g, g.op("Mod", {code, buckets}), one);
    // Window i holds an n-gram of the name when i + n <= L + 2.
    const std::string last = add(g, length_column, g.int64s({3 - n}, "last"));  // L + 3 - n
    const std::string inside = g.op("Less", {window_position, last});
    const std::string summed =
        reduce_sum(g, gather(g, scaled, where(g, inside, row, zero)), {1}, false);
    const std::string grams = g.op("Relu", {cast(g, last, ElementType::Float)});  // [B, 1]
    total = total.empty() ? summed : add(g, total, summed);
    count = count.empty() ? grams : add(g, count, grams);
  }
  return div(g, total, count);
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
  const std::string features =
      c.pooling == Pooling::Concat
          ? concat(g,
                   {r.last, export_max_over_steps(g, r.output, lengths),
                    export_mean_over_steps(g, r.output, lengths)},
                   1)
          : r.last;
  // Dropout: the identity in evaluation.
  std::string logits = export_linear(g, nn::child_as<nn::Linear>(model, "fc"), features, "fc");
  if (c.ngrams > 0) {
    // The members' mean softmax, as NameClassifier::combine: log(mean_k p_k).
    const std::string ngram_logits = export_ngram_member(g, model, ids, lengths);
    const std::string both = concat(g,
                                    {unsqueeze(g, log_softmax(g, logits, 1), {0}),
                                     unsqueeze(g, log_softmax(g, ngram_logits, 1), {0})},
                                    0);
    logits = sub(g,
                 g.op("ReduceLogSumExp", {both},
                      {{"axes", std::vector<std::int64_t>{0}}, {"keepdims", 0}}),
                 g.scalar(static_cast<float>(std::log(2.0)), "log_members"));
  }
  const auto classes = static_cast<std::int64_t>(c.labels.size());
  if (model.prior_bias().defined())
    logits = add(g, logits, g.initializer("prior_bias", model.prior_bias()));
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
