// Ctrl-C and SIGTERM turned into a clean stop of a training run.
#include "tapegrad/train/signals.hpp"

#include <fmt/format.h>

#include <csignal>
#include <cstdlib>
#include <cstdio>

#include "tapegrad/autograd/error.hpp"
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

void raise_signal_if_requested(std::size_t epoch, std::size_t batch) {
  struct Request {
    int signal = 0;  // 0: none requested
    std::size_t epoch = 0, batch = 0;
    int rank = 0;
  };
  static const Request request = [] {
    Request r;
    const char* text = std::getenv("TAPEGRAD_RAISE_SIGNAL");
    if (!text || !*text) return r;
    char name[8] = {};
    unsigned long epoch = 0, batch = 0;
    int rank = 0;
    const int fields = std::sscanf(text, "%7[A-Z]:%lu:%lu:%d", name, &epoch, &batch, &rank);
    const std::string signal = name;
    r.signal = signal == "INT" ? SIGINT : signal == "TERM" ? SIGTERM : signal == "KILL" ? SIGKILL : 0;
    if (fields < 3 || r.signal == 0 || epoch == 0 || rank < 0)
      throw Error(fmt::format("TAPEGRAD_RAISE_SIGNAL: expected <INT|TERM|KILL>:<epoch>:<batch>"
                              "[:<rank>] (epoch from 1, batch from 0), got '{}'",
                              text));
    r.epoch = epoch;
    r.batch = batch;
    r.rank = rank;
    return r;
  }();
  if (request.signal && request.epoch == epoch && request.batch == batch &&
      request.rank == parallel().rank())
    std::raise(request.signal);
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
