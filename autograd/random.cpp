// Generator implementation: portable transforms over mt19937_64.
#include "tapegrad/autograd/random.hpp"

#include <atomic>
#include <cmath>
#include <mutex>
#include <sstream>

#include "tapegrad/autograd/error.hpp"

namespace tg {

void Generator::manual_seed(std::uint64_t seed) {
  engine_.seed(seed);
  has_spare_ = false;
  spare_ = 0.0;
}

double Generator::normal() {
  if (has_spare_) {
    has_spare_ = false;
    return spare_;
  }
  double u1 = uniform();
  while (u1 <= 0.0) u1 = uniform();
  const double u2 = uniform();
  const double radius = std::sqrt(-2.0 * std::log(u1));
  const double angle = 2.0 * M_PI * u2;
  spare_ = radius * std::sin(angle);
  has_spare_ = true;
  return radius * std::cos(angle);
}

std::uint64_t Generator::below(std::uint64_t n) {
  if (n == 0) throw Error("Generator::below: empty range");
  // Rejection keeps the draw exactly uniform.
  const std::uint64_t limit = UINT64_MAX - UINT64_MAX % n;
  std::uint64_t x = engine_();
  while (x >= limit) x = engine_();
  return x % n;
}

std::string Generator::state() const {
  std::ostringstream out;
  out << engine_ << ' ' << has_spare_ << ' ';
  out.precision(17);
  out << std::hexfloat << spare_;
  return out.str();
}

void Generator::set_state(const std::string& state) {
  std::istringstream in(state);
  std::mt19937_64 engine;
  bool has_spare = false;
  double spare = 0.0;
  in >> engine >> has_spare;
  std::string spare_text;
  in >> spare_text;
  if (!in) throw Error("Generator::set_state: malformed generator state");
  spare = std::strtod(spare_text.c_str(), nullptr);
  engine_ = engine;
  has_spare_ = has_spare;
  spare_ = spare;
}

namespace {

std::mutex g_seed_mutex;
std::uint64_t g_process_seed = 5489u;          // guarded by g_seed_mutex
std::atomic<std::uint64_t> g_seed_epoch{0};    // bumped by every manual_seed
std::atomic<std::uint64_t> g_next_thread{0};

// Thread k's stream: the seed itself for thread 0, else the seed mixed with k (SplitMix64's
// finaliser), so that streams of neighbouring threads are unrelated.
std::uint64_t thread_seed(std::uint64_t seed, std::uint64_t thread) {
  if (thread == 0) return seed;
  std::uint64_t z = seed + thread * 0x9e3779b97f4a7c15ULL;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

struct ThreadGenerator {
  std::uint64_t thread = g_next_thread.fetch_add(1, std::memory_order_relaxed);
  std::uint64_t epoch = ~std::uint64_t{0};  // seeded at first use
  Generator generator;
};

ThreadGenerator& this_thread_generator() {
  thread_local ThreadGenerator t;
  return t;
}

}  // namespace

Generator& default_generator() {
  ThreadGenerator& t = this_thread_generator();
  const std::uint64_t epoch = g_seed_epoch.load(std::memory_order_acquire);
  if (t.epoch != epoch) {  // first use, or manual_seed since: restart from the process seed
    std::lock_guard<std::mutex> lock(g_seed_mutex);
    t.generator.manual_seed(thread_seed(g_process_seed, t.thread));
    t.epoch = g_seed_epoch.load(std::memory_order_relaxed);
  }
  return t.generator;
}

void manual_seed(std::uint64_t seed) {
  std::lock_guard<std::mutex> lock(g_seed_mutex);
  g_process_seed = seed;
  const std::uint64_t epoch = g_seed_epoch.fetch_add(1, std::memory_order_acq_rel) + 1;
  ThreadGenerator& t = this_thread_generator();  // the caller restarts at once
  t.generator.manual_seed(thread_seed(seed, t.thread));
  t.epoch = epoch;
}

}  // namespace tg
