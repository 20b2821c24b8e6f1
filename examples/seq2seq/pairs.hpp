// seq2seq data: (source, target) text pairs read from TSV files, split into parts, and the
// character alphabets that turn them into ids.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "tapegrad/autograd/random.hpp"

namespace tg::examples::seq2seq {

// Longest source or target accepted, in bytes of UTF-8: the model reads characters one by one,
// and one 1 MB "date" would make every padded batch of its epoch 1 MB long.
inline constexpr std::size_t kMaxTextBytes = 200;

struct Pair {
  std::string source;
  std::string target;
  std::string group;  // what the report breaks the accuracy down by (the date format); may be empty
};

struct PairSplit {
  std::vector<Pair> train, validation, test;
};

// Reads tab-separated lines "source<TAB>target" or "source<TAB>target<TAB>group" (UTF-8; blank
// lines skipped). tg::Error naming the file and line for a missing or unreadable file, a line
// without a tab or with more than three fields, an empty source or target, invalid UTF-8, a text
// longer than kMaxTextBytes, and a file with no pairs.
std::vector<Pair> read_pairs(const std::filesystem::path& path);

// The same format; written atomically.
void write_pairs(const std::filesystem::path& path, const std::vector<Pair>& pairs);

// Pairs repeated with the same source are kept once (the first target; a source listed with two
// different targets is counted in `conflicts`), then shuffled with `seed` and cut into
// train / validation / test: no source string is in two parts. tg::Error when fewer than 3
// distinct sources remain.
PairSplit split_pairs(const std::vector<Pair>& pairs, std::uint64_t seed, double validation_fraction,
                      double test_fraction, std::size_t* duplicates = nullptr,
                      std::size_t* conflicts = nullptr);

// Characters <-> ids. The first `reserved` ids are special (padding, start, end); the characters
// follow in a fixed order, so that a checkpoint stores the alphabet as one string.
class Alphabet {
 public:
  Alphabet() = default;
  Alphabet(std::u32string characters, std::size_t reserved);
  // Every character of `texts`, sorted by code point.
  static Alphabet of(const std::vector<std::string>& texts, std::size_t reserved);

  std::size_t size() const { return reserved_ + characters_.size(); }  // ids 0 .. size()-1
  std::size_t reserved() const { return reserved_; }
  std::optional<std::int64_t> id(char32_t c) const;
  // The character of a non-reserved id.
  char32_t character(std::int64_t id) const;
  // The characters as UTF-8 (a checkpoint's meta entry) and back.
  std::string text() const;
  const std::u32string& characters() const { return characters_; }

 private:
  std::u32string characters_;
  std::size_t reserved_ = 0;
  std::map<char32_t, std::int64_t> ids_;
};

}  // namespace tg::examples::seq2seq
