// A short digest of training data.
#include "tapegrad/train/fingerprint.hpp"

#include <fmt/format.h>

namespace tg::train {

void Fingerprint::mix(const void* data, std::size_t n) {
  const auto* p = static_cast<const unsigned char*>(data);
  for (std::size_t i = 0; i < n; ++i) {
    state_ ^= p[i];
    state_ *= 1099511628211ull;
  }
}

Fingerprint& Fingerprint::add(std::string_view bytes) {
  const std::uint64_t size = bytes.size();
  mix(&size, sizeof size);
  mix(bytes.data(), bytes.size());
  return *this;
}

Fingerprint& Fingerprint::add(std::int64_t value) {
  mix(&value, sizeof value);
  return *this;
}

std::string Fingerprint::hex() const { return fmt::format("{:016x}", state_); }

}  // namespace tg::train
