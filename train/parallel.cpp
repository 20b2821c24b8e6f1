// The processes of a data-parallel run: a single process by default, and the process-wide group.
#include "tapegrad/train/parallel.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "tapegrad/autograd/error.hpp"

namespace tg::train {

std::pair<std::size_t, std::size_t> Parallel::share(std::size_t n) const {
  const auto ranks = static_cast<std::size_t>(size()), r = static_cast<std::size_t>(rank());
  const std::size_t base = n / ranks, extra = n % ranks;
  const std::size_t first = r * base + std::min(r, extra);
  return {first, first + base + (r < extra ? 1 : 0)};
}

std::vector<std::size_t> Parallel::strided_share(const std::vector<std::size_t>& global) const {
  std::vector<std::size_t> mine;
  const auto ranks = static_cast<std::size_t>(size());
  for (auto i = static_cast<std::size_t>(rank()); i < global.size(); i += ranks)
    mine.push_back(global[i]);
  return mine;
}

void Parallel::sum(std::vector<double>&) const {}  // one process: the values are the sums

double Parallel::max(double value) const {
  if (size() == 1) return value;
  // Built on sum alone: the values of every rank, summed into their slots.
  std::vector<double> slots(static_cast<std::size_t>(size()), 0.0);
  slots[static_cast<std::size_t>(rank())] = value;
  sum(slots);
  return *std::max_element(slots.begin(), slots.end());
}

std::vector<std::string> Parallel::broadcast_from_root(
    const std::vector<std::string>& values) const {
  if (size() == 1) return values;
  // Built on sum alone: rank 0 sends the texts joined by NULs, byte by byte (exact in a
  // double), after their length; the other ranks send zeros.
  std::string joined;
  if (is_root())
    for (const std::string& v : values) joined += v + '\0';
  std::vector<double> length{static_cast<double>(joined.size())};
  sum(length);
  std::vector<double> bytes(static_cast<std::size_t>(length[0]), 0.0);
  for (std::size_t i = 0; i < joined.size(); ++i) bytes[i] = static_cast<unsigned char>(joined[i]);
  sum(bytes);
  std::vector<std::string> out;
  std::string current;
  for (double b : bytes) {
    if (b == 0) {
      out.push_back(current);
      current.clear();
    } else {
      current += static_cast<char>(static_cast<unsigned char>(b));
    }
  }
  return out;
}

std::vector<float> Parallel::all_gather_rows(const std::vector<float>& part, std::size_t n,
                                             std::size_t width) const {
  const auto [first, last] = share(n);
  if (part.size() != (last - first) * width)
    throw Error(fmt::format("Parallel::all_gather_rows: rank {} holds {} values, its {} rows of "
                            "{} are {}",
                            rank(), part.size(), last - first, width, (last - first) * width));
  if (size() == 1) return part;
  // Built on sum alone: every rank writes its rows into zeroed slots, summed. As bit patterns
  // (integers below 2^32, exact in a double), since adding zeros to the values would turn a -0.0
  // into +0.0.
  std::vector<double> slots(n * width, 0.0);
  for (std::size_t i = 0; i < part.size(); ++i) {
    std::uint32_t bits;
    std::memcpy(&bits, &part[i], sizeof bits);
    slots[first * width + i] = bits;
  }
  sum(slots);
  std::vector<float> whole(n * width);
  for (std::size_t i = 0; i < whole.size(); ++i) {
    const auto bits = static_cast<std::uint32_t>(slots[i]);
    std::memcpy(&whole[i], &bits, sizeof bits);
  }
  return whole;
}

void Parallel::attach(const nn::Module&) {}

void Parallel::average_gradients() {}

double Parallel::communication_seconds() const { return 0; }

void Parallel::print_communication_share(double train_seconds) const {
  if (size() == 1) return;
  const double waited = communication_seconds();
  std::printf("data-parallel: %d processes; gradient averaging waited %.2f s of %.1f s of "
              "training (%.1f%%)\n",
              size(), waited, train_seconds, 100.0 * waited / std::max(train_seconds, 1e-9));
}

void Parallel::abort(const std::string& line, int code) const {
  std::fprintf(stderr, "%s\n", line.c_str());
  std::fflush(stderr);
  std::_Exit(code);
}

namespace {

// Atomic: the training loops read it every batch, possibly from other threads than main's.
std::atomic<Parallel*> g_installed{nullptr};

}  // namespace

Parallel& parallel() {
  static Parallel single_process;
  Parallel* installed = g_installed.load(std::memory_order_acquire);
  return installed ? *installed : single_process;
}

void set_parallel(Parallel* group) { g_installed.store(group, std::memory_order_release); }

}  // namespace tg::train
