// Checked element counts and allocation failures that name the shape.
#include "autograd/size_check.hpp"

#include <fmt/format.h>

#include <cstddef>
#include <limits>

namespace tg {

std::size_t checked_numel(const Shape& shape, std::size_t element_bytes, const char* what) {
  // xtensor keeps strides as signed ptrdiff_t, computed from every dimension but zeros: their
  // product must fit even when a zero dimension makes the count 0 (UBSan: signed overflow).
  constexpr std::size_t kMax = static_cast<std::size_t>(std::numeric_limits<std::ptrdiff_t>::max());
  std::size_t n = 1;
  bool zero = false;
  bool overflow = false;
  for (std::size_t d : shape) {
    if (d == 0) zero = true;
    else if (n > kMax / d) overflow = true;
    else n *= d;
  }
  if (overflow || (element_bytes && n > kMax / element_bytes))
    throw Error(fmt::format("{}: shape {} has more elements than fit in memory", what,
                            shape_str(shape)));
  return zero ? 0 : n;
}

void throw_allocation_failure(const Shape& shape, std::size_t element_bytes, const char* what) {
  double bytes = double(element_bytes);
  for (std::size_t d : shape) bytes *= double(d);
  throw Error(fmt::format("{}: cannot allocate {:.4g} bytes for shape {}", what, bytes,
                          shape_str(shape)));
}

}  // namespace tg
