// seq2seq training: the epoch plan, the step and the validation that tg::train::Trainer runs, and
// what the run folder shows of it (metrics.csv's columns, the curves).
#include "seq2seq/train.hpp"

#include <fmt/format.h>

#include "tapegrad/nn/data.hpp"
#include "tapegrad/optim/optim.hpp"
#include "tapegrad/train/loggers.hpp"
#include "tapegrad/train/progress.hpp"

namespace tg::examples::seq2seq {

namespace {

namespace tt = tg::train;

template <class T>
std::vector<T> pick(const std::vector<T>& items, const std::vector<std::size_t>& positions) {
  std::vector<T> out;
  out.reserve(positions.size());
  for (std::size_t p : positions) out.push_back(items[p]);
  return out;
}

std::shared_ptr<tt::CsvLogger> metrics_file() {
  return std::make_shared<tt::CsvLogger>(
      "metrics.csv", std::vector<tt::CsvLogger::Column>{{"epoch", "epoch"},
                                                        {"steps", "step"},
                                                        {"lr", "lr"},
                                                        {"train_loss", "loss"},
                                                        {"val_exact_match", "val_exact_match"},
                                                        {"epoch_seconds", "epoch_seconds"},
                                                        {"elapsed_seconds", "train_seconds"},
                                                        {"pairs_per_second", "items_per_second"},
                                                        {"best", "best"}});
}

// Against training time rather than epochs: the quality bar is a time budget.
std::shared_ptr<tt::Curves> curves() {
  tt::Curves::Chart chart;
  chart.title = "Training loss and validation exact match";
  chart.x_key = "train_seconds";
  chart.x_label = "training seconds";
  chart.y_label = "loss / exact match";
  chart.y_min = 0;
  chart.lines = {{"loss", "training loss (mean over the epoch)"},
                 {"val_exact_match", "validation exact match (greedy)"}};
  return std::make_shared<tt::Curves>("curves.svg", std::vector<tt::Curves::Chart>{chart});
}

// The program's part once the run folder is claimed.
class OnStart : public tt::Callback {
 public:
  explicit OnStart(std::function<void(const tt::Trainer&)> fn) : fn_(std::move(fn)) {}
  void on_fit_start(tt::Trainer& trainer) override {
    if (fn_) fn_(trainer);
  }

 private:
  std::function<void(const tt::Trainer&)> fn_;
};

}  // namespace

TrainResult train_model(Seq2Seq& model, const EncodedPairs& train, const EncodedPairs& validation,
                        const std::vector<Pair>& validation_pairs, const TrainOptions& o,
                        Generator& gen, tt::TrainerOptions run, const RunOutput& output) {
  if (train.size() == 0) throw Error("train: no training pairs");
  if (validation.size() == 0) throw Error("train: no validation pairs");
  optim::AdamOptions adam;
  adam.lr = o.lr;
  optim::Adam optimizer(model.named_parameters(), adam);
  optim::ExponentialLR schedule(optimizer, o.lr_decay);
  tt::Trainer trainer(model, optimizer,
                      run.max_epochs(o.epochs).gradient_clip_val(o.clip).unit("pairs")
                          .metrics_file("").curves_file(""));
  // No later epoch can beat a perfect validation (a tie is no improvement): it stops too.
  const auto stopping = std::make_shared<tt::EarlyStopping>(
      tt::EarlyStoppingOptions("val_exact_match").mode(tt::Mode::Max).patience(o.patience)
          .stopping_threshold(1.0).threshold_reason("perfect validation"));
  trainer.scheduler(schedule)
      .track("gen", gen)
      .callback(std::make_shared<OnStart>(output.on_start))
      .callback(stopping)
      .callback(std::make_shared<tt::ModelCheckpoint>(
          "val_exact_match", tt::Mode::Max, "model.npz",
          [&](const tt::Logs&) { return output.meta(); }))
      .callback(metrics_file())
      .callback(curves());

  std::size_t last_batch = 0, batches = 0;  // the last batch trained, of the epoch's
  const tt::StepFn step = [&](const tt::Batch& b) {
    last_batch = b.index;
    batches = b.count;
    tt::StepOutput out;
    out.loss = model.loss(pick(train.sources, b.items), pick(train.targets, b.items));
    return out;
  };
  const tt::ValidateFn validate = [&] {
    const double exact = evaluate(model, validation_pairs, validation, 1).exact_match();
    bool best = true;  // better than every earlier validation, as early stopping counts
    for (const tt::Logs& earlier : trainer.history())
      best = best && exact > earlier.at("val_exact_match");
    return tt::Logs{{"val_exact_match", exact}, {"best", best ? 1.0 : 0.0}};
  };
  trainer.epoch_summary([&](const tt::Logs& l) {
    return fmt::format("  train loss {:.4f}  val exact {:.2f}%  {}{}{}", l.at("loss"),
                       100 * l.at("val_exact_match"), tt::format_duration(l.at("epoch_seconds")),
                       last_batch + 1 < batches ? " (time limit)" : "",
                       l.at("best") > 0 ? "  *" : "");
  });

  TrainResult result;
  result.fit = trainer.fit(
      [&](std::size_t) { return data::shuffled_batches(train.size(), o.batch, gen); }, step,
      validate);
  result.best_epoch = stopping->best().best_epoch();
  result.best_val_exact = stopping->best().best();
  result.stop_reason = result.fit.stop_reason == "max_epochs" ? "epochs" : result.fit.stop_reason;
  return result;
}

}  // namespace tg::examples::seq2seq
