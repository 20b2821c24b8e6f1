// NumPy .npz archives, tapegrad's checkpoint format: what np.savez writes and numpy.load reads.
#pragma once

#include <cstdint>
#include <functional>
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
// big-endian or object arrays, data size not matching the shape). An entry is read to exactly
// the size its header declares: nothing larger is allocated, nothing past it decompressed.
Archive load_npz(const std::string& path);

// What an entry's .npy header declares, known before any of its data is read.
enum class EntryType { Float32, Float64, Int64, Int32, Text };
struct EntryHeader {
  EntryType type = EntryType::Float32;
  Shape shape;                   // {} for text
  std::uint64_t data_bytes = 0;  // what reading the entry allocates (UTF-32 for text)
};
std::string to_string(EntryType type);  // "float32", ..., "text"

// Decides from an entry's header, before its data is decompressed, whether load_npz reads it
// (true) or skips it (false: it is left out of the Archive and nothing past its header is
// decompressed). Throwing tg::Error refuses the file: load_npz reports the message after the
// file and the key ("load_npz: 'model.npz': key 'fc.weight': <message>"). A program that knows
// which shapes it expects checks them here, so that a small deflated entry declaring a huge
// array is refused instead of decompressed (see train::read_checkpoint_for).
using EntryFilter = std::function<bool(const std::string& key, const EntryHeader& header)>;
Archive load_npz(const std::string& path, const EntryFilter& filter);

}  // namespace tg::nn
