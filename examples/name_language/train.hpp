// name_language training loop: mini-batches, class weights, optimizer, schedule, clipping, early
// stopping on validation accuracy, and a progress line per epoch.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "tapegrad/autograd/random.hpp"
#include "name_language/data.hpp"
#include "name_language/model.hpp"
#include "tapegrad/optim/optim.hpp"
#include "tapegrad/train/resume.hpp"

namespace tg::examples::names {

// Loss weight of a class with n training examples: 1/n^power. None (0), Sqrt (0.5) and Inverse
// (1) are the usual choices; powers in between trade overall accuracy for the small classes'.
struct ClassWeights {
  double power = 0;
  static const ClassWeights None, Sqrt, Inverse;
  bool operator==(const ClassWeights& other) const { return power == other.power; }
};
inline constexpr ClassWeights ClassWeights::None{0.0};
inline constexpr ClassWeights ClassWeights::Sqrt{0.5};
inline constexpr ClassWeights ClassWeights::Inverse{1.0};
std::string to_string(ClassWeights weights);  // "none", "sqrt", "inverse" or the power
// "none", "sqrt", "inverse" or a power in [0, 1].
ClassWeights parse_class_weights(const std::string& text);

// Loss weight per class from the training counts, 1/n^power, scaled so that the mean weight over
// the training examples is 1 (the loss keeps its usual size). Empty for None.
std::vector<double> class_weights(const std::vector<std::size_t>& counts, ClassWeights kind);

struct TrainOptions {
  std::size_t epochs = 30;
  std::size_t batch = 64;
  std::string optimizer = "adam";  // adam (AdamW when weight_decay > 0), sgd, rmsprop
  double lr = 2e-3;
  double lr_decay = 0.92;    // lr multiplied by this after every epoch
  double momentum = 0.9;     // sgd only
  double weight_decay = 0;
  double clip = 5.0;         // max gradient norm; 0: off
  ClassWeights weights = ClassWeights::None;
  Sampling sampling = Sampling::Natural;
  std::size_t patience = 10;  // epochs without a better validation accuracy before stopping; 0: off
  double time_limit = 0;     // seconds of training; 0: none
  // Weight averaging: validation and the saved model use an exponential moving average of the
  // weights over the steps (Polyak averaging), decay per step; 0: the raw weights.
  double average = 0.99;
};

// One row of metrics.csv.
struct EpochRecord {
  std::size_t epoch = 0;
  std::size_t steps = 0;     // optimizer steps so far
  double lr = 0;             // used during the epoch
  double train_loss = 0;     // mean (weighted) training loss over the epoch
  double train_accuracy = 0; // on the training batches as seen (dropout on)
  double val_loss = 0;
  double val_accuracy = 0;
  double val_macro_accuracy = 0;
  double seconds = 0;        // training time of the epoch (without validation)
  double names_per_second = 0;
  double elapsed = 0;        // training time since the start
  bool best = false;         // the best validation accuracy so far
  bool partial = false;      // cut short by the time limit
};

struct TrainHooks {
  std::function<void(const EpochRecord&)> on_epoch;  // after validation, every epoch
  std::function<void(const EpochRecord&)> on_best;   // a new best model is in `model`
  // Asked before every batch; on a stop the loop saves a resume point in the middle of the
  // epoch, then the request ends the run.
  tg::train::StopRequest* stop = nullptr;
  // Before the first epoch, after each one, and on a stop in the middle of one: `state` holds
  // everything the loop needs to continue from there (the caller adds its own entries and saves
  // it).
  std::function<void(tg::train::ResumeState& state)> on_resume_point;
  // Continue from such a state instead of starting afresh.
  const tg::train::ResumeState* resume = nullptr;
};

struct TrainResult {
  std::vector<EpochRecord> history;
  std::size_t best_epoch = 0;
  double best_val_accuracy = 0;
  double train_seconds = 0;  // without validation
  std::string stop_reason;   // "epochs", "early stopping", "time limit"
};

// EpochRecords as exact text and back, for the resume checkpoint.
std::string history_text(const std::vector<EpochRecord>& history);
std::vector<EpochRecord> history_from_text(const std::string& text);

std::unique_ptr<optim::Optimizer> make_optimizer(const std::string& name, nn::NamedTensors params,
                                                 const TrainOptions& options);

// Trains `model` and leaves it holding the weights of the best validation epoch. Progress lines
// go to `out`. `gen` drives shuffling and sampling.
TrainResult train_model(NameClassifier& model, const EncodedSet& train, const EncodedSet& validation,
                        const TrainOptions& options, Generator& gen, const TrainHooks& hooks,
                        std::FILE* out = stdout);

}  // namespace tg::examples::names
