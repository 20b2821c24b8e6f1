// baby_lm's training: options, the two modes (windows as the seed, stateful truncated BPTT) and
// what they share (run folder, checkpoints, reports).
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <tapegrad/optim/optim.hpp>
#include <tapegrad/train/callbacks.hpp>
#include <tapegrad/train/loggers.hpp>
#include <tapegrad/train/trainer.hpp>

#include "baby_lm/corpus.hpp"
#include "baby_lm/model.hpp"
#include "baby_lm/sample.hpp"
#include "common/run_flags.hpp"

namespace tg::baby_lm {

struct TrainOptions {
  std::filesystem::path corpus;
  examples::RunFlags run;     // --out, --overwrite, --resume, --time-limit
  ModelConfig model;          // vocab is set from the corpus
  std::size_t max_vocab = kDefaultMaxVocab;  // more distinct characters in the corpus: refused
  std::size_t window = 15;    // window mode
  // Window mode: score only the prediction after the whole window, as the seed does, instead
  // of the prediction after every prefix of it (see train_window.cpp for why that is the default).
  bool last_step_only = false;
  std::size_t batch = 32;     // windows per batch, or streams in stateful mode
  std::size_t epochs = 100;
  std::size_t patience = 10;  // early stopping; 0: off
  double lr = 1e-3;
  double weight_decay = 0;    // decoupled (AdamW) when > 0
  examples::ScheduleFlags schedule;  // --schedule, --warmup, --lr-floor
  double clip = -1;           // max gradient norm; 0: none; negative: the mode's default
  std::uint64_t seed = 0;
  bool stateful = false;
  std::size_t bptt = 32;
  double val_fraction = 0.05;  // stateful: the held-out tail
  std::size_t val_every = 0;   // stateful: also validate every N batches (0: at epoch ends only)
  std::string sample_prompt;   // stateful: prompt of the samples printed at validations
  std::size_t sample_length = 60;
  double target_loss = 0.5;    // the first epoch whose loss falls below it is reported
};

// Flags and their values, as a command line spells them.
using FlagValues = std::vector<std::pair<std::string, std::string>>;

// Stateful mode's recipe depends on --time-limit: under kShortBudgetSeconds a narrower model,
// from kLongBudgetSeconds a wider one with more dropout; without a time limit, the middle one.
// Those are the budgets with bf16 products; in float32 a model reads about a third as many
// characters in the same time, so each width's turn comes kFloat32Slowdown times later, and
// under kNarrowBudgetSeconds (times that) a narrower one still wins.
inline constexpr double kShortBudgetSeconds = 150;
inline constexpr double kLongBudgetSeconds = 450;
inline constexpr double kNarrowBudgetSeconds = 60;
inline constexpr double kFloat32Slowdown = 3;

// The flags of stateful mode's defaults that depend on a run of `time_limit` seconds (0: none)
// whose products run in bf16 or not.
FlagValues stateful_budget_defaults(double time_limit, bool bf16);

// Stateful mode's defaults for the flags where they differ from window mode's (the seed's Keras
// model), for a run of `time_limit` seconds, its products in bf16 or not: the recipes that gave
// the best held-out bits/char for 60 s, 300 s and 450-900 s on two cores (bench/README.md,
// "Learning results for a time budget").
FlagValues stateful_defaults(double time_limit, bool bf16);

// Trains as `options` say, printing to stdout; returns the exit code.
int train(const TrainOptions& options);

// ---- shared by the two modes ---------------------------------------------------------------

// What both modes set up before their loop.
struct Session {
  TrainOptions options;
  Corpus corpus;
  std::filesystem::path run_dir;
  Generator gen;  // initialisation, then shuffling
  std::unique_ptr<BabyLM> model;
  std::unique_ptr<optim::Adam> optimizer;
  RunInfo info;
};

// Loads the corpus, checks the options against it, builds the model and optimizer: everything
// that may refuse the run comes before its folder is touched.
Session start_session(const TrainOptions& options);

// Saves the checkpoint as <run>/model.npz (rank 0): the model with the optimizer and the shuffle
// generator, and the run's facts.
void save_session(Session& s);

// <run>/model.npz whenever `monitor` improves, with the facts `facts` gives for that point in the
// checkpoint's metadata (and "epochs" at every validation); whether the last validation improved.
class BestModel : public tg::train::Callback {
 public:
  using Facts = std::function<std::map<std::string, std::string>(const tg::train::Logs&,
                                                                 std::size_t epoch)>;
  BestModel(Session& session, const std::string& monitor, Facts facts);
  void on_validation_end(tg::train::Trainer& trainer, const tg::train::Logs& logs) override;
  void save(const tg::train::Trainer&, tg::train::ResumeState& state,
            const std::string& prefix) const override;
  void load(tg::train::Trainer&, const tg::train::ResumeState& state,
            const std::string& prefix) override;
  bool improved() const { return improved_; }

 private:
  Session& s_;
  tg::train::BestOf best_;
  Facts facts_;
  bool improved_ = false;
};

// metrics.csv, the columns named as the log keys, whose rows also hold what `derive` computes from
// each validation point and the one before it (zeros before the first): the interval's rates.
class IntervalCsv : public tg::train::CsvLogger {
 public:
  using Before = std::function<double(const std::string& key)>;
  using Derive = std::function<void(const Before& before, tg::train::Logs& row)>;
  IntervalCsv(const std::vector<std::string>& columns, Derive derive);
  void on_validation_end(tg::train::Trainer& trainer, const tg::train::Logs& logs) override;

 private:
  Derive derive_;
};

// What both modes track and call first: the generators (shuffle, dropout), early stopping, the
// best model.
void track_common(tg::train::Trainer& trainer, Session& s,
                  std::shared_ptr<tg::train::EarlyStopping> stopping,
                  std::shared_ptr<BestModel> best);

// The Trainer's options for this run (the metrics and curves left to the mode's callbacks);
// sets the session's run folder and prints the corpus, the folder and the model.
tg::train::TrainerOptions trainer_options(Session& s);
// Early stopping on `monitor` (its best weights restored at the end, also after a time limit).
std::shared_ptr<tg::train::EarlyStopping> early_stopping(const Session& s,
                                                         const std::string& monitor);
// What both modes do once fit has returned: the time-limit line, model.npz with the restored
// best weights and the final optimizer and generator, the files written, samples from `prompts`.
void finish(Session& s, const tg::train::FitResult& result,
            const std::vector<std::string>& prompts);

// Samples from `prompts` at temperatures 0.5, 1.0 and 1.5, one line each, as the seed prints
// them after training. Prompts with characters outside the vocabulary are skipped.
void print_samples(Session& s, const std::vector<std::string>& prompts, std::size_t length);

double nats_to_bits(double nats);

// The predictions after whole windows among logits [n * steps, V] (row i * steps + t, t < steps;
// steps = 1 when only the last step was computed) and their targets: summed cross-entropy
// (nats) and how many have their maximum at the target.
struct LastStepScore {
  double loss_sum = 0;
  std::size_t correct = 0;
  std::size_t count = 0;
};
LastStepScore score_last_steps(const Tensor& logits, const Indices& targets, std::size_t steps);

// Evaluation without recording, in evaluation mode. Windows: mean cross-entropy (nats) and
// accuracy over every window of `ids`, in batches of `batch`. Streams: mean cross-entropy over
// every target, the state carried across batches.
struct WindowScore {
  double loss = 0;
  double accuracy = 0;
  std::size_t windows = 0;
};
WindowScore evaluate_windows(BabyLM& model, const std::vector<std::int64_t>& ids,
                             std::size_t window, std::size_t batch, const std::string& what);
double evaluate_streams(BabyLM& model, const StreamBatches& batches);

// Everything stateful training checks on the corpus and the options (sample prompt, held-out
// split, streams), so that start_session refuses them before the run folder exists.
void check_stateful(const TrainOptions& options, const Corpus& corpus);

int train_windows(Session& s);
int train_stateful(Session& s);

}  // namespace tg::baby_lm
