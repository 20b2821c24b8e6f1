// name_language training: the class-weighted step, the validation and the run's callbacks, on
// tg::train::Trainer.
#include "name_language/train.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "name_language/evaluate.hpp"
#include "name_language/report.hpp"
#include "tapegrad/autograd/ops.hpp"
#include "tapegrad/autograd/tape.hpp"
#include "tapegrad/train/loggers.hpp"
#include "tapegrad/train/parallel.hpp"
#include "tapegrad/train/progress.hpp"
#include "tapegrad/train/weight_average.hpp"

namespace tg::examples::names {

namespace {

// The marks of a validation point in metrics.csv and the progress line: whether its validation
// accuracy is the best so far ("best", the line's *), and whether the time limit cut its epoch
// short ("partial").
class EpochMarks : public tg::train::Callback {
 public:
  explicit EpochMarks(std::shared_ptr<const tg::train::EarlyStopping> stopping)
      : stopping_(std::move(stopping)) {}
  void on_batch_end(tg::train::Trainer&, const tg::train::Batch& batch, double) override {
    cut_short_ = batch.index + 1 < batch.count;
  }
  void on_validation_logs(tg::train::Trainer&, tg::train::Logs& logs) override {
    // Asked before EarlyStopping takes this point's value: the answer it is about to give.
    logs["best"] = stopping_->best().improves(logs) ? 1 : 0;
    logs["partial"] = cut_short_ ? 1 : 0;
  }

 private:
  std::shared_ptr<const tg::train::EarlyStopping> stopping_;
  bool cut_short_ = false;
};

EpochRecord record_of(const tg::train::Logs& logs) {
  EpochRecord r;
  r.epoch = static_cast<std::size_t>(logs.at("epoch"));
  r.train_loss = logs.at("loss");
  r.train_accuracy = logs.at("accuracy");
  r.val_loss = logs.at("val_loss");
  r.val_accuracy = logs.at("val_accuracy");
  r.val_macro_accuracy = logs.at("val_macro_accuracy");
  r.seconds = logs.at("epoch_seconds");
  const auto rate = logs.find("items_per_second");  // (none for an epoch of no measurable time)
  r.names = rate == logs.end() ? 0.0 : rate->second * r.seconds;
  return r;
}

}  // namespace

std::string to_string(ClassWeights weights) {
  if (weights == ClassWeights::None) return "none";
  if (weights == ClassWeights::Sqrt) return "sqrt";
  if (weights == ClassWeights::Inverse) return "inverse";
  return fmt::format("{}", weights.power);
}

ClassWeights parse_class_weights(const std::string& text) {
  if (text == "none") return ClassWeights::None;
  if (text == "sqrt") return ClassWeights::Sqrt;
  if (text == "inverse") return ClassWeights::Inverse;
  char* end = nullptr;
  const double power = std::strtod(text.c_str(), &end);
  if (!text.empty() && *end == '\0' && power >= 0 && power <= 1) return ClassWeights{power};
  throw Error("unknown class weights '" + text +
              "' (expected none, sqrt, inverse or a power between 0 and 1)");
}

std::vector<double> class_weights(const std::vector<std::size_t>& counts, ClassWeights kind) {
  if (kind == ClassWeights::None) return {};
  std::vector<double> w(counts.size(), 0.0);
  double weighted = 0, total = 0;
  for (std::size_t c = 0; c < counts.size(); ++c) {
    const double n = static_cast<double>(counts[c]);
    // A class absent from training never appears as a target: any finite weight will do.
    w[c] = n == 0 ? 1.0 : std::pow(n, -kind.power);
    weighted += w[c] * n;
    total += n;
  }
  if (weighted > 0)
    for (double& v : w) v *= total / weighted;
  return w;
}

std::vector<double> logit_adjustment(const std::vector<std::size_t>& counts, double tau) {
  if (tau == 0) return {};
  double total = 0;
  std::size_t smallest = 0;
  for (std::size_t n : counts) {
    total += static_cast<double>(n);
    if (n > 0 && (smallest == 0 || n < smallest)) smallest = n;
  }
  if (smallest == 0) throw Error("logit_adjustment: no training examples");
  std::vector<double> bias;
  for (std::size_t n : counts)
    bias.push_back(tau * std::log(static_cast<double>(n > 0 ? n : smallest) / total));
  return bias;
}

Tensor members_loss(const std::vector<Tensor>& member_logits, const Indices& labels,
                    const CrossEntropyOptions& options, const Tensor& bias) {
  Tensor loss;
  for (const Tensor& logits : member_logits) {
    Tensor adjusted = logits;
    if (bias.defined())  // converted only when the dtypes differ: to() always copies
      adjusted = add(logits, bias.dtype() == logits.dtype() ? bias : bias.to(logits.dtype()));
    const Tensor member = cross_entropy(adjusted, labels, options);
    loss = loss.defined() ? add(loss, member) : member;
  }
  return loss;
}

std::unique_ptr<optim::Optimizer> make_optimizer(const std::string& name, nn::NamedTensors params,
                                                 const TrainOptions& o) {
  if (name == "adam") {
    // Decoupled decay (AdamW): with Adam's L2 the decay of rarely-updated weights is rescaled by
    // their tiny second moments, which is rarely what "weight decay" is meant to do.
    if (o.weight_decay > 0) {
      optim::AdamWOptions a;
      a.lr = o.lr;
      a.weight_decay = o.weight_decay;
      return std::make_unique<optim::AdamW>(std::move(params), a);
    }
    optim::AdamOptions a;
    a.lr = o.lr;
    return std::make_unique<optim::Adam>(std::move(params), a);
  }
  if (name == "rmsprop") {
    optim::RMSpropOptions r;
    r.lr = o.lr;
    r.weight_decay = o.weight_decay;
    return std::make_unique<optim::RMSprop>(std::move(params), r);
  }
  if (name == "sgd") {
    optim::SGDOptions s;
    s.lr = o.lr;
    s.momentum = o.momentum;
    s.weight_decay = o.weight_decay;
    return std::make_unique<optim::SGD>(std::move(params), s);
  }
  throw Error("unknown optimizer '" + name + "' (expected sgd, adam or rmsprop)");
}

TrainResult train_model(NameClassifier& model, const EncodedSet& train, const EncodedSet& validation,
                        const TrainOptions& o, Generator& gen, const TrainRun& run,
                        std::FILE* out) {
  if (train.size() == 0) throw Error("train: no training examples");
  if (validation.size() == 0) throw Error("train: no validation examples");
  const std::size_t C = model.config().labels.size();
  std::vector<std::size_t> counts(C, 0);
  for (std::int64_t l : train.labels) ++counts.at(static_cast<std::size_t>(l));
  CrossEntropyOptions loss_options;
  const std::vector<double> weights = class_weights(counts, o.weights);
  if (!weights.empty()) loss_options.weight(Tensor::from_vector(weights, {C}));
  loss_options.label_smoothing(o.label_smoothing);
  const std::vector<double> adjustment = logit_adjustment(counts, o.logit_adjustment);
  const Tensor bias = adjustment.empty() ? Tensor() : Tensor::from_vector(adjustment, {C});

  std::unique_ptr<optim::Optimizer> optimizer =
      make_optimizer(o.optimizer, model.named_parameters(), o);
  optim::ExponentialLR per_epoch(*optimizer, o.lr_decay);
  // Batches are cut from names sorted by length: every process takes every size()-th name of a
  // global batch, so that all pad to about the same length and none waits for the others.
  tg::train::Trainer trainer(model, *optimizer,
                             tg::train::TrainerOptions(run.options)
                                 .max_epochs(o.epochs)
                                 .gradient_clip_val(o.clip)
                                 .split(tg::train::Split::Strided)
                                 .unit("names")
                                 .stream(out)
                                 .metrics_file("")
                                 .curves_file(""));
  if (o.schedule.schedule == kExponentialSchedule) trainer.scheduler(per_epoch);
  if (auto budget = budget_schedule(o.schedule)) trainer.callback(budget);
  trainer.track("gen", gen).track("rnn_dropout", model.rnn().dropout_generator());
  // On the validation accuracy of the averaged weights, whose copy training ends with.
  auto stopping = std::make_shared<tg::train::EarlyStopping>(
      tg::train::EarlyStoppingOptions("val_accuracy")
          .mode(tg::train::Mode::Max)
          .patience(o.patience));
  trainer.callback(std::make_shared<EpochMarks>(stopping))
      .callback(stopping)
      .callback(std::make_shared<tg::train::ModelCheckpoint>(
          "val_accuracy", tg::train::Mode::Max, "model.npz", run.checkpoint_meta))
      .callback(std::make_shared<tg::train::CsvLogger>("metrics.csv", metrics_columns()))
      .callback(std::make_shared<tg::train::Curves>("curves.svg", curve_charts(),
                                                    tg::train::ChartFiles::Stacked));
  for (const auto& callback : run.callbacks) trainer.callback(callback);
  // Last: the callbacks before it see (keep, save) the average at each validation.
  if (o.average > 0) trainer.callback(std::make_shared<tg::train::WeightAverage>(o.average));
  trainer
      .progress_note([](const tg::train::Logs& running) {
        return fmt::format("acc {:.1f}%", 100 * running.at("accuracy"));
      })
      .epoch_summary([](const tg::train::Logs& logs) {
        return fmt::format("  train loss {:.4f}  val acc {:.1f}%  val macro {:.1f}%  {}{}{}",
                           logs.at("loss"), 100 * logs.at("val_accuracy"),
                           100 * logs.at("val_macro_accuracy"),
                           tg::train::format_duration(logs.at("epoch_seconds")),
                           logs.at("partial") > 0 ? " (time limit)" : "",
                           logs.at("best") > 0 ? "  *" : "");
      });

  const auto weight_of = [&](std::int64_t label) {
    return weights.empty() ? 1.0 : weights[static_cast<std::size_t>(label)];
  };
  const auto plan = [&](std::size_t) {
    return epoch_batches(train, o.batch * static_cast<std::size_t>(tg::train::parallel().size()),
                         C, o.sampling, gen);
  };
  const auto step = [&](const tg::train::Batch& b) {
    const Batch batch = gather_batch(train, b.items);
    const std::vector<Tensor> members = model.member_logits(batch);
    tg::train::StepOutput result;
    result.loss = members_loss(members, Indices(batch.labels), loss_options, bias);
    Tensor logits;
    {
      tg::NoGradGuard no_grad;  // the accuracy of what the model answers
      logits = model.combine(members);
    }
    std::size_t correct = 0;
    const float* l = logits.value<float>().data();
    for (std::size_t i = 0; i < batch.size(); ++i)
      correct += static_cast<std::int64_t>(std::max_element(l + i * C, l + (i + 1) * C) -
                                           (l + i * C)) == batch.labels[i];
    result.metrics["accuracy"] = static_cast<double>(correct) / static_cast<double>(batch.size());
    // The class-weighted mean's share of the global batch.
    result.weight = 0;
    for (std::int64_t label : batch.labels) result.weight += weight_of(label);
    return result;
  };
  const auto validate = [&] {
    const Evaluation e = evaluate(model, validation);
    return tg::train::Logs{{"val_loss", e.loss},
                           {"val_accuracy", e.accuracy()},
                           {"val_macro_accuracy", e.macro_accuracy()}};
  };
  const tg::train::FitResult fit = trainer.fit(plan, step, validate);

  TrainResult result;
  for (const tg::train::Logs& logs : fit.history) {
    result.history.push_back(record_of(logs));
    result.names += result.history.back().names;
  }
  result.best_epoch = stopping->best().best_epoch();
  for (const EpochRecord& r : result.history) {
    if (r.epoch != result.best_epoch) continue;
    result.best_val_accuracy = r.val_accuracy;
    result.best_val_macro_accuracy = r.val_macro_accuracy;
  }
  result.train_seconds = fit.train_seconds;
  result.stop_reason = fit.stop_reason;
  return result;
}

}  // namespace tg::examples::names
