// Throughput: the training items and seconds between validation points, added to their logs.
#pragma once

#include <string>

#include "tapegrad/train/callbacks.hpp"

namespace tg::train {

// Adds to each validation point's logs the training done since the previous point (since the
// start of the run for the first): "seconds" (training time, validation excluded), "items" (of
// the global batches, every process's share) and "items_per_second", for a metrics file's
// columns or an epoch's summary. A run resumed in the middle of an epoch counts the items it had
// done before it stopped.
class Throughput : public Callback {
 public:
  void on_batch_end(Trainer& trainer, const Batch& batch, double loss) override;
  void on_validation_logs(Trainer& trainer, Logs& logs) override;
  void save(const Trainer& trainer, ResumeState& state, const std::string& prefix) const override;
  void load(Trainer& trainer, const ResumeState& state, const std::string& prefix) override;

 private:
  double items_ = 0;  // since the last validation point
};

}  // namespace tg::train
