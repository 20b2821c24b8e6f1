// UTF-8 checks and conversions for the library's text (see utf8.hpp).
#include "nn/utf8.hpp"

namespace tg::utf8 {

std::size_t sequence_at(std::string_view text, std::size_t pos, char32_t& code_point) {
  const auto* s = reinterpret_cast<const unsigned char*>(text.data());
  const unsigned b = s[pos];
  std::size_t len;
  char32_t cp, min;
  if (b < 0x80) { len = 1; cp = b; min = 0; }
  else if (b >= 0xC2 && b <= 0xDF) { len = 2; cp = b & 0x1F; min = 0x80; }
  else if (b >= 0xE0 && b <= 0xEF) { len = 3; cp = b & 0x0F; min = 0x800; }
  else if (b >= 0xF0 && b <= 0xF4) { len = 4; cp = b & 0x07; min = 0x10000; }
  else return 0;
  if (text.size() - pos < len) return 0;
  for (std::size_t k = 1; k < len; ++k) {
    if ((s[pos + k] & 0xC0) != 0x80) return 0;
    cp = (cp << 6) | (s[pos + k] & 0x3F);
  }
  if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
  code_point = cp;
  return len;
}

std::size_t to_utf32(std::string_view in, std::u32string& out) {
  for (std::size_t i = 0; i < in.size();) {
    char32_t cp = 0;
    const std::size_t len = sequence_at(in, i, cp);
    if (len == 0) return i;
    out.push_back(cp);
    i += len;
  }
  return std::string::npos;
}

bool from_utf32(const std::u32string& cps, std::string& out) {
  for (const char32_t cp : cps) {
    if (cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
    if (cp < 0x80) {
      out.push_back(static_cast<char>(cp));
      continue;
    }
    const int extra = cp < 0x800 ? 1 : cp < 0x10000 ? 2 : 3;  // continuation bytes
    out.push_back(static_cast<char>(((0xFF << (7 - extra)) & 0xFF) | (cp >> (6 * extra))));
    for (int k = extra - 1; k >= 0; --k)
      out.push_back(static_cast<char>(0x80 | ((cp >> (6 * k)) & 0x3F)));
  }
  return true;
}

std::size_t display_width(std::string_view text) {
  std::size_t n = 0;
  for (const unsigned char c : text) n += (c & 0xC0) != 0x80;
  return n;
}

std::string sanitize(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (std::size_t pos = 0; pos < text.size();) {
    char32_t cp = 0;
    const std::size_t len = sequence_at(text, pos, cp);
    if (len == 0) {
      out += "\xEF\xBF\xBD";  // U+FFFD
      ++pos;
    } else {
      out.append(text.substr(pos, len));
      pos += len;
    }
  }
  return out;
}

}  // namespace tg::utf8
