// Element counts of shapes, checked: a product that overflows size_t wraps to a small number and
// would let a later write run past the buffer, so every shape that allocates goes through here.
#pragma once

#include <cstddef>
#include <string>

#include "tapegrad/autograd/error.hpp"

namespace tg {

// The number of elements of `shape`, or tg::Error "<what>: shape [..] has more elements than
// fit in memory" when the product of its non-zero sizes, times `element_bytes`, does not fit in
// ptrdiff_t (the type of xtensor's strides).
std::size_t checked_numel(const Shape& shape, std::size_t element_bytes, const char* what);

// tg::Error "<what>: cannot allocate <bytes> for shape [..]": for a std::bad_alloc caught while
// allocating `shape`, so that the failure names what was asked for.
[[noreturn]] void throw_allocation_failure(const Shape& shape, std::size_t element_bytes,
                                           const char* what);

}  // namespace tg
