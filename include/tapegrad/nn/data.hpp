// tg::data: the small data helpers every training program needs: padding a batch of id
// sequences (ids, lengths, mask) and seeded shuffles and mini-batch orders.
#pragma once

#include <cstddef>
#include <cstdint>
#include <utility>
#include <vector>

#include "tapegrad/autograd/random.hpp"
#include "tapegrad/autograd/tensor.hpp"

namespace tg::data {

// Shuffles `items` in place: for i = n down to 2, swap items[i - 1] and items[gen.below(i)].
// Its draws are part of a program's random stream: runs (and the examples' checkpoints) are
// reproducible from a seed only while this loop stays the same.
template <class T>
void shuffle_in_place(std::vector<T>& items, Generator& gen) {
  for (std::size_t i = items.size(); i > 1; --i) std::swap(items[i - 1], items[gen.below(i)]);
}

// 0 .. n-1 in a shuffled order.
std::vector<std::size_t> shuffled_order(std::size_t n, Generator& gen);

// One epoch's mini-batches of positions 0 .. n-1: shuffled, cut into batches of batch_size (the
// last one shorter unless drop_last). The same seed gives the same batches.
std::vector<std::vector<std::size_t>> shuffled_batches(std::size_t n, std::size_t batch_size,
                                                       Generator& gen, bool drop_last = false);

// A padded batch of sequences.
struct PaddedBatch {
  Indices ids;                       // [T, B] (time-major, as the recurrent layers take it) or [B, T]
  std::vector<std::size_t> lengths;  // B true lengths (the recurrent layers' `lengths`)
  // [B, T]: 1 at padded positions (masked_fill's convention; tg::BoolMask(mask) makes it a
  // key_padding_mask)
  Tensor mask;
};

// Pads `sequences` with pad_id to the longest one's length T. Empty sequences are allowed (all
// padding); an empty list of sequences is an error.
PaddedBatch pad_batch(const std::vector<std::vector<std::int64_t>>& sequences,
                      std::int64_t pad_id = 0, bool batch_first = false,
                      DType mask_dtype = DType::Float32);

}  // namespace tg::data
