// NumPy .npz archives, tapegrad's checkpoint format: what np.savez writes and numpy.load reads.
#pragma once

#include <map>
#include <string>

#include "tapegrad/autograd/tensor.hpp"

namespace tg::nn {

// The contents of one .npz file, by key (the entry name without ".npy"). Keys are unique across
// the three maps and may contain dots and slashes ("optim.state.lstm.weight_ih_l0.exp_avg").
struct Archive {
  std::map<std::string, Tensor> tensors;       // float32 ("<f4") / float64 ("<f8") arrays
  std::map<std::string, Indices> integers;     // int64 ("<i8"; int32 "<i4" accepted on load)
  std::map<std::string, std::string> strings;  // UTF-8 text, stored as a 0-d NumPy "<U" array
  bool contains(const std::string& key) const;
};

// Writes `archive` to `path` atomically: the zip is written to a temporary file beside `path`,
// fsync'ed, then renamed over `path`, so an interrupted save never leaves a half-written
// checkpoint. Entries are stored uncompressed with a fixed timestamp: the same archive always
// gives the same bytes. Throws tg::Error (naming the file and key) for an undefined tensor, an
// empty or invalid-UTF-8 key or text, a key used twice, or any I/O failure; nothing is left
// behind on failure.
void save_npz(const std::string& path, const Archive& archive);

// Reads an .npz written by save_npz, np.savez or np.savez_compressed. Throws tg::Error with a
// one-line message naming the file (and the key when relevant) for a missing file, a file that
// is not a zip or is truncated or corrupt (CRC), or an entry that is not a valid .npy (bad magic,
// unsupported version, unparsable header, fortran_order True, unsupported dtype such as
// big-endian or object arrays, data size not matching the shape).
Archive load_npz(const std::string& path);

}  // namespace tg::nn
