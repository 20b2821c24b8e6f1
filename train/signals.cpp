// Ctrl-C and SIGTERM turned into a clean stop of a training run.
#include "tapegrad/train/signals.hpp"

#include <fmt/format.h>

#include <csignal>

#include "tapegrad/train/files.hpp"
#include "tapegrad/train/messages.hpp"
#include "tapegrad/train/parallel.hpp"

namespace tg::train {
namespace {

volatile std::sig_atomic_t g_signal = 0;

extern "C" void on_stop_signal(int signal) {
  g_signal = signal;
  // The next one ends the program: a user pressing Ctrl-C twice means it.
  std::signal(SIGINT, SIG_DFL);
  std::signal(SIGTERM, SIG_DFL);
}

}  // namespace

StopSignals::StopSignals() {
  g_signal = 0;
  std::signal(SIGINT, on_stop_signal);
  std::signal(SIGTERM, on_stop_signal);
}

StopSignals::~StopSignals() {
  std::signal(SIGINT, SIG_DFL);
  std::signal(SIGTERM, SIG_DFL);
}

int StopSignals::received() { return g_signal; }

void StopRequest::stopped(std::size_t epoch, std::size_t batch) const {
  throw_interrupted(signal_, run_, epoch, fmt::format("at batch {} of epoch {}", batch, epoch));
}

int stop_signal() {
  // All ranks of a job stop at the same batch, whichever got the signal.
  return static_cast<int>(parallel().max(StopSignals::received()));
}

void throw_interrupted(int signal, const std::filesystem::path& run, std::size_t epoch,
                       const std::string& saved_where) {
  throw Interrupted(
      signal, fmt::format("{} during epoch {}; the run is saved {}; resume with: {} train "
                          "--resume {}",
                          signal == SIGINT ? "SIGINT" : signal == SIGTERM ? "SIGTERM" : "signal",
                          epoch, saved_where, program_name(), quoted(run)));
}

}  // namespace tg::train
