// Sizes checked before they are allocated.
#include "common/limits.hpp"

#include <fmt/format.h>

#include <cmath>
#include <fstream>
#include <sstream>

namespace tg::examples {

double recurrent_parameters(std::size_t gates, std::size_t input, std::size_t hidden,
                            std::size_t layers, bool bidirectional) {
  const double g = double(gates), h = double(hidden), dirs = bidirectional ? 2.0 : 1.0;
  double total = 0;
  for (std::size_t l = 0; l < layers; ++l) {
    const double in = l == 0 ? double(input) : h * dirs;
    total += dirs * (g * h * (in + h) + 2 * g * h);
  }
  return total;
}

double training_bytes(double parameters, double activation_floats) {
  return 4.0 * (7.0 * parameters + activation_floats);
}

double available_memory() {
  std::ifstream in("/proc/meminfo");
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream fields(line);
    std::string key;
    double kb = 0;
    if (fields >> key >> kb && key == "MemAvailable:") return kb * 1024.0;
  }
  return 0;
}

std::string format_bytes(double bytes) {
  const char* units[] = {"bytes", "kB", "MB", "GB", "TB", "PB"};
  std::size_t u = 0;
  while (bytes >= 1000 && u + 1 < std::size(units)) {
    bytes /= 1000;
    ++u;
  }
  return u == 0 ? fmt::format("{:.0f} bytes", bytes) : fmt::format("{:.3g} {}", bytes, units[u]);
}

void check_training_memory(const std::string& what, double parameters, double activation_floats) {
  const double need = training_bytes(parameters, activation_floats);
  const double have = available_memory();
  if (have > 0 && need > have)
    throw Error(fmt::format("{}: a model of {:.3g} parameters needs about {} to train; {} of "
                            "memory are available",
                            what, parameters, format_bytes(need), format_bytes(have)));
}

void check_parameter_count(const std::map<std::string, nn::EntryHeader>& arrays,
                           const std::string& path, double expected) {
  double held = 0, largest = -1;
  std::string largest_text;
  for (const auto& [key, header] : arrays) {
    if (key.compare(0, 6, "optim.") == 0 ||
        (header.type != nn::EntryType::Float32 && header.type != nn::EntryType::Float64))
      continue;
    double size = 1;
    for (std::size_t d : header.shape) size *= double(d);
    held += size;
    if (size > largest) {
      largest = size;
      largest_text = fmt::format("{} {}", key, shape_str(header.shape));
    }
  }
  if (held != expected)
    throw Error(fmt::format("{}: its metadata describes a model of {:.6g} parameters, but it "
                            "holds {:.6g} weights{} (damaged or edited?)",
                            path, expected, held,
                            largest_text.empty() ? "" : ", the largest " + largest_text));
}

}  // namespace tg::examples
