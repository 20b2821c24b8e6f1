// The Fisher-Yates shuffle both examples draw their orders with.
#pragma once

#include <cstddef>
#include <utility>
#include <vector>

#include "autograd/random.hpp"

namespace tg::examples {

// Shuffles `items` in place: for i = n down to 2, swap items[i - 1] and items[gen.below(i)].
// One shared loop because its draws are part of each example's random stream: splits, epoch
// orders and hence checkpoints are reproducible from a seed only while it stays the same.
template <class T>
void shuffle_in_place(std::vector<T>& items, Generator& gen) {
  for (std::size_t i = items.size(); i > 1; --i) std::swap(items[i - 1], items[gen.below(i)]);
}

}  // namespace tg::examples
