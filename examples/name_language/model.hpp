// name_language model: characters -> (embedding or one-hot) -> RNN / LSTM / GRU -> language logits,
// optionally beside a bag of hashed character n-grams, and the checkpoint metadata it is rebuilt
// from.
#pragma once

#include <cstddef>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "tapegrad/autograd/random.hpp"
#include "name_language/data.hpp"
#include "tapegrad/nn/nn.hpp"
#include "tapegrad/train/checkpoint.hpp"

namespace tg::examples::names {

// What the classifier reads of the recurrent layer: Last, each direction's final hidden state;
// Concat, those beside the maximum and the mean of its outputs over the name's characters
// (ULMFiT's concat pooling), three times the features.
enum class Pooling { Last, Concat };
std::string to_string(Pooling pooling);  // "last", "concat"
Pooling parse_pooling(const std::string& text);  // throws tg::Error naming the choices

// Everything needed to rebuild the model and read names the way it was trained.
struct ModelConfig {
  std::string cell = "gru";  // "rnn" (tanh), "lstm" or "gru"
  std::size_t hidden = 128;
  std::size_t layers = 1;
  bool bidirectional = false;  // the classifier reads both directions' final states
  std::size_t embedding = 0;  // 0: one-hot characters
  double dropout = 0.0;       // on the final hidden state and between stacked layers
  Charset charset = Charset::Ascii;
  Vocabulary vocabulary;
  std::vector<std::string> labels;
  // The n-gram member: each name's character 1- to `ngrams`-grams (with start and end marks),
  // hashed to `ngram_buckets` rows of a table of language scores, averaged. 0: no such member.
  std::size_t ngrams = 0;
  std::size_t ngram_buckets = 32749;  // a prime: the hash is the n-gram's code modulo it
  // The answer's probabilities are divided by each language's share of the training names to the
  // power prior_shift (0: not at all): a lean toward the rare languages, with no parameters.
  double prior_shift = 0;
  std::vector<std::size_t> class_counts;  // training names per language; needed when shifting
  Pooling pooling = Pooling::Last;
  double input_dropout = 0.0;  // on the characters' embeddings (or one-hot vectors)
};

// Metadata entries of the checkpoint ("model", "hidden", ..., "vocabulary", "labels") and back.
// from_meta throws tg::Error "<path>: ..." naming a missing or invalid entry.
// What --model and meta.model take: "rnn" (tanh) and every gated kind's label (lstm, gru, mgu).
std::vector<std::string> cell_choices();
std::map<std::string, std::string> to_meta(const ModelConfig& config);
ModelConfig config_from_meta(const std::map<std::string, std::string>& meta,
                             const std::string& path);
// Typed reads of a name_language checkpoint's metadata ("<path>: the checkpoint has no meta.<key>
// entry" when one is missing); `meta` must outlive the reader.
tg::train::MetaReader meta_reader(const std::map<std::string, std::string>& meta,
                                  const std::string& path);
// "GRU, 1 layer x 128, one-hot input (58 characters), 18 languages"
std::string describe(const ModelConfig& config);

// The parameter count of NameClassifier(config), computed without building it (in double: a
// damaged checkpoint's sizes must not overflow).
double parameter_estimate(const ModelConfig& config);

// The n-gram member's rows for a padded batch: [B, G] table rows (1..buckets; 0 pads a name's
// short list) of every character n-gram of each name, n = 1..longest, read as its codes with a
// start mark (id V = vocabulary size) before and an end mark (V + 1) after. An n-gram's row is
// 1 + (n * R^n + sum_j s_j * R^(n-1-j)) mod buckets, R = V + 2 (the ONNX export computes the same).
struct NgramRows {
  static constexpr long kPadding = 0;  // the table's row that stays zero
  Indices rows;                 // [B, G]
  std::vector<double> counts;   // B: n-grams of each name, (L + 2) + (L + 1) + ... for length L
};
NgramRows ngram_rows(const Batch& batch, std::size_t vocabulary, std::size_t longest,
                     std::size_t buckets);
// Whether the codes of 1- to `longest`-grams over `vocabulary` characters fit in an int64 (the
// ONNX export computes them in int64 too); ngram_rows and NameClassifier refuse those that don't.
bool ngram_codes_fit(std::size_t vocabulary, std::size_t longest);

class NameClassifier : public nn::Module {
 public:
  // The n-gram member's table values are 1/kNgramScale of the scores they add: Adam moves every
  // parameter by about lr per step, and at the GRU's lr an unscaled table learns ~20x too slowly.
  static constexpr double kNgramScale = 20.0;

  NameClassifier(ModelConfig config, Generator& gen);
  std::string type_name() const override { return "NameClassifier"; }

  // Logits [B, classes] for a padded batch: the recurrent member's, or with the n-gram member the
  // log of the two members' mean softmax; then minus prior_shift x log(training share). The
  // recurrent member reads each name up to its own length and classifies from the final hidden
  // state of the top layer (with Pooling::Concat, also its outputs' maximum and mean).
  Tensor forward(const Batch& batch);
  using Module::forward;  // a plain Tensor is refused: the model reads a Batch
  // Each member's own logits (the recurrent one first): training minimizes the sum of their
  // losses, so that the two learn as separately trained models that are then averaged.
  std::vector<Tensor> member_logits(const Batch& batch);
  // What forward makes of the members' logits: their mean softmax as log-probabilities (one
  // member's logits as they are), shifted by the prior.
  Tensor combine(const std::vector<Tensor>& logits) const;

  const ModelConfig& config() const { return config_; }
  // -prior_shift x log(share of the training names) per language [classes]; empty without a shift.
  const Tensor& prior_bias() const { return prior_bias_; }
  // The n-gram member's table [buckets + 1, classes] (empty without it), in units of
  // 1/kNgramScale.
  const Tensor& ngram_table() const { return ngram_table_; }
  // The recurrent layer, whose own generator draws the dropout between stacked layers.
  nn::RecurrentLayer& rnn() { return *rnn_; }

 private:
  Tensor inputs(const Batch& batch);  // [T, B, features]

  ModelConfig config_;
  std::shared_ptr<nn::Embedding> embedding_;  // null for one-hot input
  std::shared_ptr<nn::Dropout> input_dropout_;
  std::shared_ptr<nn::RecurrentLayer> rnn_;
  std::shared_ptr<nn::Dropout> dropout_;
  std::shared_ptr<nn::Linear> fc_;
  Tensor ngram_table_;  // [buckets + 1, classes]; row 0 (padding) stays zero; empty without n-grams
  Tensor prior_bias_;   // a constant of the config, not a parameter
};

}  // namespace tg::examples::names
