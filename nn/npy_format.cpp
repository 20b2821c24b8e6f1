// The .npy array format: dtypes and headers (see npy_format.hpp).
#include "nn/npy_format.hpp"

#include <algorithm>
#include <limits>
#include <set>

#include <fmt/format.h>

namespace tg::nn::npy {

namespace {

constexpr std::size_t kArrayAlign = 64;
// NumPy >= 1.24 pads the header so the first axis can grow to this many digits in place; doing
// the same makes our entries byte-identical to np.save's.
constexpr std::size_t kGrowthAxisMaxDigits = 21;

class HeaderParser {
 public:
  explicit HeaderParser(const std::string& text) : s_(text) {}

  NpyHeader parse() {
    NpyHeader h;
    std::set<std::string> seen;
    skip_space();
    expect('{');
    while (true) {
      skip_space();
      if (peek() == '}') break;
      const std::string key = parse_string();
      skip_space();
      expect(':');
      skip_space();
      if (!seen.insert(key).second) fail(fmt::format("repeated key '{}'", key));
      if (key == "descr") {
        if (peek() == '[') throw Problem("unsupported dtype (structured arrays are not supported)");
        h.descr = parse_string();
      } else if (key == "fortran_order") {
        h.fortran_order = parse_bool();
      } else if (key == "shape") {
        h.shape = parse_shape();
      } else {
        fail(fmt::format("unexpected key '{}'", key));
      }
      skip_space();
      if (peek() == ',') ++pos_;
      else if (peek() != '}') fail("expected ',' or '}'");
    }
    ++pos_;
    skip_space();
    if (pos_ != s_.size()) fail("unexpected text after '}'");
    if (seen.size() != 3) fail("missing one of 'descr', 'fortran_order', 'shape'");
    return h;
  }

 private:
  [[noreturn]] void fail(const std::string& what) const {
    throw Problem(fmt::format("bad .npy header: {} at offset {}", what, pos_));
  }
  char peek() const { return pos_ < s_.size() ? s_[pos_] : '\0'; }
  void skip_space() {
    while (pos_ < s_.size() && (s_[pos_] == ' ' || s_[pos_] == '\t' || s_[pos_] == '\n')) ++pos_;
  }
  void expect(char c) {
    if (peek() != c) fail(fmt::format("expected '{}'", c));
    ++pos_;
  }
  std::string parse_string() {
    const char quote = peek();
    if (quote != '\'' && quote != '"') fail("expected a quoted string");
    const std::size_t end = s_.find(quote, pos_ + 1);
    if (end == std::string::npos) fail("unterminated string");
    std::string out = s_.substr(pos_ + 1, end - pos_ - 1);
    if (out.find('\\') != std::string::npos) fail("escape sequences are not supported");
    pos_ = end + 1;
    return out;
  }
  bool parse_bool() {
    if (s_.compare(pos_, 4, "True") == 0) { pos_ += 4; return true; }
    if (s_.compare(pos_, 5, "False") == 0) { pos_ += 5; return false; }
    fail("expected True or False");
  }
  std::size_t parse_dim() {
    if (peek() < '0' || peek() > '9') fail("expected a non-negative integer");
    std::size_t v = 0;
    while (peek() >= '0' && peek() <= '9') {
      if (v > (std::numeric_limits<std::size_t>::max() >> 4)) fail("dimension too large");
      v = v * 10 + static_cast<std::size_t>(peek() - '0');
      ++pos_;
    }
    if (peek() == 'L') ++pos_;  // Python 2 longs, as old NumPy wrote them
    return v;
  }
  // "()", "(5,)", "(2, 3)", "(2, 3,)"; "(5)" is an int in Python, not a shape, so it is refused.
  Shape parse_shape() {
    Shape shape;
    expect('(');
    skip_space();
    bool trailing_comma = false;
    while (peek() != ')') {
      shape.push_back(parse_dim());
      skip_space();
      trailing_comma = peek() == ',';
      if (trailing_comma) ++pos_;
      else if (peek() != ')') fail("expected ',' or ')' in shape");
      skip_space();
    }
    if (shape.size() == 1 && !trailing_comma) fail("a one-element shape needs a trailing comma");
    ++pos_;
    return shape;
  }

  const std::string& s_;
  std::size_t pos_ = 0;
};

std::string shape_tuple(const Shape& shape) {  // Python's repr of the shape tuple
  if (shape.size() == 1) return fmt::format("({},)", shape[0]);
  return fmt::format("({})", fmt::join(shape, ", "));
}

}  // namespace

// --- .npy dtypes and headers --------------------------------------------------------------------

Dtype parse_descr(const std::string& descr) {
  const auto unsupported = [&](const char* why) {
    return Problem(fmt::format("unsupported dtype '{}'{}", descr, why));
  };
  if (descr.size() < 2) throw unsupported("");
  const char order = descr[0];
  const char kind = descr[1];
  const std::string size = descr.substr(2);
  if (kind == 'O') throw unsupported(" (object arrays are not supported)");
  if (order == '>') throw unsupported(" (big-endian data is not supported)");
  if (order != '<' && order != '=' && order != '|') throw unsupported("");
  const std::string type = std::string(1, kind) + size;
  if (type == "f4") return {Kind::Float32, 4};
  if (type == "f8") return {Kind::Float64, 8};
  if (type == "i8") return {Kind::Int64, 8};
  if (type == "i4") return {Kind::Int32, 4};
  if (kind == 'U' && !size.empty() && size.size() <= 9 &&
      std::all_of(size.begin(), size.end(), [](char c) { return c >= '0' && c <= '9'; }))
    return {Kind::Unicode, 4 * std::stoul(size)};
  throw unsupported(" (expected <f4, <f8, <i8, <i4 or <U)");
}

NpyHeader parse_header(const std::string& text) { return HeaderParser(text).parse(); }

std::string npy_header(const std::string& descr, const Shape& shape) {
  std::string dict = fmt::format("{{'descr': '{}', 'fortran_order': False, 'shape': {}, }}",
                                 descr, shape_tuple(shape));
  if (!shape.empty()) {
    const std::size_t digits = std::to_string(shape[0]).size();
    dict.append(kGrowthAxisMaxDigits - std::min(digits, kGrowthAxisMaxDigits), ' ');
  }
  const std::size_t prefix = kMagicLen + 2 + 2;
  const std::size_t padding = kArrayAlign - (prefix + dict.size() + 1) % kArrayAlign;
  const std::size_t header_len = dict.size() + padding + 1;
  if (header_len > 0xFFFF) throw Problem(fmt::format("shape {} is too long", shape_str(shape)));
  const char version_and_length[4] = {1, 0, static_cast<char>(header_len & 0xFF),
                                      static_cast<char>(header_len >> 8)};
  return std::string(kMagic, kMagicLen) + std::string(version_and_length, 4) + dict +
         std::string(padding, ' ') + '\n';
}

std::size_t checked_mul(std::size_t a, std::size_t b) {
  if (b != 0 && a > std::numeric_limits<std::size_t>::max() / b)
    throw Problem("array size overflows");
  return a * b;
}

std::size_t element_count(const Shape& shape) {
  std::size_t n = 1;
  for (const auto d : shape) n = checked_mul(n, d);
  return n;
}

}  // namespace tg::nn::npy
