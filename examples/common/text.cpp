// UTF-8 decoding / encoding with validation, display width, and the char-RNN ASCII folding.
#include "common/text.hpp"

#include <tapegrad/autograd/error.hpp>
#include <tapegrad/train/messages.hpp>

#include <fmt/format.h>

#include <utf8proc.h>

#include <cstdio>
#include <cstdlib>
#include <memory>

namespace tg::examples {
namespace {

const auto* bytes_of(std::string_view text) {
  return reinterpret_cast<const utf8proc_uint8_t*>(text.data());
}

// Length of the valid sequence at `pos`, or a negative utf8proc error code. utf8proc_iterate
// rejects overlong forms, surrogates and values above U+10FFFF, the validation we want.
utf8proc_ssize_t next_code_point(std::string_view text, std::size_t pos, utf8proc_int32_t* cp) {
  return utf8proc_iterate(bytes_of(text) + pos, static_cast<utf8proc_ssize_t>(text.size() - pos),
                          cp);
}

[[noreturn]] void throw_invalid(std::string_view text, std::size_t pos, const TextOrigin& origin) {
  std::string where;
  if (!origin.file.empty())
    where = origin.file + (origin.line ? ":" + std::to_string(origin.line) : "");
  else if (origin.line)
    where = "line " + std::to_string(origin.line);
  else
    where = "decode_utf8";
  // The offending bytes in hex tell a Latin-1 file (one high byte) from a truncated sequence.
  std::string hex;
  for (std::size_t i = pos; i < text.size() && i < pos + 4; ++i) {
    char buf[8];
    std::snprintf(buf, sizeof buf, "%s0x%02X", hex.empty() ? "" : " ",
                  static_cast<unsigned char>(text[i]));
    hex += buf;
  }
  throw Error(where + ": invalid UTF-8 at byte " + std::to_string(pos + 1) +
              (origin.line ? " of the line" : "") + " (" + hex +
              "); is the file saved in another encoding (e.g. Latin-1)?");
}

}  // namespace

std::u32string decode_utf8(std::string_view text, const TextOrigin& origin) {
  std::u32string out;
  out.reserve(text.size());
  for (std::size_t pos = 0; pos < text.size();) {
    utf8proc_int32_t cp = 0;
    const utf8proc_ssize_t n = next_code_point(text, pos, &cp);
    if (n <= 0) throw_invalid(text, pos, origin);
    out.push_back(static_cast<char32_t>(cp));
    pos += static_cast<std::size_t>(n);
  }
  return out;
}

std::size_t display_width(std::string_view text) {
  std::size_t n = 0;
  for (unsigned char c : text) n += (c & 0xC0) != 0x80;
  return n;
}

bool is_valid_utf8(std::string_view text) {
  for (std::size_t pos = 0; pos < text.size();) {
    utf8proc_int32_t cp = 0;
    const utf8proc_ssize_t n = next_code_point(text, pos, &cp);
    if (n <= 0) return false;
    pos += static_cast<std::size_t>(n);
  }
  return true;
}

std::string encode_utf8(char32_t code_point) {
  const auto cp = static_cast<utf8proc_int32_t>(code_point);
  if (code_point > 0x10FFFF || !utf8proc_codepoint_valid(cp)) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "U+%04X", static_cast<unsigned>(code_point));
    throw Error(std::string("encode_utf8: ") + buf + " is not a valid code point");
  }
  utf8proc_uint8_t buf[4];
  const utf8proc_ssize_t n = utf8proc_encode_char(cp, buf);
  return std::string(reinterpret_cast<const char*>(buf), static_cast<std::size_t>(n));
}

std::string encode_utf8(std::u32string_view code_points) {
  std::string out;
  out.reserve(code_points.size());
  for (char32_t cp : code_points) {
    if (cp < 0x80)
      out.push_back(static_cast<char>(cp));  // the common case, no call
    else
      out += encode_utf8(cp);
  }
  return out;
}

std::string sanitize_utf8(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (std::size_t pos = 0; pos < text.size();) {
    utf8proc_int32_t cp = 0;
    const utf8proc_ssize_t n = next_code_point(text, pos, &cp);
    if (n <= 0) {
      out += "\xEF\xBF\xBD";  // U+FFFD, one per bad byte (what browsers do)
      ++pos;
    } else {
      out.append(text.substr(pos, static_cast<std::size_t>(n)));
      pos += static_cast<std::size_t>(n);
    }
  }
  return out;
}

namespace {

// utf8proc_map with `options` after validating (utf8proc's own error carries no position).
std::string map_utf8(std::string_view text, utf8proc_option_t options, const TextOrigin& origin,
                     const char* function) {
  decode_utf8(text, origin);
  utf8proc_uint8_t* mapped = nullptr;
  const utf8proc_ssize_t n =
      utf8proc_map(bytes_of(text), static_cast<utf8proc_ssize_t>(text.size()), &mapped, options);
  const std::unique_ptr<utf8proc_uint8_t, decltype(&std::free)> owner(mapped, &std::free);
  if (n < 0) throw Error(std::string(function) + ": " + utf8proc_errmsg(n));
  return std::string(reinterpret_cast<const char*>(mapped), static_cast<std::size_t>(n));
}

}  // namespace

std::string strip_marks(std::string_view text, const TextOrigin& origin) {
  return map_utf8(
      text, static_cast<utf8proc_option_t>(UTF8PROC_STABLE | UTF8PROC_DECOMPOSE | UTF8PROC_STRIPMARK),
      origin, "strip_marks");
}

std::string to_nfc(std::string_view text, const TextOrigin& origin) {
  return map_utf8(text, static_cast<utf8proc_option_t>(UTF8PROC_STABLE | UTF8PROC_COMPOSE), origin,
                  "to_nfc");
}

std::string fold_to_ascii(std::string_view text, const TextOrigin& origin) {
  const std::string& keep = ascii_letters_vocabulary();
  std::string out;
  // Multi-byte sequences have every byte >= 0x80, so a byte-wise ASCII filter is exact.
  for (const char c : strip_marks(text, origin))
    if (keep.find(c) != std::string::npos) out.push_back(c);
  return out;
}

const std::string& ascii_letters_vocabulary() {
  static const std::string letters = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ .,;'";
  return letters;
}

CommandLineTexts encode_command_line_texts(
    const std::vector<std::string>& texts, const std::string& noun,
    const std::string& unknown_reads_as,
    const std::function<EncodedText(const std::string&)>& encode) {
  CommandLineTexts out;
  for (const std::string& text : texts) {
    EncodedText enc = encode(text);
    if (enc.ids.empty()) {
      tg::train::print_warning(text.empty() ? fmt::format("an empty {}; skipped", noun)
                                            : fmt::format("'{}' has no characters left; skipped",
                                                          sanitize_utf8(text)));
      continue;
    }
    if (!enc.unknown.empty())
      tg::train::print_warning(fmt::format("'{}': '{}' not in the model's alphabet; read as {}",
                                           sanitize_utf8(text), encode_utf8(enc.unknown),
                                           unknown_reads_as));
    out.texts.push_back(text);
    out.ids.push_back(std::move(enc.ids));
  }
  return out;
}

}  // namespace tg::examples
