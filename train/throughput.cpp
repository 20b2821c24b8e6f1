// Throughput.
#include "tapegrad/train/throughput.hpp"

#include <algorithm>

#include "tapegrad/train/resume.hpp"

namespace tg::train {

void Throughput::on_batch_end(Trainer&, const Batch& batch, double) {
  items_ += static_cast<double>(batch.global_items);
}

void Throughput::on_validation_logs(Trainer& trainer, Logs& logs) {
  // The training seconds are the Trainer's (a resumed epoch's include those before the stop).
  const auto& history = trainer.history();
  const double before = history.empty() ? 0.0 : history.back().at("train_seconds");
  const double seconds = logs.at("train_seconds") - before;
  logs["seconds"] = seconds;
  logs["items"] = items_;
  logs["items_per_second"] = items_ / std::max(seconds, 1e-9);
  items_ = 0;
}

void Throughput::save(const Trainer&, ResumeState& state, const std::string& prefix) const {
  state.put_number(prefix + "items", items_);
}

void Throughput::load(Trainer&, const ResumeState& state, const std::string& prefix) {
  items_ = state.number(prefix + "items");
}

}  // namespace tg::train
