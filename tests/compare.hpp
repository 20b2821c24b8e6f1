// Numeric comparisons shared by the tests, all NaN-aware: a non-finite difference is the worst
// possible error (+inf), never dropped. `std::max(worst, NaN)` returns `worst`, so a comparison
// built on it scores an all-NaN result as 0 -- bit-exact. Every helper here folds with
// raise_to() instead, and callers compare with `err <= tol`, which +inf (and NaN) fails.
#pragma once

#include <cmath>
#include <cstddef>
#include <limits>
#include <stdexcept>
#include <string>
#include <vector>

namespace tg::testing {

constexpr double kWorstError = std::numeric_limits<double>::infinity();

// Raises `worst` to `err` when err is larger or not a finite number (NaN and +-inf become +inf);
// returns whether it did, so that the caller can remember where the worst error was.
inline bool raise_to(double& worst, double err) {
  // Written so that NaN takes the worst branch: every comparison with NaN is false.
  if (!(std::abs(err) <= std::numeric_limits<double>::max())) err = kWorstError;
  if (err <= worst) return false;
  worst = err;
  return true;
}

inline void require_same_size(const std::vector<double>& a, const std::vector<double>& b) {
  if (a.size() != b.size())
    throw std::invalid_argument("compare: " + std::to_string(a.size()) + " values against " +
                                std::to_string(b.size()));
}

// Largest |a - b| over the elements; +inf if any difference is not finite.
inline double max_abs_diff(const std::vector<double>& a, const std::vector<double>& b) {
  require_same_size(a, b);
  double worst = 0.0;
  for (std::size_t i = 0; i < a.size(); ++i) raise_to(worst, std::abs(a[i] - b[i]));
  return worst;
}

// Largest |a - b| / max(|b|, floor) (b the reference); +inf if any is not finite. With floor 0
// and b 0, a 0/0 or x/0 ratio is non-finite too: worst, as it should be for a reference that
// was assumed non-zero.
inline double max_rel_error(const std::vector<double>& a, const std::vector<double>& b,
                            double floor = 0.0) {
  require_same_size(a, b);
  double worst = 0.0;
  for (std::size_t i = 0; i < a.size(); ++i) {
    const double diff = std::abs(a[i] - b[i]);
    // Equal finite values are exact even where b is 0 (no 0/0).
    raise_to(worst, diff == 0.0 ? 0.0 : diff / std::max(std::abs(b[i]), floor));
  }
  return worst;
}

// ||a - b|| / ||b|| (Euclidean norms; b the reference); +inf if anything is not finite or b is
// zero while a is not. The measure gradcheck uses: a 1% error in a block of k of n equally sized
// values shows as ~1% * sqrt(k / n).
inline double rel_norm_error(const std::vector<double>& a, const std::vector<double>& b) {
  require_same_size(a, b);
  double num = 0.0, den = 0.0;
  for (std::size_t i = 0; i < a.size(); ++i) {
    num += (a[i] - b[i]) * (a[i] - b[i]);
    den += b[i] * b[i];
  }
  double worst = 0.0;
  raise_to(worst, num == 0.0 ? 0.0 : std::sqrt(num) / std::sqrt(den));
  return worst;
}

}  // namespace tg::testing
