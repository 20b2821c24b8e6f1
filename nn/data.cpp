// tg::data: padding and seeded batch orders.
#include "tapegrad/nn/data.hpp"

#include <algorithm>
#include <numeric>

#include <fmt/format.h>

namespace tg::data {

std::vector<std::size_t> shuffled_order(std::size_t n, Generator& gen) {
  std::vector<std::size_t> order(n);
  std::iota(order.begin(), order.end(), std::size_t(0));
  shuffle_in_place(order, gen);
  return order;
}

std::vector<std::vector<std::size_t>> shuffled_batches(std::size_t n, std::size_t batch_size,
                                                       Generator& gen, bool drop_last) {
  if (batch_size == 0) throw Error("shuffled_batches: batch_size must be positive");
  const std::vector<std::size_t> order = shuffled_order(n, gen);
  std::vector<std::vector<std::size_t>> batches;
  for (std::size_t start = 0; start < n; start += batch_size) {
    const std::size_t end = std::min(n, start + batch_size);
    if (drop_last && end - start < batch_size) break;
    batches.emplace_back(order.begin() + static_cast<long>(start), order.begin() + static_cast<long>(end));
  }
  return batches;
}

PaddedBatch pad_batch(const std::vector<std::vector<std::int64_t>>& sequences,
                      std::int64_t pad_id, bool batch_first, DType mask_dtype) {
  const std::size_t b = sequences.size();
  if (b == 0) throw Error("pad_batch: no sequences");
  std::size_t t = 0;
  for (const auto& s : sequences) t = std::max(t, s.size());
  PaddedBatch batch;
  batch.ids.shape = batch_first ? Shape{b, t} : Shape{t, b};
  batch.ids.data.assign(t * b, pad_id);
  std::vector<double> mask(b * t, 1.0);
  for (std::size_t i = 0; i < b; ++i) {
    const auto& s = sequences[i];
    for (std::size_t j = 0; j < s.size(); ++j) {
      batch.ids.data[batch_first ? i * t + j : j * b + i] = s[j];
      mask[i * t + j] = 0.0;
    }
    batch.lengths.push_back(s.size());
  }
  batch.mask = Tensor::from_vector(mask, {b, t}, mask_dtype);
  return batch;
}

}  // namespace tg::data
