// name_language model: the classifier's layers, its forward pass and its checkpoint metadata.
#include "name_language/model.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "common/limits.hpp"
#include "common/text.hpp"
#include "tapegrad/autograd/ops.hpp"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdlib>
#include <set>

namespace tg::examples::names {

namespace {

constexpr std::size_t kMaxNgram = 8;

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
          {"input_dropout", fmt::format("{}", c.input_dropout)},
          {"pooling", to_string(c.pooling)},
          {"ngrams", std::to_string(c.ngrams)},
          {"ngram_buckets", std::to_string(c.ngram_buckets)},
          {"prior_shift", fmt::format("{}", c.prior_shift)},
          {"class_counts", fmt::format("{}", fmt::join(c.class_counts, "\n"))},
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

std::string to_string(Pooling pooling) { return pooling == Pooling::Concat ? "concat" : "last"; }

Pooling parse_pooling(const std::string& text) {
  if (text == "last") return Pooling::Last;
  if (text == "concat") return Pooling::Concat;
  throw Error(fmt::format("pooling '{}' (expected last or concat)", shortened(text)));
}

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
  // Checkpoints written before these existed read the final states without input dropout.
  if (meta.count("input_dropout")) c.input_dropout = read.number("input_dropout", 0, 1, "");
  if (meta.count("pooling")) {
    try {
      c.pooling = parse_pooling(read.text("pooling"));
    } catch (const Error& e) {
      throw Error(fmt::format("{}: meta.{}", path, e.what()));
    }
  }
  // Checkpoints written before the n-gram member existed have none.
  if (meta.count("ngrams")) {
    c.ngrams = read.size("ngrams", 0, kMaxNgram, "a size");
    c.ngram_buckets = read.size("ngram_buckets", 1, kMaxSize, "a size");
  }
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
  // Checkpoints written before the prior shift existed have none.
  if (meta.count("prior_shift")) {
    c.prior_shift = read.number("prior_shift", 0, std::nullopt, "");
    if (c.prior_shift > 1)
      throw Error(fmt::format("{}: meta.prior_shift is {} (expected 0 to 1)", path, c.prior_shift));
    for (const std::string& line : split_lines(read.text("class_counts"))) {
      if (line.empty()) continue;
      char* end = nullptr;
      const unsigned long long n = std::strtoull(line.c_str(), &end, 10);
      if (*end != '\0' || !std::isdigit(static_cast<unsigned char>(line[0])))
        throw Error(fmt::format("{}: meta.class_counts holds '{}', not a count", path,
                                shortened(line)));
      c.class_counts.push_back(static_cast<std::size_t>(n));
    }
    if (c.prior_shift > 0 && c.class_counts.size() != c.labels.size())
      throw Error(fmt::format("{}: meta.class_counts holds {} counts for {} languages", path,
                              c.class_counts.size(), c.labels.size()));
  }
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
  const std::string ngrams =
      c.ngrams ? fmt::format(" + character 1-{}-grams in {} buckets", c.ngrams, c.ngram_buckets)
               : "";
  return fmt::format("{}{}, {} layer{} x {}{}, {} ({} characters, {}){}, {} languages{}",
                     c.bidirectional ? "bidirectional " : "", cell, c.layers,
                     c.layers == 1 ? "" : "s", c.hidden,
                     c.pooling == Pooling::Concat ? " (last, max and mean)" : "",
                     c.embedding ? fmt::format("embedding {}", c.embedding) : "one-hot input",
                     c.vocabulary.size(), to_string(c.charset), ngrams, c.labels.size(),
                     c.prior_shift > 0 ? fmt::format(", prior shift {}", c.prior_shift) : "");
}

bool ngram_codes_fit(std::size_t vocabulary, std::size_t longest) {
  // Every code is below (longest + 1) * R^longest, R = vocabulary + 2.
  const double radix = double(vocabulary) + 2;
  return std::log2(double(longest) + 1) + double(longest) * std::log2(radix) < 62;
}

double parameter_estimate(const ModelConfig& c) {
  const double vocab = double(c.vocabulary.size()), labels = double(c.labels.size());
  const std::size_t gates = nn::gate_count(nn::parse_cell_kind(c.cell));
  const std::size_t input = c.embedding > 0 ? c.embedding : c.vocabulary.size();
  return vocab * double(c.embedding) +
         examples::recurrent_parameters(gates, input, c.hidden, c.layers, c.bidirectional) +
         (double(c.hidden) * (c.bidirectional ? 2 : 1) * (c.pooling == Pooling::Concat ? 3 : 1) +
          1) * labels +
         (c.ngrams ? (double(c.ngram_buckets) + 1) * labels : 0.0);
}

NgramRows ngram_rows(const Batch& batch, std::size_t vocabulary, std::size_t longest,
                     std::size_t buckets) {
  if (!ngram_codes_fit(vocabulary, longest))
    throw Error(fmt::format("ngram_rows: the codes of {}-grams of {} characters overflow", longest,
                            vocabulary));
  const std::size_t B = batch.ids.shape.at(1);
  const auto radix = static_cast<std::int64_t>(vocabulary) + 2;
  const auto modulus = static_cast<std::int64_t>(buckets);
  std::size_t widest = 0;
  NgramRows out;
  for (std::size_t b = 0; b < B; ++b) {
    const std::size_t marked = batch.lengths[b] + 2;
    std::size_t count = 0;
    for (std::size_t n = 1; n <= longest && n <= marked; ++n) count += marked - n + 1;
    out.counts.push_back(double(count));
    widest = std::max(widest, count);
  }
  std::vector<std::int64_t> rows(B * widest, NgramRows::kPadding);
  std::vector<std::int64_t> marked;
  for (std::size_t b = 0; b < B; ++b) {
    const std::size_t L = batch.lengths[b];
    marked.assign(1, radix - 2);  // the start mark, id V
    for (std::size_t t = 0; t < L; ++t) marked.push_back(batch.ids.data[t * B + b]);
    marked.push_back(radix - 1);  // the end mark, V + 1
    std::int64_t* row = rows.data() + b * widest;
    for (std::size_t n = 1; n <= longest && n <= marked.size(); ++n)
      for (std::size_t i = 0; i + n <= marked.size(); ++i) {
        auto code = static_cast<std::int64_t>(n);
        for (std::size_t j = 0; j < n; ++j) code = code * radix + marked[i + j];
        *row++ = 1 + code % modulus;
      }
  }
  out.rows = Indices(std::move(rows), {B, widest});
  return out;
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
  input_dropout_ =
      register_module("input_dropout", std::make_shared<nn::Dropout>(c.input_dropout, gen));
  const std::size_t features =
      c.hidden * (c.bidirectional ? 2 : 1) * (c.pooling == Pooling::Concat ? 3 : 1);
  fc_ = register_module("fc", std::make_shared<nn::Linear>(features, c.labels.size(), true, gen));
  if (c.ngrams > 0) {
    if (c.ngram_buckets == 0) throw Error("NameClassifier: the n-gram member needs buckets");
    if (!ngram_codes_fit(vocab, c.ngrams))
      throw Error(fmt::format("NameClassifier: the codes of {}-grams of {} characters overflow",
                              c.ngrams, vocab));
    // Small values, as a linear model starts near zero; row 0 pads and stays zero.
    Tensor table = Tensor::normal({c.ngram_buckets + 1, c.labels.size()}, 0.0, 0.01 / kNgramScale,
                                  DType::Float32, gen);
    auto& values = table.mutable_value<float>();
    std::fill(values.begin(), values.begin() + static_cast<std::ptrdiff_t>(c.labels.size()), 0.0f);
    ngram_table_ = register_parameter("ngram_table", table.set_requires_grad());
  }
  if (c.prior_shift > 0) {
    if (c.class_counts.size() != c.labels.size())
      throw Error(fmt::format("NameClassifier: a prior shift needs the training count of each of "
                              "the {} languages ({} given)",
                              c.labels.size(), c.class_counts.size()));
    double total = 0;
    for (std::size_t n : c.class_counts) total += double(std::max<std::size_t>(n, 1));
    std::vector<double> bias;
    for (std::size_t n : c.class_counts)
      bias.push_back(-c.prior_shift * std::log(double(std::max<std::size_t>(n, 1)) / total));
    prior_bias_ = Tensor::from_vector(bias, {c.labels.size()});
  }
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

std::vector<Tensor> NameClassifier::member_logits(const Batch& batch) {
  const Tensor x = input_dropout_->forward(inputs(batch));
  const nn::RecurrentOutput out = rnn_->forward(x, nn::RecurrentState{}, batch.lengths);
  const Tensor features =
      config_.pooling == Pooling::Concat
          ? concat({out.last, nn::max_over_steps(out.output, batch.lengths),
                    nn::mean_over_steps(out.output, batch.lengths)},
                   1)
          : out.last;
  std::vector<Tensor> logits{fc_->forward(dropout_->forward(features))};
  if (config_.ngrams > 0) {
    const NgramRows grams = ngram_rows(batch, config_.vocabulary.size(), config_.ngrams,
                                       config_.ngram_buckets);
    std::vector<double> scale;
    for (double n : grams.counts) scale.push_back(kNgramScale / n);
    const Tensor total = sum(embedding(ngram_table_, grams.rows, NgramRows::kPadding), {1});
    logits.push_back(
        mul(total, Tensor::from_vector(scale, {batch.size(), 1}, ngram_table_.dtype())));
  }
  return logits;
}

Tensor NameClassifier::combine(const std::vector<Tensor>& logits) const {
  Tensor out = logits.front();
  if (logits.size() > 1) {
    std::vector<Tensor> log_probs;
    for (const Tensor& l : logits) log_probs.push_back(log_softmax(l, 1));
    // log(mean_k p_k) = logsumexp_k(log p_k) - log K
    out = sub(logsumexp(stack(log_probs, 0), {0}),
              Tensor::scalar(std::log(double(logits.size())), out.dtype()));
  }
  if (!prior_bias_.defined()) return out;
  return add(out, prior_bias_.dtype() == out.dtype() ? prior_bias_ : prior_bias_.to(out.dtype()));
}

Tensor NameClassifier::forward(const Batch& batch) { return combine(member_logits(batch)); }

}  // namespace tg::examples::names
