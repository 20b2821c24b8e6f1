// Workload b's data, as bench/pytorch_workloads.py defines it: the names folder read, folded to
// ASCII, deduplicated and shuffled, and padded one-hot batches. Plain arrays, no tensor types:
// shared by bench_recurrent (tapegrad) and libtorch_workloads (libtorch).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace tg::bench {

struct NamePair {
  std::string name;  // ASCII-folded
  std::size_t label = 0;
};
struct NameData {
  std::vector<NamePair> pairs;  // deduplicated, folded, in the fixed shuffled order
  std::vector<std::string> languages;
};
// Empty pairs when the folder is absent or holds no .txt file.
NameData load_names(const std::string& folder);

// Width of the one-hot rows: string.ascii_letters + " .,;'".
constexpr std::size_t kNameAlphabetSize = 57;

// Pairs [begin, end) sorted longest first (stable), one-hot [steps, batch, 57] row-major, zero
// past each name's length.
struct OneHotBatch {
  std::vector<float> x;
  std::size_t steps = 0, batch = 0, width = kNameAlphabetSize;
  std::vector<std::size_t> lengths;  // longest first
  std::vector<std::int64_t> labels;
};
OneHotBatch one_hot_batch(const std::vector<NamePair>& pairs, std::size_t begin, std::size_t end);

}  // namespace tg::bench
