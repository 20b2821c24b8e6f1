// name_language training loop: epochs of padded mini-batches, validation and early stopping.
#include "name_language/train.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <optional>
#include <sstream>

#include "tapegrad/autograd/ops.hpp"
#include "tapegrad/train/checkpoint.hpp"
#include "tapegrad/train/early_stopping.hpp"
#include "tapegrad/train/progress.hpp"
#include "common/job.hpp"
#include "name_language/evaluate.hpp"

namespace tg::examples::names {

namespace {

double now_seconds() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

// An exponential moving average of the parameters, swapped in for validation: it smooths the
// step-to-step noise of Adam's late epochs, which on small noisy classes is worth more than the
// last step's weights.
class WeightAverage {
 public:
  WeightAverage(const nn::NamedTensors& params, double decay) : decay_(decay) {
    if (decay_ <= 0) return;
    for (const auto& [name, p] : params) {
      params_.push_back(p);
      average_.push_back(p.clone());
    }
  }
  void update() {
    if (decay_ <= 0) return;
    // Early on the average would be dominated by the initial weights: warm up as 1 - 1/(n+1).
    ++updates_;
    const float d = static_cast<float>(std::min(decay_, 1.0 - 1.0 / static_cast<double>(updates_ + 1)));
    for (std::size_t i = 0; i < params_.size(); ++i) {
      const auto& p = params_[i].value<float>();
      auto& a = average_[i].mutable_value<float>();
      const float* src = p.data();
      float* dst = a.data();
      for (std::size_t k = 0, n = p.size(); k < n; ++k) dst[k] += (1.0f - d) * (src[k] - dst[k]);
    }
  }
  // The average as module-like state for a resume checkpoint.
  std::size_t updates() const { return updates_; }
  std::vector<Tensor>& average() { return average_; }
  void set_updates(std::size_t n) { updates_ = n; }
  // Exchanges the live weights and the average (twice restores them).
  void swap() {
    if (decay_ <= 0) return;
    for (std::size_t i = 0; i < params_.size(); ++i)
      std::swap(params_[i].mutable_value<float>(), average_[i].mutable_value<float>());
  }

 private:
  double decay_;
  std::size_t updates_ = 0;
  std::vector<Tensor> params_;
  std::vector<Tensor> average_;
};

}  // namespace

// The history as text lines of exact numbers, for the resume checkpoint.
std::string history_text(const std::vector<EpochRecord>& history) {
  std::string out;
  for (const EpochRecord& r : history)
    out += fmt::format("{} {} {} {} {} {} {} {} {} {} {} {} {}\n", r.epoch, r.steps, r.lr,
                       r.train_loss, r.train_accuracy, r.val_loss, r.val_accuracy,
                       r.val_macro_accuracy, r.seconds, r.names_per_second, r.elapsed, int(r.best),
                       int(r.partial));
  return out;
}

std::vector<EpochRecord> history_from_text(const std::string& text) {
  std::vector<EpochRecord> history;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream fields(line);
    EpochRecord r;
    int best = 0, partial = 0;
    fields >> r.epoch >> r.steps >> r.lr >> r.train_loss >> r.train_accuracy >> r.val_loss >>
        r.val_accuracy >> r.val_macro_accuracy >> r.seconds >> r.names_per_second >> r.elapsed >>
        best >> partial;
    if (!fields) throw Error("--resume: the saved history is damaged");
    r.best = best;
    r.partial = partial;
    history.push_back(r);
  }
  return history;
}

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
                        const TrainOptions& o, Generator& gen, const TrainHooks& hooks,
                        std::FILE* out) {
  if (train.size() == 0) throw Error("train: no training examples");
  if (validation.size() == 0) throw Error("train: no validation examples");
  const std::size_t C = model.config().labels.size();
  std::vector<std::size_t> counts(C, 0);
  for (std::int64_t l : train.labels) ++counts.at(static_cast<std::size_t>(l));
  CrossEntropyOptions loss_options;
  const std::vector<double> weights = class_weights(counts, o.weights);
  if (!weights.empty()) loss_options.weight(Tensor::from_vector(weights, {C}));

  const nn::NamedTensors params = model.named_parameters();
  std::unique_ptr<optim::Optimizer> optimizer = make_optimizer(o.optimizer, params, o);
  optim::ExponentialLR schedule(*optimizer, o.lr_decay);
  WeightAverage average(params, o.average);

  TrainResult result;
  result.stop_reason = "epochs";
  // On the averaged weights' validation accuracy; their copy is what training ends with.
  tg::train::EarlyStopTracker stopping(o.patience, tg::train::EarlyStopTracker::Goal::Maximize);
  std::size_t steps = 0, first_epoch = 1;
  bool out_of_time = false;
  // Everything random or stateful the loop touches, so that a resumed run is the same run.
  const auto save_point = [&](std::size_t epoch, bool finished,
                              const tg::train::EpochPosition* stopped_in = nullptr) {
    if (!hooks.on_resume_point) return;
    tg::train::ResumeState state;
    if (stopped_in) stopped_in->put(state);
    state.put("model.", model);
    state.put("optim.", *optimizer);
    state.put("sched.", schedule);
    state.put("rng.gen", gen);
    state.put("rng.rnn_dropout", model.rnn().dropout_generator());
    state.put("rng.default", default_generator());
    state.put("stopping.", stopping);
    state.put_size("average.updates", average.updates());
    for (std::size_t i = 0; i < average.average().size(); ++i)
      state.put_tensor(fmt::format("average.{}", i), average.average()[i]);
    state.put_size("epoch", epoch);
    state.put_size("finished", finished);
    state.put_size("steps", steps);
    state.put_number("train_seconds", result.train_seconds);
    state.put_size("best_epoch", result.best_epoch);
    state.put_number("best_val_accuracy", result.best_val_accuracy);
    state.put("history", history_text(result.history));
    hooks.on_resume_point(state);
  };
  std::optional<tg::train::EpochPosition> resumed_partial;
  if (const tg::train::ResumeState* r = hooks.resume) {
    if (r->size("finished")) throw Error("--resume: that run has finished; nothing to resume");
    resumed_partial = tg::train::EpochPosition::get(*r, train.size());
    r->get("model.", model);
    r->get("optim.", *optimizer);
    r->get("sched.", schedule);
    r->get("rng.gen", gen);
    r->get("rng.rnn_dropout", model.rnn().dropout_generator());
    r->get("rng.default", default_generator());
    r->get("stopping.", stopping);
    average.set_updates(r->size("average.updates"));
    for (std::size_t i = 0; i < average.average().size(); ++i)
      average.average()[i] = r->tensor(fmt::format("average.{}", i), average.average()[i].shape());
    first_epoch = r->size("epoch") + 1;
    steps = r->size("steps");
    result.train_seconds = r->number("train_seconds");
    result.best_epoch = r->size("best_epoch");
    result.best_val_accuracy = r->number("best_val_accuracy");
    result.history = history_from_text(r->text("history"));
    if (result.history.size() != first_epoch - 1)
      throw Error("--resume: the saved history does not match the saved epoch");
  } else {
    save_point(0, false);
  }
  // Data-parallel under mpirun: each global batch of size() x --batch names is split between the
  // ranks, every rank drawing the same shuffled order from the same generator.
  Job& job = Job::current();
  job.attach(model);
  const auto weight_of = [&](std::int64_t label) {
    return weights.empty() ? 1.0 : weights[static_cast<std::size_t>(label)];
  };
  model.train();
  for (std::size_t epoch = first_epoch; epoch <= o.epochs && !out_of_time; ++epoch) {
    // A resumed epoch that was stopped in its middle continues with its own batches (drawing new
    // ones would consume the generator a second time).
    const bool continuing = resumed_partial && resumed_partial->epoch == epoch;
    const auto batches =
        continuing ? resumed_partial->batches()
                   : epoch_batches(train, o.batch * static_cast<std::size_t>(job.size()), C,
                                   o.sampling, gen);
    const tg::train::ProgressOptions po =
        tg::train::epoch_progress(fmt::format("epoch {}/{}", epoch, o.epochs), "names", 10);
    tg::train::Progress progress(batches.size(), po, out);
    EpochRecord r;
    r.epoch = epoch;
    r.lr = optimizer->lr();
    std::size_t correct = 0, seen = 0, first_batch = 0;
    double earlier_seconds = 0;  // of this epoch, before a stop
    if (continuing) {
      first_batch = resumed_partial->continue_in(progress);
      correct = static_cast<std::size_t>(resumed_partial->sums["correct"]);
      seen = static_cast<std::size_t>(resumed_partial->sums["seen"]);
      earlier_seconds = resumed_partial->seconds;
      resumed_partial.reset();
    }
    const double start = now_seconds() - earlier_seconds;
    for (std::size_t b = first_batch; b < batches.size(); ++b) {
      const std::vector<std::size_t>& global_positions = batches[b];
      if (hooks.stop && hooks.stop->requested()) {
        tg::train::EpochPosition position = tg::train::EpochPosition::at(epoch, b, progress);
        position.set_batches(batches);
        position.seconds = now_seconds() - start;
        position.sums = {{"correct", double(correct)}, {"seen", double(seen)}};
        save_point(epoch - 1, false, &position);
        hooks.stop->stopped(epoch, b);
      }
      // Batches are cut from names sorted by length: every rank takes every size()-th name, so
      // all ranks pad to about the same length and none waits for the others.
      const std::vector<std::size_t> positions = job.strided_share(global_positions);
      double local_weight = 0, global_weight = 0;
      for (std::size_t p : global_positions) global_weight += weight_of(train.labels[p]);
      for (std::size_t p : positions) local_weight += weight_of(train.labels[p]);
      // [this rank's part of the global mean loss, correct, time is up]: summed over the ranks.
      std::vector<double> step_stats(3, 0.0);
      optimizer->zero_grad();
      if (!positions.empty()) {
        const Batch batch = gather_batch(train, positions);
        const Tensor logits = model.forward(batch);
        const Tensor loss = cross_entropy(logits, Indices(batch.labels), loss_options);
        const double scale = share_loss_scale(job, local_weight, global_weight);
        (job.size() > 1 ? loss * scale : loss).backward();
        step_stats[0] = loss.item() * local_weight / global_weight;
        const float* l = logits.value<float>().data();
        for (std::size_t b = 0; b < batch.size(); ++b)
          step_stats[1] += static_cast<std::int64_t>(std::max_element(l + b * C, l + (b + 1) * C) -
                                                     (l + b * C)) == batch.labels[b];
      }
      job.average_gradients();
      step_stats[2] =
          o.time_limit > 0 && result.train_seconds + (now_seconds() - start) >= o.time_limit;
      job.sum(step_stats);
      tg::train::check_loss_finite(step_stats[0], epoch, steps + 1);
      if (o.clip > 0) optim::clip_grad_norm(params, o.clip);
      optimizer->step();
      average.update();
      ++steps;
      correct += static_cast<std::size_t>(step_stats[1]);
      seen += global_positions.size();
      progress.set_note(fmt::format("acc {:.1f}%", 100.0 * static_cast<double>(correct) /
                                                       static_cast<double>(seen)));
      progress.step(step_stats[0], global_positions.size());
      if (step_stats[2] > 0) {  // any rank's clock: all ranks stop after the same step
        out_of_time = true;
        r.partial = seen < train.size();
        break;
      }
    }
    r.seconds = now_seconds() - start;
    result.train_seconds += r.seconds;
    r.elapsed = result.train_seconds;
    r.steps = steps;
    r.train_loss = progress.mean_loss();
    r.train_accuracy = static_cast<double>(correct) / static_cast<double>(std::max<std::size_t>(seen, 1));
    r.names_per_second = static_cast<double>(seen) / std::max(r.seconds, 1e-9);

    average.swap();  // validate (and keep as best) the averaged weights
    const Evaluation val = evaluate(model, validation);
    r.val_loss = val.loss;
    r.val_accuracy = val.accuracy();
    r.val_macro_accuracy = val.macro_accuracy();
    r.best = stopping.update(r.val_accuracy, epoch, model);
    progress.finish(fmt::format("  train loss {:.4f}  val acc {:.1f}%  val macro {:.1f}%  {}{}{}",
                                r.train_loss, 100 * r.val_accuracy, 100 * r.val_macro_accuracy,
                                tg::train::format_duration(r.seconds),
                                r.partial ? " (time limit)" : "", r.best ? "  *" : ""));
    result.history.push_back(r);
    if (r.best) {
      result.best_epoch = epoch;
      result.best_val_accuracy = r.val_accuracy;
      if (hooks.on_best) hooks.on_best(r);
    }
    average.swap();
    if (hooks.on_epoch) hooks.on_epoch(r);
    if (out_of_time) result.stop_reason = "time limit";
    if (stopping.should_stop() && epoch < o.epochs) {
      result.stop_reason = "early stopping";
      save_point(epoch, true);
      break;
    }
    schedule.step();
    save_point(epoch, out_of_time || epoch == o.epochs);
  }
  stopping.restore(model);
  model.eval();
  return result;
}

}  // namespace tg::examples::names
