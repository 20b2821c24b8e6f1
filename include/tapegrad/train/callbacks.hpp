// What a Trainer calls at each point of its loop (Keras' and Lightning's callbacks), and the two
// everyone uses: EarlyStopping and ModelCheckpoint.
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <string>

#include "tapegrad/autograd/options.hpp"
#include "tapegrad/train/trainer.hpp"

namespace tg::train {

class Callback {
 public:
  virtual ~Callback() = default;
  virtual void on_fit_start(Trainer&) {}
  virtual void on_epoch_start(Trainer&, std::size_t /*epoch*/) {}
  virtual void on_batch_end(Trainer&, const Batch&, double /*loss*/) {}  // after the update
  virtual void on_validation_start(Trainer&) {}  // before the validation runs (swap weights in)
  // At each validation point, before its logs are recorded: a callback may add values derived
  // from them or from the training so far (Keras' callbacks write into `logs`). They are in the
  // history, and every callback's on_validation_end sees them, whatever the callbacks' order.
  virtual void on_validation_logs(Trainer&, Logs&) {}
  // At each validation point, with the training and validation metrics; may call
  // trainer.stop(reason).
  virtual void on_validation_end(Trainer&, const Logs&) {}
  virtual void on_epoch_end(Trainer&, const Logs&) {}
  virtual void on_fit_end(Trainer&, FitResult&) {}
  // Its part of the resume point, under its own prefix.
  virtual void save(const Trainer&, ResumeState&, const std::string& /*prefix*/) const {}
  virtual void load(Trainer&, const ResumeState&, const std::string& /*prefix*/) {}
};

enum class Mode { Min, Max };  // whether a smaller or a larger monitored value is better

// The best value of a monitored metric so far, and the weights that gave it.
class BestOf {
 public:
  BestOf(std::string monitor, Mode mode);
  // Whether logs hold a new best (a tie is none); a missing or non-finite value never is.
  bool improves(const Logs& logs) const;
  void take(const Logs& logs, std::size_t epoch);
  const std::string& monitor() const { return monitor_; }
  bool seen() const { return epoch_ > 0; }
  double best() const { return best_; }
  std::size_t best_epoch() const { return epoch_; }
  void save(ResumeState& state, const std::string& prefix) const;
  void load(const ResumeState& state, const std::string& prefix);

 private:
  std::string monitor_;
  Mode mode_;
  double best_ = 0;
  std::size_t epoch_ = 0;
};

class EarlyStoppingOptions {
 public:
  explicit EarlyStoppingOptions(std::string monitor) : monitor_(std::move(monitor)) {}
  const std::string& monitor() const { return monitor_; }
  TG_ARG(Mode, mode) = Mode::Min;
  TG_ARG(std::size_t, patience) = 3;  // validations without improvement before stopping
  TG_ARG(bool, restore_best_weights) = true;  // at the end of fit (also after a time limit)
  // Stops as soon as the monitored value reaches this (Lightning's stopping_threshold).
  TG_ARG(std::optional<double>, stopping_threshold);
  // The stop reason then (FitResult::stop_reason); empty: "<monitor> reached <threshold>".
  TG_ARG(std::string, threshold_reason);

 private:
  std::string monitor_;
};

// Keras' EarlyStopping(monitor, patience, restore_best_weights).
class EarlyStopping : public Callback {
 public:
  explicit EarlyStopping(EarlyStoppingOptions options);
  void on_validation_end(Trainer& trainer, const Logs& logs) override;
  void on_fit_end(Trainer& trainer, FitResult& result) override;
  void save(const Trainer& trainer, ResumeState& state, const std::string& prefix) const override;
  void load(Trainer& trainer, const ResumeState& state, const std::string& prefix) override;
  const BestOf& best() const { return best_; }
  std::size_t waited() const { return waited_; }

 private:
  EarlyStoppingOptions options_;
  BestOf best_;
  std::size_t waited_ = 0;
  std::map<std::string, Tensor> best_weights_;
};

// Keras' ModelCheckpoint(save_best_only=True): <run_dir>/<file> (a checkpoint PyTorch can read:
// the model's state_dict names, "meta.<key>" texts) whenever the monitored value improves, so the
// best model is on disk however the run ends.
class ModelCheckpoint : public Callback {
 public:
  using Meta = std::function<std::map<std::string, std::string>(const Logs&)>;
  ModelCheckpoint(std::string monitor, Mode mode, std::string file = "model.npz",
                  Meta meta = {});
  void on_validation_end(Trainer& trainer, const Logs& logs) override;
  void save(const Trainer& trainer, ResumeState& state, const std::string& prefix) const override;
  void load(Trainer& trainer, const ResumeState& state, const std::string& prefix) override;
  const BestOf& best() const { return best_; }

 private:
  BestOf best_;
  std::string file_;
  Meta meta_;
};

}  // namespace tg::train
