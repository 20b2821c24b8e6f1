// baby_lm's window mode, as the seed: shuffled windows of characters, each predicting the next one.
//
// By default every prefix of a window predicts its next character too (the top LSTM returns
// every step, as Keras' return_sequences=True), not only the whole window. Generation steps the
// LSTM one character at a time with its state carried, so it asks for predictions after 7, 8,
// ..., 60 characters; a model scored only after exactly 15 characters from a zero state has
// never been taught those. Measured on the seed's 130 phrases: 74-78% of the words generated from
// "me want" at temperature 0.5 are corpus words when only the last step is scored, 100% when
// every step is. --last-step-only trains exactly as the seed.
#include "baby_lm/train.hpp"

#include <algorithm>
#include <cstdio>

#include <fmt/format.h>

#include <tapegrad/autograd/ops/loss.hpp>
#include <tapegrad/autograd/tape.hpp>
#include <tapegrad/nn/data.hpp>
#include <tapegrad/train/parallel.hpp>
#include <tapegrad/train/resume.hpp>

namespace tg::baby_lm {

WindowScore evaluate_windows(BabyLM& model, const std::vector<std::int64_t>& ids,
                             std::size_t window, std::size_t batch, const std::string& what) {
  NoGradGuard no_grad;
  nn::EvalModeGuard eval(model);
  WindowScore score;
  score.windows = window_count(ids.size(), window, what);
  std::vector<std::size_t> starts(score.windows);
  for (std::size_t i = 0; i < starts.size(); ++i) starts[i] = i;
  Indices inputs, targets;
  LastStepScore last;
  for (std::size_t first = 0; first < score.windows; first += batch) {
    const std::size_t n = std::min(batch, score.windows - first);
    fill_windows(ids, window, starts.data() + first, n, inputs, targets);
    const LastStepScore s = score_last_steps(model.forward(inputs, {}, false).logits, targets, 1);
    last.loss_sum += s.loss_sum;
    last.correct += s.correct;
  }
  score.loss = last.loss_sum / double(score.windows);
  score.accuracy = double(last.correct) / double(score.windows);
  return score;
}

namespace {

// The first epoch whose training loss fell below --target-loss, and the training seconds it took.
class TargetLoss : public tg::train::Callback {
 public:
  explicit TargetLoss(double target) : target_(target) {}
  void on_validation_end(tg::train::Trainer& trainer, const tg::train::Logs& logs) override {
    if (epoch_ || !(logs.at("loss") < target_)) return;
    epoch_ = trainer.epoch() + 1;
    seconds_ = logs.at("train_seconds");
  }
  void save(const tg::train::Trainer&, tg::train::ResumeState& state,
            const std::string& prefix) const override {
    state.put_size(prefix + "epoch", epoch_);
    state.put_number(prefix + "seconds", seconds_);
  }
  void load(tg::train::Trainer&, const tg::train::ResumeState& state,
            const std::string& prefix) override {
    epoch_ = state.size(prefix + "epoch");
    seconds_ = state.number(prefix + "seconds");
  }
  void print() const {
    if (epoch_)
      std::printf("loss first below %g at epoch %zu, after %.1f s of training\n", target_, epoch_,
                  seconds_);
    else
      std::printf("loss never fell below %g\n", target_);
  }

 private:
  double target_;
  std::size_t epoch_ = 0;
  double seconds_ = 0;
};

}  // namespace

int train_windows(Session& s) {
  using tg::train::Logs;
  const TrainOptions& o = s.options;
  BabyLM& model = *s.model;
  const std::vector<std::int64_t>& ids = s.corpus.ids;
  const std::size_t windows = window_count(ids.size(), o.window, o.corpus.string());
  // Under mpirun each global batch of N x --batch windows is split between the ranks.
  const std::size_t global_batch = o.batch * static_cast<std::size_t>(tg::train::parallel().size());
  const std::size_t batches = (windows + global_batch - 1) / global_batch;
  const bool every_step = !o.last_step_only;
  const std::size_t steps_scored = every_step ? o.window : 1;
  tg::train::Trainer trainer(model, *s.optimizer,
                             trainer_options(s)
                                 .gradient_clip_val(o.clip < 0 ? 0.0 : o.clip)
                                 .unit("windows")
                                 .log_every_percent(100));
  std::printf("window mode: %zu windows of %zu characters, %zu batches of %zu per epoch; "
              "the loss scores %s\n",
              windows, o.window, batches, global_batch,
              every_step ? "the prediction after every prefix of a window (accuracy and "
                           "last-step loss: after the whole window)"
                         : "only the prediction after the whole window");

  // No held-out data: early stopping, the best model and the report watch the training loss.
  const auto stopping = early_stopping(s, "loss");
  const auto best = std::make_shared<BestModel>(s, "loss", [](const Logs& logs, std::size_t epoch) {
    return std::map<std::string, std::string>{{"best_epoch", std::to_string(epoch)},
                                              {"best_loss", fmt::format("{:.6f}", logs.at("loss"))}};
  });
  const auto target = std::make_shared<TargetLoss>(o.target_loss);
  tg::train::Curves::Chart chart;
  chart.title = "baby_lm training loss";
  chart.x_key = "epoch";
  chart.x_label = "epoch";
  chart.y_label = "loss (nats per character)";
  chart.lines.push_back({"loss", every_step ? "training loss (every step)" : "training loss"});
  if (every_step) chart.lines.push_back({"last_step_loss", "after the whole window", true});
  chart.y_min = 0.0;
  track_common(trainer, s, stopping, best);
  trainer.callback(target)
      .callback(std::make_shared<IntervalCsv>(
          std::vector<std::string>{"epoch", "loss", "last_step_loss", "accuracy", "windows_per_s",
                                   "epoch_seconds", "train_seconds"},
          [windows, global_batch](const IntervalCsv::Before& before, Logs& row) {
            // The epoch's batches are full but its last: an epoch cut short by the time limit
            // read as many full batches as it took steps.
            const double seconds = row.at("train_seconds") - before("train_seconds");
            const double read =
                std::min(double(windows), (row.at("step") - before("step")) * double(global_batch));
            row["epoch_seconds"] = seconds;
            row["windows_per_s"] = read / seconds;
          }))
      .callback(std::make_shared<tg::train::Curves>("loss.svg",
                                                    std::vector<tg::train::Curves::Chart>{chart}))
      .progress_note([every_step](const Logs& running) {
        const std::string accuracy = fmt::format("acc {:.1f}%", 100.0 * running.at("accuracy"));
        return every_step
                   ? fmt::format("last step {:.4f}  {}", running.at("last_step_loss"), accuracy)
                   : accuracy;
      })
      .epoch_summary([&](const Logs& logs) {
        return fmt::format("train {:.1f}s{}", logs.at("train_seconds"),
                           best->improved() ? "  (best)" : "");
      });

  const tg::train::PlanFn plan = [&](std::size_t) {
    return data::shuffled_batches(windows, global_batch, s.gen);
  };
  Indices inputs, targets;
  const tg::train::StepFn step = [&](const tg::train::Batch& batch) {
    const std::size_t n = batch.items.size();
    fill_windows(ids, o.window, batch.items.data(), n, inputs, targets, every_step);
    const LmOutput out = model.forward(inputs, {}, every_step);
    const LastStepScore last = score_last_steps(out.logits, targets, steps_scored);
    return tg::train::StepOutput{cross_entropy(out.logits, targets),
                                 {{"last_step_loss", last.loss_sum / double(n)},
                                  {"accuracy", double(last.correct) / double(n)}}};
  };
  const tg::train::FitResult result = trainer.fit(plan, step);

  if (result.stop_reason == "early stopping")
    std::printf("early stopping: no improvement on %.4f (epoch %zu) for %zu epochs\n",
                stopping->best().best(), stopping->best().best_epoch(), o.patience);
  std::printf("best loss %.4f at epoch %zu (weights restored); %.1f s of training\n",
              stopping->best().best(), stopping->best().best_epoch(), result.train_seconds);
  target->print();
  finish(s, result, {"me want", "me love", "me see"});
  return 0;
}

}  // namespace tg::baby_lm
