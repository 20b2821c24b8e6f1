// Ctrl-C and SIGTERM turned into a clean stop of a training run: the flag, the agreed stop, and
// the exception that ends the run with the line saying how to resume.
#pragma once

#include <cstddef>
#include <exception>
#include <filesystem>
#include <string>
#include <utility>

namespace tg::train {

// Training stopped by a signal. The examples' run_main prints "<program>: interrupted: <message>"
// and exits with 128 + signal, as a shell reports a program killed by it.
class Interrupted : public std::exception {
 public:
  Interrupted(int signal, std::string message) : signal_(signal), message_(std::move(message)) {}
  const char* what() const noexcept override { return message_.c_str(); }
  int signal() const { return signal_; }

 private:
  int signal_;
  std::string message_;
};

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

// For tests that interrupt a run at a chosen point rather than at a moment: when the environment
// holds TAPEGRAD_RAISE_SIGNAL=<INT|TERM|KILL>:<epoch>:<batch>[:<rank>] (rank 0 by default) and
// this is that batch (0-based) of that epoch (1-based) on that rank, the process sends itself
// the signal, exactly as a Ctrl-C, a `kill` or the OOM killer would. The Trainer calls it before
// every batch. A malformed value is a tg::Error naming the variable.
void raise_signal_if_requested(std::size_t epoch, std::size_t batch);

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

}  // namespace tg::train
