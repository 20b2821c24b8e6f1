// tg::train::Trainer: the training loop users write every time (Keras' fit, Lightning's Trainer).
//
// The user gives an epoch's plan (its global batches of item indices), a step (batch -> loss and
// metrics) and optionally a validation; the Trainer owns the rest: epochs and steps, backward,
// gradient clipping, the optimizer and LR schedule steps, data-parallel averaging under mpirun
// (tg::train::parallel()), the time budget, SIGINT/SIGTERM (saved where the run stopped), the
// run folder (lock, resume.npz, metrics.csv, curves.svg, written atomically by rank 0 alone),
// resume bit for bit, a progress line, and callbacks for the rest (EarlyStopping,
// ModelCheckpoint: tapegrad/train/callbacks.hpp).
#pragma once

#include <cstdio>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "tapegrad/autograd/options.hpp"
#include "tapegrad/autograd/random.hpp"
#include "tapegrad/nn/module.hpp"
#include "tapegrad/optim/lr_scheduler.hpp"
#include "tapegrad/optim/optimizer.hpp"

namespace tg::train {

class ResumeState;
class Callback;

// Metrics by name. At each validation point: "epoch", "step" (optimizer steps so far), "lr" (the
// first group's, before the epoch's schedule step), "train_seconds" (so far, validation
// excluded), "epoch_seconds" and "items_per_second" (of the epoch so far, a resumed epoch's
// earlier part included; the step's units where it counts them), "loss" and the step's metrics
// (means since the last validation point), then the validation's ("val_loss", ...).
using Logs = std::map<std::string, double>;

// How each process takes its share of a global batch under mpirun: a contiguous slice, or every
// size()-th item (for batches sorted by length, every process then pads alike).
enum class Split { Contiguous, Strided };

using DataFacts = std::vector<std::pair<std::string, std::string>>;
// {name, value} pairs: how a run is configured (TrainerOptions::settings).
using Settings = std::vector<std::pair<std::string, std::string>>;

// Where progress and messages go (a name, so that TG_ARG's `const T&` is a const pointer).
using OutputStream = std::FILE*;

class TrainerOptions {
 public:
  TG_ARG(std::size_t, max_epochs) = 1;
  // Seconds of training (validation excluded); 0: no budget. At the budget the epoch stops where
  // it is, is validated, and fit ends ("time limit"); callbacks restore the best weights.
  TG_ARG(double, max_time) = 0;
  TG_ARG(double, gradient_clip_val) = 0;  // total 2-norm of the gradients (clip_grad_norm); 0: off
  // Also validate every N optimizer steps inside an epoch (not at its last batch); 0: only at
  // the end of each epoch.
  TG_ARG(std::size_t, val_check_interval) = 0;
  // The run folder; empty: nothing is written and nothing can be resumed.
  TG_ARG(std::filesystem::path, run_dir);
  TG_ARG(bool, overwrite) = false;  // a non-empty run_dir is replaced (else refused)
  TG_ARG(bool, resume) = false;     // continue the run saved in run_dir
  // What the run trains on, as facts a resume must find unchanged: {what, its value now}, e.g.
  // {"data folder", "/home/me/names"}, {"data", "1,016 names in 18 languages, fingerprint
  // 8c1f..."} (see Fingerprint). Saved in resume.npz; fit refuses to resume on another value in
  // one line naming what changed, then and now, unless allow_data_change. The number of
  // processes is checked likewise, always (the global batch depends on it).
  TG_ARG(DataFacts, same_data);
  // A resumed run whose data differs trains on it, with a warning (the interrupted epoch starts
  // again: its saved plan indexes the old data), instead of being refused.
  TG_ARG(bool, allow_data_change) = false;
  // How a user allows it, for the refusal's line.
  TG_ARG(std::string, allow_data_change_hint) = "allow_data_change(true)";
  // Who writes the run (resume.npz records it; another program's run is refused).
  TG_ARG(std::string, program) = "tapegrad";
  // How the run was started, recorded in resume.npz (a program's `--resume RUN` reads it back).
  TG_ARG(std::string, command_line);
  // What the run trains with, {name, value}: e.g. every command-line option with its value after
  // parsing, defaults included. Saved in resume.npz; fit refuses to resume under other settings
  // (a value changed, a setting new or gone), in one line naming each difference, since a build
  // (or a machine) with other defaults would otherwise continue the run with them, silently. A
  // run saved without settings (by an older build) resumes with a warning that they could not be
  // checked.
  TG_ARG(Settings, settings);
  // The command that resumes, for the line printed when a signal stops the run: "<hint> '<run>'".
  TG_ARG(std::string, resume_hint) = "resume with run_dir and resume(true):";
  TG_ARG(std::string, divergence_hint) = "try a smaller learning rate or gradient clipping";
  TG_ARG(bool, handle_signals) = true;  // SIGINT/SIGTERM stop at the next batch, saved there
  TG_ARG(bool, progress_bar) = true;
  TG_ARG(std::string, unit) = "items";  // what the items are: "12.3k names/s"
  TG_ARG(int, log_every_percent) = 10;  // without a terminal: a line every this many percent
  TG_ARG(OutputStream, stream) = stdout;  // progress and messages
  // In run_dir: one row per validation (a CsvLogger), every metric's curve (Curves); empty: none
  // (a program that wants its own columns or charts adds those callbacks itself).
  TG_ARG(std::string, metrics_file) = "metrics.csv";
  TG_ARG(std::string, curves_file) = "curves.svg";
  TG_ARG(Split, split) = Split::Contiguous;
};

// One epoch's global batches: item indices (names, windows, sentence pairs, stream chunks); every
// process takes its share of each (TrainerOptions::split). Drawn once per epoch by the plan function and saved
// with a mid-epoch stop, so that a resumed run neither draws it again nor changes it.
using EpochPlan = std::vector<std::vector<std::size_t>>;

struct Batch {
  std::size_t epoch = 0;  // 1-based
  std::size_t index = 0;  // 0-based within the epoch
  std::size_t count = 0;  // batches in the epoch
  std::size_t step = 0;   // optimizer steps done before this one, over the run
  std::vector<std::size_t> items;  // this rank's share of the global batch
  std::size_t global_items = 0;    // the global batch's size
};

struct StepOutput {
  Tensor loss;  // the (weighted) mean over this rank's items; the Trainer calls backward
  // Means over this rank's items ("accuracy"), reported weighted like the loss. Every process's
  // step returns the same names.
  Logs metrics;
  // This rank's weight in the global batch's mean (a class-weighted loss: the sum of its items'
  // weights); negative: its number of items.
  double weight = -1;
  // How many of the progress line's units (TrainerOptions::unit) this rank's step read, where
  // they are not its items (text streams counted in characters); negative: its number of items.
  double units = -1;
};

// A thing whose state a resumed run needs beside the model, the optimizer and the generators:
// carried recurrent state, counters, a data cursor. Saved with every resume point.
class Stateful {
 public:
  virtual ~Stateful() = default;
  virtual void save(ResumeState& state, const std::string& prefix) const = 0;
  virtual void load(const ResumeState& state, const std::string& prefix) = 0;
};

struct FitResult {
  std::vector<Logs> history;  // one row per validation point: "epoch", "step", "loss", ...
  std::size_t epochs = 0;     // completed (a partial last epoch counts)
  std::size_t steps = 0;
  double train_seconds = 0;
  std::string stop_reason;    // "max_epochs", "time limit", or the callback's ("early stopping")
};

using PlanFn = std::function<EpochPlan(std::size_t epoch)>;
using StepFn = std::function<StepOutput(const Batch&)>;
using ValidateFn = std::function<Logs()>;  // runs in eval mode without recording

class Trainer {
 public:
  Trainer(nn::Module& model, optim::Optimizer& optimizer, TrainerOptions options = {});
  ~Trainer();
  Trainer(const Trainer&) = delete;
  Trainer& operator=(const Trainer&) = delete;

  Trainer& scheduler(optim::LRScheduler& schedule);  // stepped after every epoch
  Trainer& callback(std::shared_ptr<Callback> callback);  // called in the order given
  // Saved and restored with the run ("rng.<key>"); default_generator() always is.
  Trainer& track(const std::string& key, Generator& generator);
  Trainer& track(const std::string& prefix, Stateful& state);

  // The progress line's note from the step metrics' running means ("acc 81.2%"), and the text
  // that ends an epoch's line from its validation point's logs; default: every metric.
  Trainer& progress_note(std::function<std::string(const Logs& running)> note);
  Trainer& epoch_summary(std::function<std::string(const Logs& logs)> summary);

  FitResult fit(const PlanFn& plan, const StepFn& step, const ValidateFn& validate = {});

  // For callbacks and the step.
  nn::Module& model() { return model_; }
  optim::Optimizer& optimizer() { return optimizer_; }
  const TrainerOptions& options() const { return options_; }
  const std::filesystem::path& run_dir() const { return options_.run_dir(); }
  bool writes_files() const;  // a run folder, and this is the process that writes (rank 0)
  std::size_t epoch() const { return epoch_; }
  std::size_t global_step() const { return step_; }
  // Seconds of training (validation excluded) when the last optimizer step ended.
  double train_seconds() const { return seconds_at_step_; }
  const std::vector<Logs>& history() const { return history_; }
  // Keras' stop_training: fit ends after this validation point, saying `reason`.
  void stop(const std::string& reason) { stop_reason_ = reason; }
  // A line above the progress line (rank 0).
  void message(const std::string& line);

 private:
  struct Loop;
  void open();
  void check_same_run(const ResumeState& saved);
  void check_same_settings(const ResumeState& saved);
  void save_point(bool finished, const Loop* position);
  void load_point(Loop& loop);

  nn::Module& model_;
  optim::Optimizer& optimizer_;
  TrainerOptions options_;
  optim::LRScheduler* schedule_ = nullptr;
  std::vector<std::shared_ptr<Callback>> callbacks_;
  std::vector<std::pair<std::string, Generator*>> generators_;
  std::vector<std::pair<std::string, Stateful*>> states_;
  std::function<std::string(const Logs&)> note_, summary_;
  struct Run;
  std::unique_ptr<Run> run_;  // the claimed folder and the state being resumed
  std::size_t epoch_ = 0, step_ = 0;
  double train_seconds_ = 0;     // at the end of the last epoch
  double seconds_at_step_ = 0;  // at the end of the last step
  std::vector<Logs> history_;
  std::string stop_reason_;
};

}  // namespace tg::train
