// EarlyStopping and ModelCheckpoint.
#include "tapegrad/train/callbacks.hpp"

#include <fmt/format.h>

#include <cmath>

#include "tapegrad/autograd/error.hpp"
#include "tapegrad/train/checkpoint.hpp"
#include "tapegrad/train/resume.hpp"

namespace tg::train {

BestOf::BestOf(std::string monitor, Mode mode) : monitor_(std::move(monitor)), mode_(mode) {
  if (monitor_.empty()) throw Error("a callback needs the name of the metric it monitors");
}

bool BestOf::improves(const Logs& logs) const {
  const auto it = logs.find(monitor_);
  if (it == logs.end() || !std::isfinite(it->second)) return false;
  if (!seen()) return true;
  return mode_ == Mode::Min ? it->second < best_ : it->second > best_;
}

void BestOf::take(const Logs& logs, std::size_t epoch) {
  best_ = logs.at(monitor_);
  epoch_ = epoch;
}

void BestOf::save(ResumeState& state, const std::string& prefix) const {
  state.put_number(prefix + "best", best_);
  state.put_size(prefix + "best_epoch", epoch_);
}

void BestOf::load(const ResumeState& state, const std::string& prefix) {
  best_ = state.number(prefix + "best");
  epoch_ = state.size(prefix + "best_epoch");
}

EarlyStopping::EarlyStopping(EarlyStoppingOptions options)
    : options_(std::move(options)), best_(options_.monitor(), options_.mode()) {}

void EarlyStopping::on_validation_end(Trainer& trainer, const Logs& logs) {
  if (!logs.count(best_.monitor()))
    throw Error(fmt::format("EarlyStopping: the metric '{}' is not reported (the step's metrics, "
                            "'loss', and the validation's)",
                            best_.monitor()));
  if (best_.improves(logs)) {
    best_.take(logs, trainer.epoch() + 1);
    waited_ = 0;
    if (options_.restore_best_weights()) {
      best_weights_.clear();
      for (const auto& [name, t] : trainer.model().state_dict()) best_weights_[name] = t.clone();
    }
  } else if (++waited_ >= options_.patience() && options_.patience() > 0) {
    trainer.stop("early stopping");
  }
  const auto threshold = options_.stopping_threshold();
  if (threshold && best_.seen() &&
      (options_.mode() == Mode::Min ? best_.best() <= *threshold : best_.best() >= *threshold))
    trainer.stop(options_.threshold_reason().empty()
                     ? fmt::format("{} reached {}", best_.monitor(), *threshold)
                     : options_.threshold_reason());
}

void EarlyStopping::on_fit_end(Trainer& trainer, FitResult&) {
  if (options_.restore_best_weights() && !best_weights_.empty())
    trainer.model().load_state_dict(best_weights_);
}

void EarlyStopping::save(const Trainer&, ResumeState& state, const std::string& prefix) const {
  best_.save(state, prefix);
  state.put_size(prefix + "waited", waited_);
  for (const auto& [name, t] : best_weights_) state.put_tensor(prefix + "weights." + name, t);
}

void EarlyStopping::load(Trainer& trainer, const ResumeState& state, const std::string& prefix) {
  best_.load(state, prefix);
  waited_ = state.size(prefix + "waited");
  best_weights_.clear();
  if (!options_.restore_best_weights() || !best_.seen()) return;
  for (const auto& [name, t] : trainer.model().state_dict())
    best_weights_[name] = state.tensor(prefix + "weights." + name, t.shape());
}

ModelCheckpoint::ModelCheckpoint(std::string monitor, Mode mode, std::string file, Meta meta)
    : best_(std::move(monitor), mode), file_(std::move(file)), meta_(std::move(meta)) {}

void ModelCheckpoint::on_validation_end(Trainer& trainer, const Logs& logs) {
  if (!best_.improves(logs)) return;
  best_.take(logs, trainer.epoch() + 1);
  if (!trainer.writes_files()) return;
  CheckpointMeta meta;
  meta.example = trainer.options().program();
  if (meta_) meta.text = meta_(logs);
  meta.text["epoch"] = std::to_string(best_.best_epoch());
  meta.text[best_.monitor()] = fmt::format("{}", best_.best());
  save_checkpoint((trainer.run_dir() / file_).string(), trainer.model(), nullptr, nullptr, meta);
}

void ModelCheckpoint::save(const Trainer&, ResumeState& state, const std::string& prefix) const {
  best_.save(state, prefix);
}

void ModelCheckpoint::load(Trainer&, const ResumeState& state, const std::string& prefix) {
  best_.load(state, prefix);
}

}  // namespace tg::train
