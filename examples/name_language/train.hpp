// name_language training on tg::train::Trainer: class weights, the optimizer, the step on batches
// sorted by length, the validation, and what a run records (model.npz, metrics.csv, curves.svg).
#pragma once

#include <cstddef>
#include <cstdio>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "common/run_flags.hpp"
#include "name_language/data.hpp"
#include "name_language/model.hpp"
#include "tapegrad/autograd/random.hpp"
#include "tapegrad/optim/optim.hpp"
#include "tapegrad/train/callbacks.hpp"
#include "tapegrad/train/trainer.hpp"

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

// Logit adjustment (Menon et al., "Long-tail learning via logit adjustment", 2021): training
// adds tau x log(the class's share of the training examples) to every logit before the loss, a
// larger deduction for a rarer class, which the model learns to make up for; the logits it
// answers with, without the bias, lean toward the rare classes. The bias per class; a class
// absent from training gets the smallest present class's. Empty for tau = 0.
std::vector<double> logit_adjustment(const std::vector<std::size_t>& counts, double tau);

// The training loss: the sum over the members of the cross-entropy of their logits plus `bias`
// (undefined: none) against `labels`; each member its own loss, so they learn as separately
// trained models do.
Tensor members_loss(const std::vector<Tensor>& member_logits, const Indices& labels,
                    const CrossEntropyOptions& options, const Tensor& bias);

// name_language's own schedule beside cosine and linear: the lr times --lr-decay every epoch.
inline constexpr const char* kExponentialSchedule = "exponential";
// The default: a cosine decay to a tenth of the lr over the epochs. It reaches the quality of the
// exponential decay with early stopping in fewer epochs (bench/README.md, "The split by name").
inline ScheduleFlags cosine_schedule() {
  ScheduleFlags flags;
  flags.schedule = "cosine";
  return flags;
}

struct TrainOptions {
  std::size_t epochs = 20;
  std::size_t batch = 64;  // names per process: the global batch is this times the processes
  std::string optimizer = "adam";  // adam (AdamW when weight_decay > 0), sgd, rmsprop
  double lr = 2e-3;
  ScheduleFlags schedule = cosine_schedule();  // --schedule, --warmup, --lr-floor
  double lr_decay = 0.92;    // exponential schedule: lr multiplied by this after every epoch
  double momentum = 0.9;     // sgd only
  double weight_decay = 0.1;  // decoupled (AdamW); keeps the n-gram member from overfitting early
  double clip = 5.0;         // max gradient norm; 0: off
  ClassWeights weights = ClassWeights::None;
  double label_smoothing = 0;  // of the cross-entropy's targets, as PyTorch's
  double logit_adjustment = 0.5;  // tau of logit_adjustment; 0: off
  Sampling sampling = Sampling::Natural;
  // Epochs without a better validation accuracy before stopping; 0: off (the default: stopping
  // would cut a cosine schedule before its lowest learning rates). The best epoch is kept anyway.
  std::size_t patience = 0;
  // Weight averaging: validation and the saved model use an exponential moving average of the
  // weights over the steps (Polyak averaging), decay per step; 0: the raw weights.
  double average = 0.99;
};

std::unique_ptr<optim::Optimizer> make_optimizer(const std::string& name, nn::NamedTensors params,
                                                 const TrainOptions& options);

// How train_model records its run. By default nothing is written and nothing resumed.
struct TrainRun {
  // The run folder, resume, time limit, program name and hints (the example sets the rest).
  tg::train::TrainerOptions options;
  // model.npz's metadata, beside the epoch and the validation accuracy, whenever the validation
  // accuracy improves.
  std::function<std::map<std::string, std::string>(const tg::train::Logs&)> checkpoint_meta;
  std::vector<std::shared_ptr<tg::train::Callback>> callbacks;  // the program's own
};

// One epoch as metrics.csv reports it (a time-limited last epoch may be partial).
struct EpochRecord {
  std::size_t epoch = 0;
  double train_loss = 0;      // mean (weighted) training loss over the epoch
  double train_accuracy = 0;  // on the training batches as seen (dropout on)
  double val_loss = 0;
  double val_accuracy = 0;
  double val_macro_accuracy = 0;
  double seconds = 0;  // of training, validation excluded
  double names = 0;    // trained on
};

struct TrainResult {
  std::vector<EpochRecord> history;
  std::size_t best_epoch = 0;  // whose weights the model holds
  double best_val_accuracy = 0;
  double best_val_macro_accuracy = 0;
  double train_seconds = 0;  // without validation
  double names = 0;          // trained on, over the run
  std::string stop_reason;   // "max_epochs", "early stopping", "time limit"
};

// Trains `model` and leaves it holding the weights of the best validation epoch. Progress lines
// go to `out`. `gen` draws each epoch's batches.
TrainResult train_model(NameClassifier& model, const EncodedSet& train, const EncodedSet& validation,
                        const TrainOptions& options, Generator& gen, const TrainRun& run = {},
                        std::FILE* out = stdout);

}  // namespace tg::examples::names
