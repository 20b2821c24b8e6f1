// A short digest of training data, so that a resumed run can tell that its data changed.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace tg::train {

// 64-bit FNV-1a over what is added, in order: it notices an edited, added, removed or reordered
// record (each add is length-prefixed, so "ab"+"c" differs from "a"+"bc"). Not a defence against
// anyone forging a collision; the data's path and counts go beside it in Trainer::same_data.
class Fingerprint {
 public:
  Fingerprint& add(std::string_view bytes);
  Fingerprint& add(std::int64_t value);
  std::string hex() const;  // 16 hexadecimal digits

 private:
  void mix(const void* data, std::size_t n);
  std::uint64_t state_ = 14695981039346656037ull;
};

}  // namespace tg::train
