// Internal helpers the optimizer and the schedules share for their state dicts (not public API).
#pragma once

#include <cmath>
#include <string>

#include "tapegrad/autograd/tensor.hpp"

namespace tg::optim::detail {

// Counts and scalars are stored as float64 whatever the parameters' dtype, so that int64 counts
// up to 2^53 and float64 learning rates round-trip exactly.
inline Tensor scalar64(double value) { return Tensor::scalar(value, DType::Float64); }

inline bool starts_with(const std::string& s, const std::string& prefix) {
  return s.compare(0, prefix.size(), prefix) == 0;
}

// Whether `v` is whole and at most 9e15 (< 2^53) in magnitude, so that a count read back from a
// float64 converts to int64 exactly; false for NaN and infinities.
inline bool is_exact_integer(double v) { return v == std::floor(v) && std::abs(v) <= 9e15; }

// The error every load_state_dict refusal throws: "<who>::load_state_dict: <key>: <what>".
inline Error load_error(const std::string& who, const std::string& key, const std::string& what) {
  return Error(who + "::load_state_dict: " + key + ": " + what);
}

}  // namespace tg::optim::detail
