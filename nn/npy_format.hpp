// The .npy array format, as np.save writes it: dtypes, header dict parsing and writing. Internal
// to npz.cpp (the checkpoint container); its "<U" text converts with nn/utf8.hpp.
#pragma once

#include <cstddef>
#include <stdexcept>
#include <string>

#include "tapegrad/autograd/error.hpp"

namespace tg::nn::npy {

// What went wrong, without the "load_npz: 'file':" prefix that npz.cpp's entry points add, so
// that the helpers need not carry the file name around.
struct Problem : std::runtime_error {
  using std::runtime_error::runtime_error;
};

inline constexpr char kMagic[] = "\x93NUMPY";  // 6 bytes, then major and minor version bytes
inline constexpr std::size_t kMagicLen = 6;

enum class Kind { Float32, Float64, Int64, Int32, Unicode };

struct Dtype {
  Kind kind = Kind::Float32;
  std::size_t itemsize = 0;  // bytes per element; 4 per character for Unicode
};

// "<f4", "<f8", "<i8", "<i4" or "<U<n>" (byte order '<', '=' or '|'); Problem otherwise.
Dtype parse_descr(const std::string& descr);

struct NpyHeader {
  std::string descr;
  bool fortran_order = false;
  Shape shape;
};

// The header is a Python dict literal; NumPy evaluates it with ast.literal_eval. This accepts
// the subset NumPy writes (keys in any order, either quote style, optional trailing commas) and
// refuses anything else rather than guessing.
NpyHeader parse_header(const std::string& text);

// Magic, version 1.0, little-endian uint16 header length, then the dict padded with spaces and a
// final '\n' so that the data starts at a multiple of 64 bytes: exactly what np.save writes.
std::string npy_header(const std::string& descr, const Shape& shape);

// Products of sizes, refusing overflow (a corrupt header must not wrap around to a small size).
std::size_t checked_mul(std::size_t a, std::size_t b);
std::size_t element_count(const Shape& shape);

}  // namespace tg::nn::npy
