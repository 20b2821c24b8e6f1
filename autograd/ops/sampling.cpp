// multinomial: inverse-CDF draws from each row's weights, in double whatever the dtype.
#include "tapegrad/autograd/ops/sampling.hpp"

#include <algorithm>
#include <cmath>
#include <vector>

#include "tapegrad/autograd/function.hpp"

namespace tg {

namespace {

// The index j with cumulative[j-1] <= u < cumulative[j]: never a zero weight, since its
// cumulative sum equals its predecessor's. A u rounded up to the total falls back to the last
// category of non-zero weight.
std::size_t draw_index(const std::vector<double>& cumulative, double u) {
  const auto it = std::upper_bound(cumulative.begin(), cumulative.end(), u);
  if (it != cumulative.end()) return static_cast<std::size_t>(it - cumulative.begin());
  std::size_t j = cumulative.size() - 1;
  while (j > 0 && cumulative[j] == cumulative[j - 1]) --j;
  return j;
}

void cumulate(const std::vector<double>& weights, std::vector<double>& cumulative) {
  double total = 0.0;
  for (std::size_t j = 0; j < weights.size(); ++j) cumulative[j] = total += weights[j];
}

}  // namespace

Indices multinomial(const Tensor& probs, std::size_t num_samples, bool replacement,
                    Generator& gen) {
  check_same_dtype("multinomial", {probs});
  const Shape s = probs.shape();
  if (s.empty() || s.size() > 2 || s.back() == 0)
    throw Error(fmt::format("multinomial: probs must be [C] or [N, C] with C > 0, got {}",
                            shape_str(s)));
  if (num_samples == 0)
    throw Error(fmt::format("multinomial: num_samples must be positive, got 0 (probs {})",
                            shape_str(s)));
  const std::size_t rows = s.size() == 2 ? s[0] : 1, classes = s.back();
  const std::vector<double> values = probs.to_vector();
  std::vector<std::int64_t> out(rows * num_samples);
  std::vector<double> weights(classes), cumulative(classes);
  for (std::size_t r = 0; r < rows; ++r) {
    std::size_t non_zero = 0;
    for (std::size_t j = 0; j < classes; ++j) {
      const double w = values[r * classes + j];
      if (!(w >= 0.0) || !std::isfinite(w))
        throw Error(fmt::format("multinomial: weight {} (row {}, category {}) is not a finite "
                                "non-negative number (probs {})",
                                w, r, j, shape_str(s)));
      weights[j] = w;
      non_zero += w > 0.0;
    }
    if (non_zero == 0)
      throw Error(fmt::format("multinomial: row {} of probs {} has no positive weight", r,
                              shape_str(s)));
    if (!replacement && num_samples > non_zero)
      throw Error(fmt::format("multinomial: cannot draw {} samples without replacement from row {} "
                              "of probs {}: it has only {} categories of non-zero weight",
                              num_samples, r, shape_str(s), non_zero));
    std::int64_t* row_out = out.data() + r * num_samples;
    cumulate(weights, cumulative);
    for (std::size_t k = 0; k < num_samples; ++k) {
      const std::size_t j = draw_index(cumulative, gen.uniform() * cumulative.back());
      row_out[k] = static_cast<std::int64_t>(j);
      if (!replacement && k + 1 < num_samples) {
        // Drawn categories leave the row; the sums are rebuilt, not decremented, so rounding
        // cannot leave a drawn category a sliver of weight.
        weights[j] = 0.0;
        cumulate(weights, cumulative);
      }
    }
  }
  return Indices(std::move(out), s.size() == 2 ? Shape{rows, num_samples} : Shape{num_samples});
}

}  // namespace tg
