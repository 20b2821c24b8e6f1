// Generator implementation: portable transforms over mt19937_64.
#include "tapegrad/autograd/random.hpp"

#include <cmath>
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

Generator& default_generator() {
  thread_local Generator generator;
  return generator;
}

void manual_seed(std::uint64_t seed) { default_generator().manual_seed(seed); }

}  // namespace tg
