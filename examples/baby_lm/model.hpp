// baby_lm's model: Embedding -> stacked LSTMs with dropout -> Linear, and its checkpoint metadata.
#pragma once

#include <cstddef>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <tapegrad/autograd/random.hpp>
#include <tapegrad/nn/nn.hpp>
#include <tapegrad/optim/optimizer.hpp>

#include "baby_lm/corpus.hpp"

namespace tg::baby_lm {

struct ModelConfig {
  std::size_t vocab = 0;
  std::size_t embed = 32;
  std::size_t units = 128;
  std::size_t layers = 2;  // LSTM layers, each followed by a Dropout
  double dropout = 0.2;
  // Whether training reads the top LSTM at every step (stateful mode, and window mode by default)
  // or only at the last one (the seed's window mode, --last-step-only). Only the summary's
  // shapes depend on it: forward() is told what to return.
  bool all_steps = false;
};

// One RecurrentState (h and c, [1, B, units]) per LSTM layer; empty means zeros everywhere.
using LmState = std::vector<nn::RecurrentState>;
LmState detach(const LmState& state);

struct LmOutput {
  Tensor logits;  // [B, V] (last step) or [B*T, V], row b*T + t (every step)
  LmState state;  // after the last step
};

// The seed's Keras model with PyTorch's layers and names: emb (Embedding), lstm1, drop1, lstm2,
// drop2, ... (one LSTM and one Dropout per layer), fc (Linear). With the defaults and 28
// characters that is Embedding(28, 32) -> LSTM(128, all steps) -> Dropout(0.2) -> LSTM(128, last
// step) -> Dropout(0.2) -> Linear(28). Initialisation is PyTorch's, drawn from `gen`; the dropout
// masks come from the model's own generator, seeded from `gen`.
class BabyLM : public nn::Module {
 public:
  BabyLM(const ModelConfig& config, Generator& gen);
  std::string type_name() const override { return "BabyLM"; }

  // ids [B, T] from `state`; every step's logits or only the last step's.
  LmOutput forward(const Indices& ids, const LmState& state, bool all_steps);
  using Module::forward;

  const ModelConfig& config() const { return config_; }
  Generator& dropout_generator() { return dropout_gen_; }

 private:
  ModelConfig config_;
  Generator dropout_gen_;
  std::shared_ptr<nn::Embedding> emb_;
  std::vector<std::shared_ptr<nn::LSTM>> lstms_;
  std::vector<std::shared_ptr<nn::Dropout>> drops_;
  std::shared_ptr<nn::Linear> fc_;
};


// Everything `generate` needs beside the weights, stored as checkpoint text entries.
struct RunInfo {
  ModelConfig model;
  Vocabulary vocab;
  std::string mode = "window";  // or "stateful"
  std::size_t window = 15;      // window mode: characters read per prediction
  std::size_t bptt = 64;        // stateful mode: steps per batch
  std::string corpus;           // the corpus path training read
  std::map<std::string, std::string> extra;  // free-form facts (epochs, best loss, seed, ...)
};

inline const char* kExampleName = "baby_lm";

// Writes model, optimizer (may be null), generator (may be null) and `info` atomically.
void save_model(const std::string& path, const BabyLM& model, const optim::Optimizer* optimizer,
                const Generator* generator, const RunInfo& info);

struct LoadedModel {
  RunInfo info;
  std::unique_ptr<BabyLM> model;
};
// Reads a baby_lm checkpoint and rebuilds its model (weights only). A missing, corrupt or
// truncated file, another example's checkpoint, or metadata that does not describe a model is a
// tg::Error naming the file and the problem.
LoadedModel load_model(const std::string& path);

// The parameter count of BabyLM(config), computed without building it (in double).
double parameter_estimate(const ModelConfig& config);

}  // namespace tg::baby_lm
