// Resumable training: the resume checkpoint of a run folder, the epoch position, the recorded
// command line, and (signals.hpp) Ctrl-C / SIGTERM turned into a clean stop.
#pragma once

#include <cstddef>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "tapegrad/autograd/random.hpp"
#include "tapegrad/nn/module.hpp"
#include "tapegrad/nn/npz.hpp"
#include "tapegrad/optim/lr_scheduler.hpp"
#include "tapegrad/optim/optimizer.hpp"
#include "tapegrad/train/early_stopping.hpp"
#include "tapegrad/train/progress.hpp"
#include "tapegrad/train/signals.hpp"

namespace tg::train {

// <run>/resume.npz: the state at the end of the last completed epoch (and before the first, and
// where a signal stopped the run, with an EpochPosition), beside model.npz (the best weights). A
// separate file, so that the best model is never replaced by a later, worse state, and a resumed
// run starts from exactly where the loop was.
inline constexpr const char* kResumeFile = "resume.npz";

// A resume checkpoint being written or read: typed entries with exact round trips (doubles as
// shortest round-trip text, generators as their full state, tensors bit for bit). Every failed
// read is a tg::Error naming the file and the key.
class ResumeState {
 public:
  void put(const std::string& key, const std::string& text);
  void put_number(const std::string& key, double value);
  void put_size(const std::string& key, std::size_t value);
  void put(const std::string& prefix, const nn::Module& module);
  void put(const std::string& prefix, const optim::Optimizer& optimizer);
  void put(const std::string& prefix, const optim::LRScheduler& schedule);
  void put(const std::string& key, const Generator& generator);
  void put(const std::string& prefix, const EarlyStopTracker& stopping);
  void put_tensor(const std::string& key, const Tensor& tensor);
  void put_indices(const std::string& key, const std::vector<std::size_t>& values);

  bool contains(const std::string& key) const;
  const std::string& text(const std::string& key) const;
  // Every text entry under `prefix`, keyed without it.
  std::map<std::string, std::string> texts(const std::string& prefix) const;
  double number(const std::string& key) const;
  std::size_t size(const std::string& key) const;
  void get(const std::string& prefix, nn::Module& module) const;
  void get(const std::string& prefix, optim::Optimizer& optimizer) const;
  void get(const std::string& prefix, optim::LRScheduler& schedule) const;
  void get(const std::string& key, Generator& generator) const;
  void get(const std::string& prefix, EarlyStopTracker& stopping) const;
  // A tensor of the given shape.
  Tensor tensor(const std::string& key, const Shape& shape) const;
  std::vector<std::size_t> indices(const std::string& key) const;

  // Which example wrote it and the arguments its run was started with (encode_args).
  void set_run(const std::string& example, const std::string& args);
  // The arguments set_run recorded.
  const std::string& run_args() const;

  // The file it was read from ("resume.npz" for one being written), for messages.
  const std::string& path() const { return path_; }

  // Writes <run>/resume.npz atomically.
  void save(const std::filesystem::path& run) const;
  // Reads <run>/resume.npz; refuses a folder without one, or one of another example.
  static ResumeState load(const std::filesystem::path& run, const std::string& example);

 private:
  std::map<std::string, Tensor> prefixed(const std::string& prefix) const;
  nn::Archive archive_;
  std::string path_ = kResumeFile;
};

// An epoch stopped in its middle by a signal, saved with the resume state so that the resumed run
// continues it where it stopped (instead of doing it again): the next batch, the epoch's own data
// order (drawing a new one would use the generator twice), and what the loop had summed so far.
struct EpochPosition {
  std::size_t epoch = 0;       // the epoch stopped in (the resume state's "epoch" is the one before)
  std::size_t next_batch = 0;  // batches done
  std::vector<std::size_t> order;        // the epoch's examples (windows, names...) in order
  std::vector<std::size_t> batch_sizes;  // how `order` is cut into batches (empty: not needed)
  std::size_t progress_items = 0;        // the progress line's sums (Progress::resume_from)
  double progress_loss_sum = 0;
  double seconds = 0;                    // of the epoch so far
  std::map<std::string, double> sums;    // the loop's own running sums (correct, seen...)

  // Stopped before batch `next_batch` of `epoch`, with the progress line's sums.
  static EpochPosition at(std::size_t epoch, std::size_t next_batch,
                          const Progress& progress);
  void put(ResumeState& state) const;
  // The saved position, if the state was saved in the middle of an epoch; refused as damaged when
  // `order` holds an index from `examples` on, or next_batch is past its batches.
  static std::optional<EpochPosition> get(const ResumeState& state, std::size_t examples);
  // Puts the progress line back where the epoch stopped; returns the batch to continue from.
  std::size_t continue_in(Progress& progress) const;
  // `order` cut into batch_sizes, and the other way round.
  std::vector<std::vector<std::size_t>> batches() const;
  void set_batches(const std::vector<std::vector<std::size_t>>& batches);
};

// The arguments after the program name, one string, so a run can record how it was started.
std::string encode_args(const std::vector<std::string>& args);
std::vector<std::string> decode_args(const std::string& text);

}  // namespace tg::train
