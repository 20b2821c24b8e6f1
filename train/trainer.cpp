// The Trainer's loop, its resume points and its run folder.
#include "tapegrad/train/trainer.hpp"

#include <fmt/format.h>

#include <chrono>
#include <cmath>
#include <csignal>
#include <limits>
#include <optional>
#include <sstream>

#include "tapegrad/autograd/error.hpp"
#include "tapegrad/autograd/ops.hpp"
#include "tapegrad/autograd/tape.hpp"
#include "tapegrad/optim/clip.hpp"
#include "tapegrad/train/callbacks.hpp"
#include "tapegrad/train/files.hpp"
#include "tapegrad/train/loggers.hpp"
#include "tapegrad/train/messages.hpp"
#include "tapegrad/train/parallel.hpp"
#include "tapegrad/train/progress.hpp"
#include "tapegrad/train/resume.hpp"
#include "tapegrad/train/signals.hpp"

namespace tg::train {

namespace {

const std::string kSettingPrefix = "setting.";

double now_seconds() {
  using namespace std::chrono;
  return duration<double>(steady_clock::now().time_since_epoch()).count();
}

const char* signal_name(int signal) {
  return signal == SIGINT ? "SIGINT" : signal == SIGTERM ? "SIGTERM" : "a signal";
}

// Validation rows as text, "key=value" with the shortest exact round trip, one row per line.
std::string history_text(const std::vector<Logs>& history) {
  std::string out;
  for (const Logs& row : history) {
    for (const auto& [key, value] : row) out += fmt::format("{}={} ", key, value);
    out += '\n';
  }
  return out;
}

std::vector<Logs> history_from_text(const std::string& text) {
  std::vector<Logs> history;
  std::istringstream lines(text);
  for (std::string line; std::getline(lines, line);) {
    Logs row;
    std::istringstream fields(line);
    for (std::string field; fields >> field;) {
      const std::size_t eq = field.rfind('=');
      if (eq == std::string::npos) throw Error("resume: a damaged history entry '" + field + "'");
      row[field.substr(0, eq)] = std::stod(field.substr(eq + 1));
    }
    history.push_back(std::move(row));
  }
  return history;
}

}  // namespace

// The running sums of an epoch: since its start (the progress line) and since the last
// validation point (the reported training metrics).
struct Trainer::Loop {
  EpochPlan plan;
  std::size_t next_batch = 0;
  // The progress line's units (items unless the step counts others), their loss sum, seconds.
  double epoch_units = 0, epoch_loss_sum = 0, epoch_seconds = 0;
  double weight = 0, loss_sum = 0;  // the steps' weights (their item counts by default)
  double items = 0;                 // the metrics are means over items
  Logs metric_sums;
};

struct Trainer::Run {
  std::optional<RunFolder> folder;  // claimed by the process that writes
  std::optional<ResumeState> resumed;
  bool data_changed = false;  // and allowed: a saved epoch plan no longer applies
};

Trainer::Trainer(nn::Module& model, optim::Optimizer& optimizer, TrainerOptions options)
    : model_(model), optimizer_(optimizer), options_(std::move(options)),
      run_(std::make_unique<Run>()) {
  if (options_.max_epochs() == 0) throw Error("Trainer: max_epochs must be at least 1");
  if (!(options_.max_time() >= 0)) throw Error("Trainer: max_time must be >= 0 seconds");
  if (!(options_.gradient_clip_val() >= 0))
    throw Error("Trainer: gradient_clip_val must be >= 0 (0: no clipping)");
  if (options_.resume() && options_.run_dir().empty())
    throw Error("Trainer: resume needs the run_dir to continue");
  if (!options_.metrics_file().empty())
    callbacks_.push_back(std::make_shared<CsvLogger>(options_.metrics_file()));
  if (!options_.curves_file().empty())
    callbacks_.push_back(std::make_shared<Curves>(options_.curves_file()));
}

Trainer::~Trainer() = default;

Trainer& Trainer::scheduler(optim::LRScheduler& schedule) {
  schedule_ = &schedule;
  return *this;
}

Trainer& Trainer::callback(std::shared_ptr<Callback> callback) {
  callbacks_.push_back(std::move(callback));
  return *this;
}

Trainer& Trainer::track(const std::string& key, Generator& generator) {
  generators_.emplace_back(key, &generator);
  return *this;
}

Trainer& Trainer::progress_note(std::function<std::string(const Logs&)> note) {
  note_ = std::move(note);
  return *this;
}

Trainer& Trainer::epoch_summary(std::function<std::string(const Logs&)> summary) {
  summary_ = std::move(summary);
  return *this;
}

Trainer& Trainer::track(const std::string& prefix, Stateful& state) {
  states_.emplace_back(prefix, &state);
  return *this;
}

bool Trainer::writes_files() const {
  return !options_.run_dir().empty() && parallel().is_root();
}

void Trainer::message(const std::string& line) {
  if (parallel().is_root()) std::fprintf(options_.stream(), "%s\n", line.c_str());
}

void Trainer::open() {
  const auto& dir = options_.run_dir();
  if (dir.empty()) return;
  const RunDirUse use = options_.resume()      ? RunDirUse::Resume
                        : options_.overwrite() ? RunDirUse::Overwrite
                                               : RunDirUse::New;
  if (parallel().is_root()) {
    run_->folder = claim_run_dir(dir, use);
    report_stale(*run_->folder);
  }
  if (!options_.resume()) return;
  run_->resumed = ResumeState::load(dir, options_.program());
  const ResumeState& saved = *run_->resumed;
  if (saved.text("finished") == "1")
    throw Error(fmt::format("run folder {} has finished; nothing to resume", quoted(dir)));
  check_same_run(saved);
}

void Trainer::check_same_run(const ResumeState& saved) {
  const auto& dir = options_.run_dir();
  const std::size_t processes = static_cast<std::size_t>(parallel().size());
  if (saved.contains("processes") && saved.size("processes") != processes)
    throw Error(fmt::format(
        "run folder {} was trained by {} process{} and is resumed by {}: resume it with {} "
        "(mpirun -np {}), as the global batch, and so the result, depends on it",
        quoted(dir), saved.size("processes"), saved.size("processes") == 1 ? "" : "es",
        processes, saved.size("processes"), saved.size("processes")));
  check_same_settings(saved);
  for (const auto& [what, now] : options_.same_data()) {
    const std::string key = "data." + what;
    if (!saved.contains(key) || saved.text(key) == now) continue;
    const std::string line = fmt::format("run folder {}: the {} differs from the run's: {} now, {} "
                                         "when it started",
                                         quoted(dir), what, now, saved.text(key));
    if (!options_.allow_data_change())
      throw Error(line + "; resume on the same data, or pass " +
                  options_.allow_data_change_hint() + " to train on it");
    // A plan saved inside an epoch holds item indices of the old data: the epoch starts again.
    print_warning(line + "; training on it (" + options_.allow_data_change_hint() +
                  "), the interrupted epoch from its start");
    run_->data_changed = true;
  }
}

void Trainer::check_same_settings(const ResumeState& saved) {
  if (options_.settings().empty()) return;
  const std::map<std::string, std::string> then = saved.texts(kSettingPrefix);
  const auto& dir = options_.run_dir();
  if (then.empty()) {
    print_warning(fmt::format("run folder {} records no settings (an older build saved it): "
                              "resumed with this build's, unchecked",
                              quoted(dir)));
    return;
  }
  std::map<std::string, std::string> now;
  for (const auto& [name, value] : options_.settings())
    if (!value.empty()) now[name] = value;  // saved likewise: an npz text is never empty
  std::vector<std::string> differences;
  const auto shown = [](const std::string* value) { return value ? *value : std::string("none"); };
  std::map<std::string, std::pair<const std::string*, const std::string*>> both;
  for (const auto& [name, value] : then) both[name].first = &value;
  for (const auto& [name, value] : now) both[name].second = &value;
  for (const auto& [name, values] : both) {
    const auto& [before, after] = values;
    if (before && after && *before == *after) continue;
    differences.push_back(fmt::format("{} {} when it started, {} now", name, shown(before),
                                      shown(after)));
  }
  if (differences.empty()) return;
  throw Error(fmt::format("run folder {} would resume with other settings than it started with "
                          "({}): defaults differ between builds, and some between machines; "
                          "resume it with the build and on the kind of machine that started it, "
                          "or start a new run",
                          quoted(dir), fmt::join(differences, "; ")));
}

void Trainer::save_point(bool finished, const Loop* position) {
  if (options_.run_dir().empty()) return;
  ResumeState s;
  s.set_run(options_.program(), options_.command_line());
  s.put("finished", finished ? "1" : "0");
  s.put_size("processes", static_cast<std::size_t>(parallel().size()));
  for (const auto& [what, value] : options_.same_data()) s.put("data." + what, value);
  for (const auto& [name, value] : options_.settings())
    if (!value.empty()) s.put(kSettingPrefix + name, value);
  s.put_size("epoch", epoch_);
  s.put_size("step", step_);
  s.put_number("train_seconds", train_seconds_);
  s.put("history", history_text(history_));
  s.put("model.", model_);
  s.put("optim.", optimizer_);
  if (schedule_) s.put("sched.", *schedule_);
  s.put("rng.default", default_generator());
  for (const auto& [key, generator] : generators_) s.put("rng." + key, *generator);
  for (const auto& [prefix, state] : states_) state->save(s, "state." + prefix + ".");
  for (std::size_t i = 0; i < callbacks_.size(); ++i)
    callbacks_[i]->save(*this, s, fmt::format("callback{}.", i));
  if (position) {  // stopped inside epoch epoch_ + 1
    EpochPosition p;
    p.epoch = epoch_ + 1;
    p.next_batch = position->next_batch;
    p.set_batches(position->plan);
    p.progress_items = static_cast<std::size_t>(position->epoch_units);
    p.progress_loss_sum = position->epoch_loss_sum;
    p.seconds = position->epoch_seconds;
    p.sums = {{"weight", position->weight}, {"loss", position->loss_sum},
              {"items", position->items}};
    for (const auto& [name, sum] : position->metric_sums) p.sums["metric." + name] = sum;
    p.put(s);
  }
  if (writes_files()) s.save(options_.run_dir());
}

void Trainer::load_point(Loop& loop) {
  const ResumeState& s = *run_->resumed;
  epoch_ = s.size("epoch");
  step_ = s.size("step");
  train_seconds_ = seconds_at_step_ = s.number("train_seconds");
  history_ = history_from_text(s.text("history"));
  s.get("model.", model_);
  s.get("optim.", optimizer_);
  if (schedule_) s.get("sched.", *schedule_);
  s.get("rng.default", default_generator());
  for (const auto& [key, generator] : generators_) s.get("rng." + key, *generator);
  for (const auto& [prefix, state] : states_) state->load(s, "state." + prefix + ".");
  for (std::size_t i = 0; i < callbacks_.size(); ++i)
    callbacks_[i]->load(*this, s, fmt::format("callback{}.", i));
  // A run stopped inside an epoch continues it: its plan, where it stopped, its sums.
  const std::optional<EpochPosition> p =
      EpochPosition::get(s, std::numeric_limits<std::size_t>::max());
  if (!p || run_->data_changed) return;
  loop.plan = p->batches();
  loop.next_batch = p->next_batch;
  loop.epoch_units = static_cast<double>(p->progress_items);
  loop.epoch_loss_sum = p->progress_loss_sum;
  loop.epoch_seconds = p->seconds;
  for (const auto& [name, sum] : p->sums) {
    if (name == "weight") loop.weight = sum;
    else if (name == "loss") loop.loss_sum = sum;
    else if (name == "items") loop.items = sum;
    else if (name.rfind("metric.", 0) == 0) loop.metric_sums[name.substr(7)] = sum;
  }
}

FitResult Trainer::fit(const PlanFn& plan, const StepFn& step, const ValidateFn& validate) {
  if (!plan || !step) throw Error("Trainer::fit: a plan and a step function are needed");
  Parallel& par = parallel();
  // The folder is this fit's while it runs, however it ends (a resumed fit may follow in the
  // same process).
  struct Release {
    Run& run;
    ~Release() {
      run.folder.reset();
      run.resumed.reset();
      run.data_changed = false;
    }
  } release{*run_};
  open();
  Loop loop;
  bool continuing = false;
  if (run_->resumed) {
    load_point(loop);
    continuing = !loop.plan.empty() || loop.next_batch > 0;
  } else {
    save_point(false, nullptr);  // a run killed in its first epoch resumes from the start
  }
  par.attach(model_);
  std::optional<StopSignals> signals;
  if (options_.handle_signals()) signals.emplace();
  for (auto& cb : callbacks_) cb->on_fit_start(*this);
  stop_reason_.clear();

  const std::vector<Tensor> params = model_.parameters();
  std::vector<std::string> metric_names;  // the step's metrics, in the order summed over ranks
  bool metric_names_known = false;

  // A validation point: the training metrics since the last one, the validation's, callbacks,
  // the metrics file and the curves.
  auto validation_point = [&](std::size_t epoch, double seconds_now, double epoch_seconds) {
    Logs logs;
    logs["epoch"] = static_cast<double>(epoch);
    logs["step"] = static_cast<double>(step_);
    logs["lr"] = optimizer_.param_groups().front().lr;
    logs["train_seconds"] = seconds_now;
    logs["epoch_seconds"] = epoch_seconds;
    if (epoch_seconds > 0) logs["items_per_second"] = loop.epoch_units / epoch_seconds;
    if (loop.weight > 0) logs["loss"] = loop.loss_sum / loop.weight;
    if (loop.items > 0)
      for (const auto& [name, sum] : loop.metric_sums) logs[name] = sum / loop.items;
    loop.weight = loop.loss_sum = loop.items = 0;
    loop.metric_sums.clear();
    for (auto& cb : callbacks_) cb->on_validation_start(*this);
    if (validate) {
      NoGradGuard no_grad;
      model_.eval();
      for (const auto& [key, value] : validate()) logs[key] = value;
      model_.train();
    }
    for (auto& cb : callbacks_) cb->on_validation_logs(*this, logs);
    history_.push_back(logs);
    for (auto& cb : callbacks_) cb->on_validation_end(*this, logs);
    return logs;
  };

  while (epoch_ < options_.max_epochs() && stop_reason_.empty()) {
    const std::size_t e = epoch_ + 1;
    if (!continuing) {
      loop = Loop{};
      loop.plan = plan(e);
    }
    for (auto& cb : callbacks_) cb->on_epoch_start(*this, e);
    model_.train();
    const std::size_t batches = loop.plan.size();
    std::optional<Progress> progress;
    if (options_.progress_bar() && par.is_root()) {
      progress.emplace(batches,
                       epoch_progress(fmt::format("epoch {}/{}", e, options_.max_epochs()),
                                      options_.unit(), options_.log_every_percent()),
                       options_.stream());
      if (continuing)
        progress->resume_from(loop.next_batch, static_cast<std::size_t>(loop.epoch_units),
                              loop.epoch_loss_sum);
    }
    continuing = false;
    // The epoch's training seconds: since its start (a resumed epoch's saved seconds included)
    // less the validations inside it.
    const double epoch_start = now_seconds() - loop.epoch_seconds;
    double paused = 0;
    auto epoch_seconds = [&] { return now_seconds() - epoch_start - paused; };
    bool time_up = false;
    for (std::size_t b = loop.next_batch; b < batches; ++b) {
      raise_signal_if_requested(e, b);
      if (options_.handle_signals()) {
        if (const int signal = stop_signal()) {
          loop.next_batch = b;
          loop.epoch_seconds = epoch_seconds();
          save_point(false, &loop);
          throw Interrupted(
              signal, fmt::format("{} during epoch {}; the run is saved at batch {} of epoch {}; "
                                  "{} {}",
                                  signal_name(signal), e, b, e, options_.resume_hint(),
                                  quoted(options_.run_dir())));
        }
      }
      Batch batch;
      batch.epoch = e;
      batch.index = b;
      batch.count = batches;
      batch.step = step_;
      batch.global_items = loop.plan[b].size();
      if (options_.split() == Split::Strided) {
        batch.items = par.strided_share(loop.plan[b]);
      } else {
        const auto [first, last] = par.share(batch.global_items);
        batch.items.assign(loop.plan[b].begin() + first, loop.plan[b].begin() + last);
      }

      optimizer_.zero_grad();
      StepOutput out;
      double loss = 0, weight = 0, units = 0;
      if (!batch.items.empty()) {
        out = step(batch);
        if (!out.loss.defined() || out.loss.size() != 1)
          throw Error("Trainer: the step must return a scalar loss");
        loss = out.loss.item();
        weight = out.weight >= 0 ? out.weight : static_cast<double>(batch.items.size());
        units = out.units >= 0 ? out.units : static_cast<double>(batch.items.size());
      }
      // The mean over the global batch: each rank's mean weighted by its share of the weight
      // (the averaging of gradients divides by the number of ranks).
      std::vector<double> total{weight};
      if (par.size() > 1) par.sum(total);
      if (!batch.items.empty()) {
        const double scale = par.size() > 1 && total[0] > 0 ? par.size() * weight / total[0] : 1.0;
        (scale == 1.0 ? out.loss : out.loss * scale).backward();
      }
      par.average_gradients();
      // Rank 0's share of a global batch is never empty, another rank's may be (a batch smaller
      // than the number of ranks): the names the metrics are summed under are rank 0's.
      if (!metric_names_known && batch.global_items > 0) {
        for (const auto& [name, value] : out.metrics) metric_names.push_back(name);
        if (par.size() > 1) metric_names = par.broadcast_from_root(metric_names);
        metric_names_known = true;
      }
      // One collective for what is reported: the weighted loss, the weight, the items, the
      // metrics times the items, the progress line's units.
      std::vector<double> sums{loss * weight, weight, static_cast<double>(batch.items.size()),
                               units};
      for (const std::string& name : metric_names) {
        const auto it = out.metrics.find(name);
        sums.push_back(it == out.metrics.end() ? 0.0 : it->second * batch.items.size());
      }
      if (par.size() > 1) par.sum(sums);
      const double batch_loss = sums[1] > 0 ? sums[0] / sums[1] : 0.0;
      if (!std::isfinite(batch_loss))
        // (A NaN is named without its sign, which depends on the instruction that made it.)
        throw Error(fmt::format("training diverged: the loss is {} at epoch {}, step {}; stopped "
                                "without saving (the last good checkpoint is kept); {}",
                                std::isnan(batch_loss) ? "nan" : fmt::format("{}", batch_loss), e,
                                step_ + 1, options_.divergence_hint()));
      if (options_.gradient_clip_val() > 0)
        optim::clip_grad_norm(params, options_.gradient_clip_val());
      optimizer_.step();
      ++step_;
      seconds_at_step_ = train_seconds_ + epoch_seconds();
      loop.epoch_units += sums[3];
      loop.epoch_loss_sum += batch_loss * sums[3];  // the progress line's running mean
      loop.weight += sums[1];
      loop.loss_sum += sums[0];
      loop.items += sums[2];
      for (std::size_t k = 0; k < metric_names.size(); ++k)
        loop.metric_sums[metric_names[k]] += sums[4 + k];
      if (progress) {
        Logs running;
        for (const auto& [name, sum] : loop.metric_sums) running[name] = sum / loop.items;
        std::string note;
        if (note_) {
          note = note_(running);
        } else {
          for (const auto& [name, value] : running)
            note += fmt::format("{}{} {:.4g}", note.empty() ? "" : "  ", name, value);
        }
        progress->set_note(note);
        progress->step(batch_loss, static_cast<std::size_t>(sums[3]));
      }
      for (auto& cb : callbacks_) cb->on_batch_end(*this, batch, batch_loss);
      const double seconds = train_seconds_ + epoch_seconds();
      if (options_.max_time() > 0 && par.max(seconds) >= options_.max_time()) {
        time_up = true;
        break;
      }
      const std::size_t every = options_.val_check_interval();
      if (every > 0 && step_ % every == 0 && b + 1 < batches) {
        const double validation_start = now_seconds();
        validation_point(e, seconds, seconds - train_seconds_);
        paused += now_seconds() - validation_start;
      }
    }
    const double this_epoch = epoch_seconds();
    train_seconds_ += this_epoch;
    const Logs logs = validation_point(e, train_seconds_, this_epoch);
    if (progress) {
      std::string summary;
      if (summary_) {
        summary = summary_(logs);
      } else {
        for (const auto& [key, value] : logs)
          if (key == "loss" || key.rfind("val_", 0) == 0)
            summary += fmt::format("  {} {:.4g}", key, value);
      }
      progress->finish(summary);
    }
    epoch_ = e;
    for (auto& cb : callbacks_) cb->on_epoch_end(*this, logs);
    if (time_up && stop_reason_.empty()) stop_reason_ = "time limit";
    if (schedule_) schedule_->step();
    save_point(!stop_reason_.empty() || epoch_ == options_.max_epochs(), nullptr);
  }
  FitResult result;
  result.history = history_;
  result.epochs = epoch_;
  result.steps = step_;
  result.train_seconds = train_seconds_;
  result.stop_reason = stop_reason_.empty() ? "max_epochs" : stop_reason_;
  for (auto& cb : callbacks_) cb->on_fit_end(*this, result);
  model_.eval();
  return result;
}

}  // namespace tg::train
