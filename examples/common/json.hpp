// A JSON string literal of UTF-8 text, for the small JSON files the examples write beside an
// exported model (vocabulary, labels).
#pragma once

#include <cstdio>
#include <string>
#include <vector>

namespace tg::examples {

inline std::string json_string(const std::string& text) {
  std::string out = "\"";
  for (const char ch : text) {
    const auto c = static_cast<unsigned char>(ch);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += ch;
    } else if (c < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", c);
      out += buf;
    } else {
      out += ch;  // UTF-8 passes through: JSON text is UTF-8
    }
  }
  return out + "\"";
}

inline std::string json_strings(const std::vector<std::string>& items) {
  std::string out = "[";
  for (std::size_t i = 0; i < items.size(); ++i) out += (i ? ", " : "") + json_string(items[i]);
  return out + "]";
}

}  // namespace tg::examples
