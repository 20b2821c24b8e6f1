// UTF-8 checks and conversions for the library's text (internal): .npy Unicode arrays, labels.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace tg::utf8 {

// Length (1 to 4) of the well-formed sequence starting at text[pos], whose code point goes to
// `code_point`; 0 when the bytes there are not one (overlong, surrogate, beyond U+10FFFF,
// truncated, stray continuation byte). What utf8proc_iterate accepts, without the dependency.
std::size_t sequence_at(std::string_view text, std::size_t pos, char32_t& code_point);

// Appends the code points of `in` to `out`; returns the byte offset of the first malformed
// sequence, or npos.
std::size_t to_utf32(std::string_view in, std::u32string& out);
// Appends the UTF-8 encoding of `cps`; false if one is not a Unicode scalar value (NumPy stores
// whatever a Python str holds, lone surrogates included).
bool from_utf32(const std::u32string& cps, std::string& out);

// Columns `text` takes on a terminal or in a chart: one per code point, continuation bytes
// counting nothing and every other byte of malformed input one. Wide (CJK) characters count
// one too: rare in training labels, and a width table is not worth its size here.
std::size_t display_width(std::string_view text);

// `text` with each byte that starts no well-formed sequence replaced by U+FFFD (one per bad
// byte, as browsers do): for display, where refusing would be worse than a visible mark.
std::string sanitize(std::string_view text);

}  // namespace tg::utf8
