// tg::Generator: the seeded random source behind initialisation, dropout and sampling.
#pragma once

#include <cstdint>
#include <random>
#include <string>

namespace tg {

// mt19937_64 with our own uniform and normal transforms: std:: distributions differ between
// standard libraries, and a checkpointed run must resume with exactly the same numbers.
class Generator {
 public:
  explicit Generator(std::uint64_t seed = 5489u) { manual_seed(seed); }

  void manual_seed(std::uint64_t seed);
  std::uint64_t next_u64() { return engine_(); }
  // Uniform in [0, 1) with 53 random bits.
  double uniform() { return static_cast<double>(engine_() >> 11) * 0x1.0p-53; }
  double uniform(double lo, double hi) { return lo + (hi - lo) * uniform(); }
  // Standard normal (Box-Muller; the second value of each pair is kept for the next call).
  double normal();
  // Uniform integer in [0, n).
  std::uint64_t below(std::uint64_t n);

  // The complete state as text, for checkpoints; set_state() restores it exactly.
  std::string state() const;
  void set_state(const std::string& state);

 private:
  std::mt19937_64 engine_;
  bool has_spare_ = false;
  double spare_ = 0.0;
};

// The generator used when none is passed: one per thread, so that threads never share an engine.
// manual_seed(s) seeds the whole process, as torch.manual_seed: every thread's generator restarts
// (the caller's at once, the others' at their next use) at its thread's stream of s. Threads are
// numbered in the order they first use their generator; thread 0 (usually main) gets s itself,
// thread k a stream derived from s and k, so threads draw different numbers and a program that
// starts its threads in a fixed order draws the same ones every run. Before any manual_seed the
// process seed is 5489 (mt19937_64's default).
Generator& default_generator();
void manual_seed(std::uint64_t seed);

}  // namespace tg
