// seq2seq training on tg::train::Trainer: teacher-forced mini-batches, Adam with an exponential
// learning-rate decay, early stopping on validation exact match (a perfect one stops too).
#pragma once

#include <cstddef>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "tapegrad/autograd/random.hpp"
#include "tapegrad/train/callbacks.hpp"
#include "tapegrad/train/trainer.hpp"
#include "seq2seq/evaluate.hpp"
#include "seq2seq/model.hpp"

namespace tg::examples::seq2seq {

struct TrainOptions {
  std::size_t epochs = 40;
  std::size_t batch = 64;
  double lr = 3e-3;
  double lr_decay = 0.9;     // per epoch
  double clip = 5.0;         // max gradient norm; 0: off
  std::size_t patience = 4;  // epochs without a better validation exact match; 0: off
};

// What the run folder receives beside the Trainer's resume point.
struct RunOutput {
  // model.npz's metadata beside the best epoch and its validation exact match.
  std::function<std::map<std::string, std::string>()> meta;
  // Called once the folder is claimed, before the first batch (the program's own files).
  std::function<void(const tg::train::Trainer&)> on_start;
};

struct TrainResult {
  tg::train::FitResult fit;
  std::size_t best_epoch = 0;
  double best_val_exact = 0;
  // Why training ended, for people: "epochs", "early stopping", "time limit", "perfect
  // validation".
  std::string stop_reason;
};

// Trains `model` in the run that `run` describes (a folder, resume, time limit) and leaves it
// holding the weights of the best validation epoch.
TrainResult train_model(Seq2Seq& model, const EncodedPairs& train, const EncodedPairs& validation,
                        const std::vector<Pair>& validation_pairs, const TrainOptions& options,
                        Generator& gen, tg::train::TrainerOptions run, const RunOutput& output);

}  // namespace tg::examples::seq2seq
