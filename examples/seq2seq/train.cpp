// seq2seq training loop: epochs of shuffled mini-batches, validation by greedy exact match.
#include "seq2seq/train.hpp"

#include <fmt/format.h>

#include <chrono>
#include <optional>
#include <cmath>
#include <sstream>

#include "tapegrad/nn/data.hpp"
#include "tapegrad/optim/optim.hpp"
#include "tapegrad/train/checkpoint.hpp"
#include "tapegrad/train/early_stopping.hpp"
#include "tapegrad/train/progress.hpp"
#include "tapegrad/train/svg.hpp"

namespace tg::examples::seq2seq {

namespace {

double now_seconds() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

template <class T>
std::vector<T> pick(const std::vector<T>& items, const std::vector<std::size_t>& positions) {
  std::vector<T> out;
  out.reserve(positions.size());
  for (std::size_t p : positions) out.push_back(items[p]);
  return out;
}

tg::train::Series series(const std::string& name, const std::vector<EpochRecord>& history,
                         double EpochRecord::*field) {
  tg::train::Series s;
  s.name = name;
  for (const EpochRecord& r : history) s.points.push_back({r.elapsed, r.*field});
  return s;
}

}  // namespace

std::string history_text(const std::vector<EpochRecord>& history) {
  std::string out;
  for (const EpochRecord& r : history)
    out += fmt::format("{} {} {} {} {} {} {} {} {} {}\n", r.epoch, r.steps, r.lr, r.train_loss,
                       r.val_exact, r.seconds, r.elapsed, r.pairs_per_second, int(r.best),
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
    fields >> r.epoch >> r.steps >> r.lr >> r.train_loss >> r.val_exact >> r.seconds >> r.elapsed >>
        r.pairs_per_second >> best >> partial;
    if (!fields) throw Error("--resume: the saved history is damaged");
    r.best = best;
    r.partial = partial;
    history.push_back(r);
  }
  return history;
}

std::vector<std::string> metrics_header() {
  return {"epoch", "steps", "lr", "train_loss", "val_exact_match", "epoch_seconds",
          "elapsed_seconds", "pairs_per_second", "best"};
}

std::vector<tg::train::CsvField> metrics_row(const EpochRecord& r) {
  return {r.epoch, r.steps, r.lr, r.train_loss, r.val_exact, r.seconds, r.elapsed,
          r.pairs_per_second, static_cast<int>(r.best)};
}

void write_curves_svg(const std::filesystem::path& path, const std::vector<EpochRecord>& history) {
  // Against training time rather than epochs: the quality bar is a time budget.
  tg::train::LineChart chart;
  chart.title = "Training loss and validation exact match";
  chart.x_label = "training seconds";
  chart.y_label = "loss / exact match";
  chart.y_min = 0;
  chart.series = {series("training loss (mean over the epoch)", history, &EpochRecord::train_loss),
                  series("validation exact match (greedy)", history, &EpochRecord::val_exact)};
  tg::train::write_line_chart(path, chart);
}

TrainResult train_model(Seq2Seq& model, const EncodedPairs& train, const EncodedPairs& validation,
                        const std::vector<Pair>& validation_pairs, const TrainOptions& o,
                        Generator& gen, const TrainHooks& hooks, std::FILE* out) {
  if (train.size() == 0) throw Error("train: no training pairs");
  if (validation.size() == 0) throw Error("train: no validation pairs");
  const nn::NamedTensors params = model.named_parameters();
  optim::AdamOptions adam;
  adam.lr = o.lr;
  optim::Adam optimizer(params, adam);
  optim::ExponentialLR schedule(optimizer, o.lr_decay);
  tg::train::EarlyStopTracker stopping(o.patience, tg::train::EarlyStopTracker::Goal::Maximize);
  TrainResult result;
  result.stop_reason = "epochs";
  std::size_t steps = 0, first_epoch = 1;
  bool out_of_time = false;
  // Everything random or stateful the loop touches, so that a resumed run is the same run.
  const auto save_point = [&](std::size_t epoch, bool finished,
                              const tg::train::EpochPosition* stopped_in = nullptr) {
    if (!hooks.on_resume_point) return;
    tg::train::ResumeState state;
    if (stopped_in) stopped_in->put(state);
    state.put("model.", model);
    state.put("optim.", optimizer);
    state.put("sched.", schedule);
    state.put("rng.gen", gen);
    state.put("stopping.", stopping);
    state.put_size("epoch", epoch);
    state.put_size("finished", finished);
    state.put_size("steps", steps);
    state.put_number("train_seconds", result.train_seconds);
    state.put_size("best_epoch", result.best_epoch);
    state.put_number("best_val_exact", result.best_val_exact);
    state.put("history", history_text(result.history));
    hooks.on_resume_point(state);
  };
  std::optional<tg::train::EpochPosition> stopped_in;  // of a run stopped in the middle of an epoch
  if (const tg::train::ResumeState* r = hooks.resume) {
    if (r->size("finished")) throw Error("--resume: that run has finished; nothing to resume");
    stopped_in = tg::train::EpochPosition::get(*r, train.size());
    r->get("model.", model);
    r->get("optim.", optimizer);
    r->get("sched.", schedule);
    r->get("rng.gen", gen);
    r->get("stopping.", stopping);
    first_epoch = r->size("epoch") + 1;
    steps = r->size("steps");
    result.train_seconds = r->number("train_seconds");
    result.best_epoch = r->size("best_epoch");
    result.best_val_exact = r->number("best_val_exact");
    result.history = history_from_text(r->text("history"));
    if (result.history.size() != first_epoch - 1)
      throw Error("--resume: the saved history does not match the saved epoch");
  } else {
    save_point(0, false);
  }
  for (std::size_t epoch = first_epoch; epoch <= o.epochs && !out_of_time; ++epoch) {
    model.train();
    // An epoch stopped by a signal continues with its own batches, where it stopped.
    const bool continuing = stopped_in && stopped_in->epoch == epoch;
    const auto batches =
        continuing ? stopped_in->batches() : data::shuffled_batches(train.size(), o.batch, gen);
    tg::train::Progress progress(
        batches.size(),
        tg::train::epoch_progress(fmt::format("epoch {}/{}", epoch, o.epochs), "pairs", 10), out);
    EpochRecord r;
    r.epoch = epoch;
    r.lr = optimizer.lr();
    std::size_t seen = 0, first_batch = 0;
    double earlier_seconds = 0;
    if (continuing) {
      first_batch = stopped_in->continue_in(progress);
      seen = static_cast<std::size_t>(stopped_in->sums["seen"]);
      earlier_seconds = stopped_in->seconds;
      stopped_in.reset();
    }
    const double start = now_seconds() - earlier_seconds;
    for (std::size_t b = first_batch; b < batches.size(); ++b) {
      const std::vector<std::size_t>& positions = batches[b];
      if (hooks.stop && hooks.stop->requested()) {
        tg::train::EpochPosition position = tg::train::EpochPosition::at(epoch, b, progress);
        position.set_batches(batches);
        position.seconds = now_seconds() - start;
        position.sums = {{"seen", double(seen)}};
        save_point(epoch - 1, false, &position);
        hooks.stop->stopped(epoch, b);
      }
      const Tensor loss = model.loss(pick(train.sources, positions), pick(train.targets, positions));
      const double value = loss.item();
      tg::train::check_loss_finite(value, epoch, steps + 1);
      optimizer.zero_grad();
      loss.backward();
      if (o.clip > 0) optim::clip_grad_norm(params, o.clip);
      optimizer.step();
      ++steps;
      seen += positions.size();
      progress.step(value, positions.size());
      if (o.time_limit > 0 && result.train_seconds + (now_seconds() - start) >= o.time_limit) {
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
    r.pairs_per_second = double(seen) / std::max(r.seconds, 1e-9);
    model.eval();
    r.val_exact = evaluate(model, validation_pairs, validation, 1).exact_match();
    r.best = stopping.update(r.val_exact, epoch, model);
    progress.finish(fmt::format("  train loss {:.4f}  val exact {:.2f}%  {}{}{}", r.train_loss,
                                100 * r.val_exact, tg::train::format_duration(r.seconds),
                                r.partial ? " (time limit)" : "", r.best ? "  *" : ""));
    result.history.push_back(r);
    if (r.best) {
      result.best_epoch = epoch;
      result.best_val_exact = r.val_exact;
      if (hooks.on_best) hooks.on_best(r);
    }
    if (hooks.on_epoch) hooks.on_epoch(r);
    if (out_of_time) result.stop_reason = "time limit";
    // No later epoch can beat a perfect score (a tie is no improvement): stop early.
    else if (r.val_exact >= 1.0) result.stop_reason = "perfect validation";
    else if (stopping.should_stop() && epoch < o.epochs) result.stop_reason = "early stopping";
    schedule.step();
    const bool stop = result.stop_reason != "epochs";
    save_point(epoch, stop || epoch == o.epochs);
    if (stop) break;
  }
  stopping.restore(model);
  model.eval();
  return result;
}

}  // namespace tg::examples::seq2seq
