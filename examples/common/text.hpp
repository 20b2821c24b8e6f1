// UTF-8 decoding / encoding with validation, display width, and the char-RNN ASCII folding.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace tg::examples {

// Where a piece of text came from, so that an error can point at it ("names/Czech.txt:12: ...").
// Both parts are optional: an empty file and line 0 are left out of messages.
struct TextOrigin {
  std::string file;
  std::size_t line = 0;
};

// Code points of `text`. Rejects malformed, overlong and surrogate sequences with a tg::Error
// naming the origin and the byte offset, because a silently mangled vocabulary is far harder
// to notice than a refused file.
std::u32string decode_utf8(std::string_view text, const TextOrigin& origin = {});

// True when `text` is well-formed UTF-8.
bool is_valid_utf8(std::string_view text);

// Columns `text` takes on a terminal or in a table: its code points, UTF-8 continuation bytes
// counting nothing. Wide (CJK) characters count one: rare enough in these labels to ignore, and
// no width table is needed. Malformed input is not rejected: every byte that is not a
// continuation byte counts one.
std::size_t display_width(std::string_view text);

// UTF-8 bytes of one code point / of a sequence. Throws tg::Error for a surrogate or a value
// above U+10FFFF (they have no valid encoding).
std::string encode_utf8(char32_t code_point);
std::string encode_utf8(std::u32string_view code_points);

// `text` with invalid sequences replaced by U+FFFD: for display (SVG labels, messages) where
// refusing would be worse than a visible replacement character.
std::string sanitize_utf8(std::string_view text);

// Unicode NFD, combining marks dropped, then only ASCII letters and " .,;'" kept: the
// unicodeToAscii of PyTorch's "classifying names with a character-level RNN" tutorial, so
// "Dvořák" -> "Dvorak". Letters without a decomposition (e.g. "ß", "Ł") are dropped, as there.
// Invalid UTF-8 throws like decode_utf8.
std::string fold_to_ascii(std::string_view text, const TextOrigin& origin = {});

// Unicode NFD with combining marks dropped and nothing else removed: the first half of
// fold_to_ascii, for callers that must see the characters the ASCII filter would drop (e.g. to
// map them to an unknown-character index with a warning). "Dvořák" -> "Dvorak", "Łódź" -> "Łodz".
std::string strip_marks(std::string_view text, const TextOrigin& origin = {});

// Unicode NFC: one spelling per character, so that a name typed decomposed ("u" + U+0308)
// matches the precomposed "ü" of a data file. Invalid UTF-8 throws like decode_utf8.
std::string to_nfc(std::string_view text, const TextOrigin& origin = {});

// The characters fold_to_ascii keeps, in a fixed order: a ready-made classifier vocabulary.
const std::string& ascii_letters_vocabulary();

// A text as a model reads it: its ids, and the characters outside the model's alphabet (in
// order), which the ids hold as the model's unknown or padding id.
struct EncodedText {
  std::vector<std::int64_t> ids;
  std::u32string unknown;
};

// Texts given on the command line (names to classify, sources to translate), encoded by `encode`
// and kept with the ids they gave. A text that gives no ids is skipped with a warning ("an empty
// name; skipped", "'..' has no characters left; skipped"); characters outside the alphabet are
// named in one ("'Nguyễn': 'ễ' not in the model's alphabet; read as unknown"), where `noun` is
// "name" and `unknown_reads_as` is "unknown".
struct CommandLineTexts {
  std::vector<std::string> texts;
  std::vector<std::vector<std::int64_t>> ids;
};
CommandLineTexts encode_command_line_texts(
    const std::vector<std::string>& texts, const std::string& noun,
    const std::string& unknown_reads_as,
    const std::function<EncodedText(const std::string&)>& encode);

}  // namespace tg::examples
