// name_language model: the classifier's layers, its forward pass and its checkpoint metadata.
#include "name_language/model.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "common/limits.hpp"
#include "common/text.hpp"

#include <algorithm>
#include <set>

namespace tg::examples::names {

namespace {

bool is_cell(const std::string& cell) {
  try {
    nn::parse_cell_kind(cell);
    return true;
  } catch (const Error&) {
    return false;
  }
}

std::string join_lines(const std::vector<std::string>& items) {
  std::string out;
  for (const std::string& s : items) out += (out.empty() ? "" : "\n") + s;
  return out;
}

std::vector<std::string> split_lines(const std::string& text) {
  std::vector<std::string> out;
  std::size_t start = 0;
  while (start <= text.size()) {
    const std::size_t end = std::min(text.find('\n', start), text.size());
    out.push_back(text.substr(start, end - start));
    start = end + 1;
  }
  return out;
}

}  // namespace

std::vector<std::string> cell_choices() {
  std::vector<std::string> names{"rnn"};  // the tanh RNN
  for (nn::CellKind kind : nn::kCellKinds)
    if (nn::cell_spec(kind).gate_count > 1) names.push_back(nn::cell_spec(kind).label);
  return names;
}

std::map<std::string, std::string> to_meta(const ModelConfig& c) {
  return {{"model", c.cell},
          {"hidden", std::to_string(c.hidden)},
          {"layers", std::to_string(c.layers)},
          {"bidirectional", c.bidirectional ? "1" : "0"},
          {"embedding", std::to_string(c.embedding)},
          {"dropout", fmt::format("{}", c.dropout)},
          {"charset", to_string(c.charset)},
          {"vocabulary", c.vocabulary.to_text()},
          {"labels", join_lines(c.labels)}};
}

tg::train::MetaReader meta_reader(const std::map<std::string, std::string>& meta,
                                  const std::string& path) {
  return tg::train::MetaReader(meta, path, "the checkpoint has no meta.{} entry");
}

namespace {

// A label or character as a message shows it: at most 40 bytes of it.
std::string shortened(const std::string& text) {
  return text.size() <= 40 ? text : text.substr(0, 37) + "...";
}

std::string describe_char(char32_t c) {
  if (c > 0x20 && c != 0x7F && !(c >= 0x80 && c < 0xA0)) return "'" + encode_utf8(c) + "'";
  return fmt::format("U+{:04X}", static_cast<std::uint32_t>(c));
}

// Training writes the vocabulary its charset makes: the fixed ASCII alphabet, or the sorted
// characters of the names. Any other (a character missing, added or moved) would read names
// with the wrong ids without a sign: refused.
void check_vocabulary(Charset charset, const Vocabulary& vocab, const std::string& path) {
  const std::u32string& have = vocab.alphabet();
  if (charset == Charset::Unicode) {
    for (std::size_t i = 1; i < have.size(); ++i)
      if (!(have[i - 1] < have[i]))
        throw Error(fmt::format("{}: meta.vocabulary is not in order ({} before {})", path,
                                describe_char(have[i - 1]), describe_char(have[i])));
    return;
  }
  const std::u32string want = decode_utf8(ascii_letters_vocabulary());
  for (char32_t c : want)
    if (have.find(c) == std::u32string::npos)
      throw Error(fmt::format("{}: meta.vocabulary lacks {} of the ascii charset", path,
                              describe_char(c)));
  for (char32_t c : have)
    if (want.find(c) == std::u32string::npos)
      throw Error(fmt::format("{}: meta.vocabulary has {}, which the ascii charset never reads",
                              path, describe_char(c)));
  if (have != want)
    throw Error(fmt::format("{}: meta.vocabulary is not in the ascii charset's order", path));
}

}  // namespace

ModelConfig config_from_meta(const std::map<std::string, std::string>& meta,
                             const std::string& path) {
  const tg::train::MetaReader read = meta_reader(meta, path);
  constexpr std::size_t kMaxSize = 1u << 20;  // far beyond any sensible model: a damaged entry
  ModelConfig c;
  c.cell = read.text("model");
  if (!is_cell(c.cell))
    throw Error(fmt::format("{}: meta.model is '{}' (expected {})", path, c.cell,
                            fmt::join(cell_choices(), ", ")));
  c.hidden = read.size("hidden", 1, kMaxSize, "a size");
  c.layers = read.size("layers", 1, kMaxSize, "a size");
  c.embedding = read.size("embedding", 0, kMaxSize, "a size");
  // Checkpoints written before the option existed are one-directional.
  if (meta.count("bidirectional")) {
    const std::string& text = meta.at("bidirectional");
    if (text != "0" && text != "1")
      throw Error(fmt::format("{}: meta.bidirectional is '{}' (expected 0 or 1)", path, text));
    c.bidirectional = text == "1";
  }
  c.dropout = read.number("dropout", 0, 1, "");
  try {
    c.charset = parse_charset(read.text("charset"));
    c.vocabulary = Vocabulary::from_text(read.text("vocabulary"));
  } catch (const Error& e) {
    throw Error(fmt::format("{}: {}", path, e.what()));
  }
  check_vocabulary(c.charset, c.vocabulary, path);
  c.labels = split_lines(read.text("labels"));
  if (c.labels.size() < 2 || std::find(c.labels.begin(), c.labels.end(), "") != c.labels.end())
    throw Error(fmt::format("{}: meta.labels holds {} language names (expected two or more)", path,
                            c.labels.size()));
  // A repeated name would show a prediction under the wrong language.
  std::set<std::string> seen;
  for (const std::string& label : c.labels)
    if (!seen.insert(label).second)
      throw Error(fmt::format("{}: meta.labels lists '{}' twice", path, shortened(label)));
  return c;
}

std::string describe(const ModelConfig& c) {
  const nn::CellSpec& spec = nn::cell_spec(nn::parse_cell_kind(c.cell));
  const std::string cell =
      spec.gate_count == 1 ? fmt::format("RNN ({})", spec.label) : spec.layer_name;
  return fmt::format("{}{}, {} layer{} x {}, {} ({} characters, {}), {} languages",
                     c.bidirectional ? "bidirectional " : "", cell, c.layers,
                     c.layers == 1 ? "" : "s", c.hidden,
                     c.embedding ? fmt::format("embedding {}", c.embedding) : "one-hot input",
                     c.vocabulary.size(), to_string(c.charset), c.labels.size());
}

double parameter_estimate(const ModelConfig& c) {
  const double vocab = double(c.vocabulary.size()), labels = double(c.labels.size());
  const std::size_t gates = nn::gate_count(nn::parse_cell_kind(c.cell));
  const std::size_t input = c.embedding > 0 ? c.embedding : c.vocabulary.size();
  return vocab * double(c.embedding) +
         examples::recurrent_parameters(gates, input, c.hidden, c.layers, c.bidirectional) +
         (double(c.hidden) * (c.bidirectional ? 2 : 1) + 1) * labels;
}

NameClassifier::NameClassifier(ModelConfig config, Generator& gen) : config_(std::move(config)) {
  const ModelConfig& c = config_;
  if (!is_cell(c.cell))
    throw Error("NameClassifier: unknown model '" + c.cell + "' (expected " +
                fmt::format("{}", fmt::join(cell_choices(), ", ")) + ")");
  if (c.labels.size() < 2) throw Error("NameClassifier: needs at least two languages");
  const std::size_t vocab = c.vocabulary.size();
  if (c.embedding > 0)
    // Id 0 (unknown characters and padding) is a zero vector that never learns, as the one-hot
    // input's all-zero column.
    embedding_ = register_module(
        "embedding", std::make_shared<nn::Embedding>(vocab, c.embedding, Vocabulary::kUnknown, gen));
  nn::RecurrentOptions o;
  o.input_size(c.embedding > 0 ? c.embedding : vocab);
  o.hidden_size(c.hidden);
  o.num_layers(c.layers);
  o.bidirectional(c.bidirectional);
  o.dropout(c.layers > 1 ? c.dropout : 0.0);
  o.return_sequences(false);
  rnn_ = register_module("rnn", nn::make_recurrent_layer(nn::parse_cell_kind(c.cell), o, gen));
  dropout_ = register_module("dropout", std::make_shared<nn::Dropout>(c.dropout, gen));
  fc_ = register_module("fc", std::make_shared<nn::Linear>(
                                   c.hidden * (c.bidirectional ? 2 : 1), c.labels.size(), true, gen));
}

Tensor NameClassifier::inputs(const Batch& batch) {
  if (embedding_) return embedding_->forward(batch.ids);
  const std::size_t T = batch.ids.shape.at(0), B = batch.ids.shape.at(1);
  const std::size_t V = config_.vocabulary.size();
  auto onehot = xt::xarray<float>::from_shape({T, B, V});
  std::fill(onehot.begin(), onehot.end(), 0.0f);
  float* out = onehot.data();
  for (std::size_t i = 0; i < T * B; ++i) {
    const std::int64_t id = batch.ids.data[i];
    if (id < 0 || static_cast<std::size_t>(id) >= V)
      throw Error(fmt::format("NameClassifier: character id {} outside the vocabulary of {}", id, V));
    if (id != Vocabulary::kUnknown) out[i * V + static_cast<std::size_t>(id)] = 1.0f;
  }
  return Tensor(std::move(onehot));
}

Tensor NameClassifier::forward(const Batch& batch) {
  const Tensor x = inputs(batch);
  const nn::RecurrentOutput out = rnn_->forward(x, nn::RecurrentState{}, batch.lengths);
  return fc_->forward(dropout_->forward(out.last));
}

}  // namespace tg::examples::names
