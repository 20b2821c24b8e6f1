// seq2seq training loop: teacher-forced mini-batches, Adam, gradient clipping, a time limit and
// early stopping on validation exact match.
#pragma once

#include <cstddef>
#include <cstdio>
#include <functional>
#include <string>
#include <vector>

#include "tapegrad/autograd/random.hpp"
#include "tapegrad/train/files.hpp"
#include "tapegrad/train/resume.hpp"
#include "seq2seq/evaluate.hpp"
#include "seq2seq/model.hpp"

namespace tg::examples::seq2seq {

struct TrainOptions {
  std::size_t epochs = 40;
  std::size_t batch = 64;
  double lr = 3e-3;
  double lr_decay = 0.9;   // per epoch
  double clip = 5.0;       // max gradient norm; 0: off
  std::size_t patience = 4;  // epochs without a better validation exact match; 0: off
  double time_limit = 170;   // seconds of training (validation excluded); 0: none
};

// One row of metrics.csv.
struct EpochRecord {
  std::size_t epoch = 0;
  std::size_t steps = 0;
  double lr = 0;
  double train_loss = 0;
  double val_exact = 0;     // greedy exact match on the validation part
  double seconds = 0;       // training time of the epoch
  double elapsed = 0;       // training time since the start (validation excluded)
  double pairs_per_second = 0;
  bool best = false;
  bool partial = false;     // cut short by the time limit
};

// EpochRecords as exact text and back, for the resume checkpoint.
std::string history_text(const std::vector<EpochRecord>& history);
std::vector<EpochRecord> history_from_text(const std::string& text);

std::vector<std::string> metrics_header();
std::vector<tg::train::CsvField> metrics_row(const EpochRecord& r);
// Training loss and validation exact match per epoch, two charts in one SVG.
void write_curves_svg(const std::filesystem::path& path, const std::vector<EpochRecord>& history);

struct TrainHooks {
  std::function<void(const EpochRecord&)> on_epoch;  // after validation
  std::function<void(const EpochRecord&)> on_best;   // the model holds a new best
  // Asked before every batch; on a stop the loop saves a resume point in the middle of the
  // epoch, then the request ends the run.
  tg::train::StopRequest* stop = nullptr;
  // Before the first epoch and after each one: `state` holds everything the loop needs to
  // continue from there (the caller adds its own entries and saves it).
  std::function<void(tg::train::ResumeState& state)> on_resume_point;
  // Continue from such a state instead of starting afresh.
  const tg::train::ResumeState* resume = nullptr;
};

struct TrainResult {
  std::vector<EpochRecord> history;
  std::size_t best_epoch = 0;
  double best_val_exact = 0;
  double train_seconds = 0;
  std::string stop_reason;  // "epochs", "early stopping", "time limit", "perfect validation"
};

// Trains `model` and leaves it holding the weights of the best validation epoch.
TrainResult train_model(Seq2Seq& model, const EncodedPairs& train, const EncodedPairs& validation,
                        const std::vector<Pair>& validation_pairs, const TrainOptions& options,
                        Generator& gen, const TrainHooks& hooks, std::FILE* out = stdout);

}  // namespace tg::examples::seq2seq
