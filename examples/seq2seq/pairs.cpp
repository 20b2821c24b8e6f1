// seq2seq data: TSV pairs read and written, split by source string, and character alphabets.
#include "seq2seq/pairs.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <set>
#include <unordered_map>

#include "tapegrad/autograd/error.hpp"
#include "common/text.hpp"
#include "tapegrad/nn/data.hpp"
#include "tapegrad/train/files.hpp"

namespace tg::examples::seq2seq {

namespace {

std::vector<std::string> split_tabs(const std::string& line) {
  std::vector<std::string> fields;
  std::size_t start = 0;
  while (true) {
    const std::size_t tab = line.find('\t', start);
    fields.push_back(line.substr(start, tab == std::string::npos ? std::string::npos : tab - start));
    if (tab == std::string::npos) return fields;
    start = tab + 1;
  }
}

}  // namespace

std::vector<Pair> read_pairs(const std::filesystem::path& path) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec))
    throw Error(tg::train::quoted(path) +
                " is a folder; --data takes a file of tab-separated pairs");
  const std::vector<std::string> lines = tg::train::read_lines(path, 1u << 16);
  std::vector<Pair> pairs;
  for (std::size_t i = 0; i < lines.size(); ++i) {
    const std::string& line = lines[i];
    const std::string where = fmt::format("{}:{}", path.string(), i + 1);
    if (line.find_first_not_of(" \t") == std::string::npos) continue;
    if (!is_valid_utf8(line)) throw Error(where + ": not valid UTF-8");
    const std::vector<std::string> fields = split_tabs(line);
    if (fields.size() < 2)
      throw Error(where + ": no tab; each line is source<TAB>target (or source<TAB>target<TAB>group)");
    if (fields.size() > 3)
      throw Error(fmt::format("{}: {} tab-separated fields; expected source, target and an optional "
                              "group",
                              where, fields.size()));
    if (fields[0].empty()) throw Error(where + ": the source is empty");
    if (fields[1].empty()) throw Error(where + ": the target is empty");
    for (const std::string* text : {&fields[0], &fields[1]})
      if (text->size() > kMaxTextBytes)
        throw Error(fmt::format("{}: a text of {} bytes; at most {} are accepted", where,
                                text->size(), kMaxTextBytes));
    pairs.push_back({fields[0], fields[1], fields.size() == 3 ? fields[2] : ""});
  }
  if (pairs.empty())
    throw Error(tg::train::quoted(path) + " holds no pairs (lines source<TAB>target)");
  return pairs;
}

void write_pairs(const std::filesystem::path& path, const std::vector<Pair>& pairs) {
  std::string text;
  for (const Pair& p : pairs)
    text += p.source + '\t' + p.target + (p.group.empty() ? "" : "\t" + p.group) + '\n';
  tg::train::write_file_atomic(path, text);
}

PairSplit split_pairs(const std::vector<Pair>& pairs, std::uint64_t seed,
                      double validation_fraction, double test_fraction, std::size_t* duplicates,
                      std::size_t* conflicts) {
  std::vector<Pair> unique;
  std::unordered_map<std::string, std::size_t> first;  // source -> position in unique
  std::size_t repeated = 0, conflicting = 0;
  for (const Pair& p : pairs) {
    const auto [it, inserted] = first.emplace(p.source, unique.size());
    if (inserted) {
      unique.push_back(p);
    } else {
      ++repeated;
      if (unique[it->second].target != p.target) ++conflicting;
    }
  }
  if (duplicates) *duplicates = repeated;
  if (conflicts) *conflicts = conflicting;
  if (unique.size() < 3)
    throw Error(fmt::format("{} distinct sources: too few for a train, a validation and a test part",
                            unique.size()));
  Generator gen(seed);
  data::shuffle_in_place(unique, gen);
  const std::size_t n = unique.size();
  const auto part = [&](double fraction) {
    return std::clamp<std::size_t>(static_cast<std::size_t>(std::llround(fraction * double(n))), 1,
                                   n);
  };
  const std::size_t n_test = part(test_fraction), n_val = part(validation_fraction);
  if (n_test + n_val >= n)
    throw Error(fmt::format("{} distinct sources: too few for a train, a validation and a test part",
                            n));
  PairSplit split;
  split.test.assign(unique.begin(), unique.begin() + n_test);
  split.validation.assign(unique.begin() + n_test, unique.begin() + n_test + n_val);
  split.train.assign(unique.begin() + n_test + n_val, unique.end());
  return split;
}

Alphabet::Alphabet(std::u32string characters, std::size_t reserved)
    : characters_(std::move(characters)), reserved_(reserved) {
  for (std::size_t i = 0; i < characters_.size(); ++i)
    if (!ids_.emplace(characters_[i], static_cast<std::int64_t>(reserved_ + i)).second) {
      const char32_t c = characters_[i];
      const bool visible = c > 0x20 && c != 0x7F && !(c >= 0x80 && c < 0xA0);
      throw Error(visible ? fmt::format("'{}' is listed twice", encode_utf8(c))
                          : fmt::format("U+{:04X} is listed twice", static_cast<std::uint32_t>(c)));
    }
}

Alphabet Alphabet::of(const std::vector<std::string>& texts, std::size_t reserved) {
  std::set<char32_t> all;
  for (const std::string& t : texts)
    for (char32_t c : decode_utf8(t)) all.insert(c);
  return Alphabet(std::u32string(all.begin(), all.end()), reserved);
}

std::optional<std::int64_t> Alphabet::id(char32_t c) const {
  const auto it = ids_.find(c);
  if (it == ids_.end()) return std::nullopt;
  return it->second;
}

char32_t Alphabet::character(std::int64_t id) const {
  if (id < static_cast<std::int64_t>(reserved_) || id >= static_cast<std::int64_t>(size()))
    throw Error(fmt::format("Alphabet: id {} is not a character", id));
  return characters_[static_cast<std::size_t>(id) - reserved_];
}

std::string Alphabet::text() const { return encode_utf8(characters_); }

}  // namespace tg::examples::seq2seq
