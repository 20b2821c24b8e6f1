// Resumable training: the resume checkpoint of a run folder, the command line it was started
// with, and Ctrl-C / SIGTERM turned into a clean stop.
#pragma once

#include <csignal>
#include <cstddef>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "tapegrad/autograd/random.hpp"
#include "common/cli.hpp"
#include "tapegrad/nn/module.hpp"
#include "tapegrad/nn/npz.hpp"
#include "tapegrad/optim/lr_scheduler.hpp"
#include "tapegrad/optim/optimizer.hpp"
#include "tapegrad/train/early_stopping.hpp"
#include "tapegrad/train/progress.hpp"

namespace tg::examples {

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
  void put(const std::string& prefix, const tg::train::EarlyStopping& stopping);
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
  void get(const std::string& prefix, tg::train::EarlyStopping& stopping) const;
  // A tensor of the given shape.
  Tensor tensor(const std::string& key, const Shape& shape) const;
  std::vector<std::size_t> indices(const std::string& key) const;

  // Which example wrote it and the arguments its run was started with (encode_args).
  void set_run(const std::string& example, const std::string& args);

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
                          const tg::train::Progress& progress);
  void put(ResumeState& state) const;
  // The saved position, if the state was saved in the middle of an epoch; refused as damaged when
  // `order` holds an index from `examples` on, or next_batch is past its batches.
  static std::optional<EpochPosition> get(const ResumeState& state, std::size_t examples);
  // Puts the progress line back where the epoch stopped; returns the batch to continue from.
  std::size_t continue_in(tg::train::Progress& progress) const;
  // `order` cut into batch_sizes, and the other way round.
  std::vector<std::vector<std::size_t>> batches() const;
  void set_batches(const std::vector<std::vector<std::size_t>>& batches);
};

// The arguments after the program name, one string, so a run can record how it was started.
std::string encode_args(const std::vector<std::string>& args);
std::vector<std::string> decode_args(const std::string& text);

// The command line to parse. Without --resume: argv as it is. With `train --resume RUN` (nothing
// else is accepted beside it: the flags are the run's), the arguments RUN was started with,
// followed by --resume RUN. `started` receives the arguments to record in the run (never
// holding --resume).
std::vector<std::string> resume_command_line(int argc, char** argv, const std::string& example,
                                             std::string& started);

// SIGINT and SIGTERM while a guard lives: the first one only sets a flag that the training loops
// poll between batches, so that a save in progress completes; the default handlers are back after
// it, so a second Ctrl-C ends the program at once.
class StopSignals {
 public:
  StopSignals();
  ~StopSignals();
  StopSignals(const StopSignals&) = delete;
  StopSignals& operator=(const StopSignals&) = delete;
  // The signal received (0: none).
  static int received();
};

// The stop signal received by this process, or in a data-parallel job by any rank (0: none).
// Every rank calls it at the same point of its loop and gets the same answer.
int stop_signal();

// Ends the run for `signal`: throws Interrupted with "<signal> during epoch <epoch>; the run is
// saved <saved_where>; resume with: <program> train --resume '<run>'".
[[noreturn]] void throw_interrupted(int signal, const std::filesystem::path& run, std::size_t epoch,
                                    const std::string& saved_where);

// A training loop's stop on a signal, with a save in the middle of the epoch: requested() before
// every batch (every rank calls it there); when it says yes the loop saves its resume point and
// calls stopped(), which ends the run with the line saying how to resume.
class StopRequest {
 public:
  explicit StopRequest(std::filesystem::path run) : run_(std::move(run)) {}
  bool requested() { return (signal_ = stop_signal()) != 0; }
  [[noreturn]] void stopped(std::size_t epoch, std::size_t batch) const;

 private:
  std::filesystem::path run_;
  int signal_ = 0;
};

}  // namespace tg::examples
