// name_language model: characters -> (embedding or one-hot) -> RNN / LSTM / GRU -> language logits,
// and the checkpoint metadata it is rebuilt from.
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

class NameClassifier : public nn::Module {
 public:
  NameClassifier(ModelConfig config, Generator& gen);
  std::string type_name() const override { return "NameClassifier"; }

  // Logits [B, classes] for a padded batch: each name is read up to its own length and
  // classified from the final hidden state of the top layer.
  Tensor forward(const Batch& batch);
  using Module::forward;  // a plain Tensor is refused: the model reads a Batch

  const ModelConfig& config() const { return config_; }
  // The recurrent layer, whose own generator draws the dropout between stacked layers.
  nn::RecurrentLayer& rnn() { return *rnn_; }

 private:
  Tensor inputs(const Batch& batch);  // [T, B, features]

  ModelConfig config_;
  std::shared_ptr<nn::Embedding> embedding_;  // null for one-hot input
  std::shared_ptr<nn::RecurrentLayer> rnn_;
  std::shared_ptr<nn::Dropout> dropout_;
  std::shared_ptr<nn::Linear> fc_;
};

}  // namespace tg::examples::names
