// name_language data: the folder loader, stratified split, vocabulary and batching.
#include "name_language/data.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <numeric>
#include <set>
#include <string_view>

#include "tapegrad/nn/data.hpp"
#include "tapegrad/train/files.hpp"
#include "common/text.hpp"

namespace tg::examples::names {
namespace fs = std::filesystem;

namespace {

// ASCII whitespace and the no-break space (U+00A0), which data copied from web pages carries.
std::string trim(std::string_view s) {
  auto space_at_front = [&](std::size_t& n) {
    if (s.empty()) return false;
    if (std::isspace(static_cast<unsigned char>(s.front()))) return (n = 1), true;
    if (s.size() >= 2 && s[0] == '\xC2' && s[1] == '\xA0') return (n = 2), true;
    return false;
  };
  auto space_at_back = [&](std::size_t& n) {
    if (s.empty()) return false;
    if (std::isspace(static_cast<unsigned char>(s.back()))) return (n = 1), true;
    if (s.size() >= 2 && s[s.size() - 2] == '\xC2' && s.back() == '\xA0') return (n = 2), true;
    return false;
  };
  std::size_t n = 0;
  while (space_at_front(n)) s.remove_prefix(n);
  while (space_at_back(n)) s.remove_suffix(n);
  return std::string(s);
}

std::string map_charset(const std::string& name, Charset charset, const TextOrigin& origin) {
  return trim(charset == Charset::Ascii ? fold_to_ascii(name, origin) : to_nfc(name, origin));
}

}  // namespace

std::string to_string(Charset charset) { return charset == Charset::Ascii ? "ascii" : "unicode"; }

Charset parse_charset(const std::string& text) {
  if (text == "ascii") return Charset::Ascii;
  if (text == "unicode") return Charset::Unicode;
  throw Error("unknown charset '" + text + "' (expected ascii or unicode)");
}

std::vector<std::size_t> Dataset::class_counts() const {
  std::vector<std::size_t> counts(labels.size(), 0);
  for (const Example& e : examples) ++counts[e.label];
  return counts;
}

Dataset load_names(const fs::path& dir, Charset charset) {
  std::error_code ec;
  if (!fs::exists(dir, ec))
    throw Error("data folder " + tg::train::quoted(dir) + " does not exist");
  if (!fs::is_directory(dir, ec))
    throw Error("data folder " + tg::train::quoted(dir) + " is not a folder");
  std::vector<fs::path> files;
  for (const fs::directory_entry& entry : fs::directory_iterator(dir, ec))
    if (entry.path().extension() == ".txt" && !entry.is_directory()) files.push_back(entry.path());
  if (ec)
    throw Error("data folder " + tg::train::quoted(dir) + " cannot be listed: " + ec.message());
  if (files.empty())
    throw Error("data folder " + tg::train::quoted(dir) + " holds no <Language>.txt files");
  if (files.size() < 2)
    throw Error("data folder " + tg::train::quoted(dir) + " holds only one language (" +
                files.front().filename().string() + "): a classifier needs at least two");
  std::sort(files.begin(), files.end());

  Dataset data;
  std::set<std::pair<std::string, std::size_t>> seen;
  std::map<std::string, std::size_t> labels_of_name;
  for (const fs::path& file : files) {
    const std::size_t label = data.labels.size();
    data.labels.push_back(file.stem().string());
    const std::vector<std::string> lines = tg::train::read_lines(file);
    std::size_t kept = 0;
    for (std::size_t i = 0; i < lines.size(); ++i) {
      const TextOrigin origin{file.string(), i + 1};
      const std::string raw = trim(lines[i]);
      if (raw.empty()) {
        // Still validated: a file whose only bad bytes sit on a "blank" line is still not UTF-8.
        decode_utf8(lines[i], origin);
        ++data.stats.blank;
        continue;
      }
      ++data.stats.lines;
      if (raw.size() > kMaxNameBytes)
        throw Error(fmt::format("{}:{}: a name of {} bytes; names are at most {} (is this a names "
                                "file?)",
                                file.string(), i + 1, raw.size(), kMaxNameBytes));
      const std::string name = map_charset(raw, charset, origin);
      if (name.empty()) {
        ++data.stats.emptied;
        continue;
      }
      if (!seen.emplace(name, label).second) {
        ++data.stats.duplicates;
        continue;
      }
      if (++labels_of_name[name] == 2) ++data.stats.multi_label;
      data.examples.push_back({name, label});
      ++kept;
    }
    if (kept == 0)
      throw Error(file.string() + ": no names" +
                  (lines.empty() ? " (the file is empty)"
                                 : charset == Charset::Ascii
                                       ? " left (blank lines, or no ASCII letters after folding; "
                                         "try --charset unicode)"
                                       : " (only blank lines)"));
    ++data.stats.files;
  }
  return data;
}

SplitUnit parse_split_unit(const std::string& text) {
  if (text == "names") return SplitUnit::Names;
  if (text == "pairs") return SplitUnit::Pairs;
  throw Error(fmt::format("split '{}': expected names or pairs", text));
}

Split stratified_split(const Dataset& data, std::uint64_t seed, SplitUnit unit,
                       double validation_fraction, double test_fraction) {
  if (!(validation_fraction >= 0 && test_fraction >= 0 && validation_fraction + test_fraction < 1))
    throw Error(fmt::format("stratified_split: fractions {} and {} must be >= 0 and sum below 1",
                            validation_fraction, test_fraction));
  // Units (a pair, or all the pairs of one name) in strata (a language, or a name's set of
  // languages), each in file order.
  std::vector<std::vector<std::vector<std::size_t>>> strata;
  if (unit == SplitUnit::Pairs) {
    strata.resize(data.labels.size());
    for (std::size_t i = 0; i < data.examples.size(); ++i)
      strata[data.examples[i].label].push_back({i});
  } else {
    std::map<std::string_view, std::vector<std::size_t>> pairs_of_name;
    for (std::size_t i = 0; i < data.examples.size(); ++i)
      pairs_of_name[data.examples[i].name].push_back(i);
    std::map<std::vector<std::size_t>, std::vector<std::vector<std::size_t>>> by_languages;
    for (std::size_t i = 0; i < data.examples.size(); ++i) {
      const std::vector<std::size_t>& pairs = pairs_of_name[data.examples[i].name];
      if (pairs.front() != i) continue;  // the name's first pair stands for it
      std::vector<std::size_t> languages;
      for (std::size_t j : pairs) languages.push_back(data.examples[j].label);
      std::sort(languages.begin(), languages.end());
      by_languages[languages].push_back(pairs);
    }
    for (auto& [languages, units] : by_languages) strata.push_back(std::move(units));
  }
  Generator gen(seed);
  Split split;
  for (std::vector<std::vector<std::size_t>>& units : strata) {
    data::shuffle_in_place(units, gen);
    const std::size_t n = units.size();
    auto share = [&](double fraction) {
      const auto k = static_cast<std::size_t>(std::lround(fraction * static_cast<double>(n)));
      return n >= 3 && fraction > 0 ? std::max<std::size_t>(k, 1) : (n >= 3 ? k : 0);
    };
    const std::size_t n_val = share(validation_fraction), n_test = share(test_fraction);
    for (std::size_t u = 0; u < n; ++u) {
      std::vector<std::size_t>& part =
          u < n_val ? split.validation : u < n_val + n_test ? split.test : split.train;
      part.insert(part.end(), units[u].begin(), units[u].end());
    }
  }
  for (auto* part : {&split.train, &split.validation, &split.test})
    std::sort(part->begin(), part->end());
  return split;
}

void write_split(const fs::path& path, const Dataset& data, const Split& split) {
  std::vector<const char*> part_of(data.examples.size(), "");
  for (std::size_t i : split.train) part_of[i] = "train";
  for (std::size_t i : split.validation) part_of[i] = "validation";
  for (std::size_t i : split.test) part_of[i] = "test";
  std::string text = tg::train::csv_line({"name", "language", "part"}) + "\n";
  for (std::size_t i = 0; i < data.examples.size(); ++i) {
    const Example& e = data.examples[i];
    text += tg::train::csv_line({e.name, data.labels[e.label], part_of[i]}) + "\n";
  }
  tg::train::write_file_atomic(path, text);
}

Vocabulary::Vocabulary(std::u32string alphabet) : alphabet_(std::move(alphabet)) {
  ascii_ids_.assign(128, kUnknown);
  std::set<char32_t> unique;
  for (std::size_t i = 0; i < alphabet_.size(); ++i) {
    const char32_t c = alphabet_[i];
    if (!unique.insert(c).second)
      throw Error(fmt::format("vocabulary: character U+{:04X} listed twice",
                              static_cast<unsigned>(c)));
    if (c < 128) ascii_ids_[c] = static_cast<std::int64_t>(i + 1);
  }
}

Vocabulary Vocabulary::for_charset(Charset charset, const std::vector<std::string>& names) {
  if (charset == Charset::Ascii) return Vocabulary(decode_utf8(ascii_letters_vocabulary()));
  std::set<char32_t> chars;
  for (const std::string& name : names)
    for (char32_t c : decode_utf8(name)) chars.insert(c);
  return Vocabulary(std::u32string(chars.begin(), chars.end()));
}

std::int64_t Vocabulary::id(char32_t c) const {
  if (c < 128) return ascii_ids_[c];
  const auto it = std::lower_bound(alphabet_.begin(), alphabet_.end(), c);
  // The Unicode alphabet is sorted; a hand-made one may not be: fall back to a scan.
  if (it != alphabet_.end() && *it == c) return static_cast<std::int64_t>(it - alphabet_.begin() + 1);
  const auto pos = alphabet_.find(c);
  return pos == std::u32string::npos ? kUnknown : static_cast<std::int64_t>(pos + 1);
}

std::string Vocabulary::to_text() const { return encode_utf8(alphabet_); }

Vocabulary Vocabulary::from_text(const std::string& text) { return Vocabulary(decode_utf8(text)); }

EncodedText encode_for_prediction(const std::string& name, Charset charset, const Vocabulary& vocab) {
  if (name.size() > kMaxNameBytes)
    throw Error(fmt::format("a name of {} bytes ('{}...'); names are at most {}", name.size(),
                            name.substr(0, 20), kMaxNameBytes));
  // As the loader, but without the ASCII filter: what it would drop is reported instead.
  const std::string mapped = trim(charset == Charset::Ascii ? strip_marks(name) : to_nfc(name));
  EncodedText out;
  for (char32_t c : decode_utf8(mapped)) {
    const std::int64_t id = vocab.id(c);
    out.ids.push_back(id);
    if (id == Vocabulary::kUnknown) out.unknown.push_back(c);
  }
  return out;
}

Batch make_batch(const std::vector<std::vector<std::int64_t>>& encoded,
                 const std::vector<std::int64_t>& labels) {
  const std::size_t B = encoded.size();
  if (B == 0 || labels.size() != B)
    throw Error(fmt::format("make_batch: {} names and {} labels", B, labels.size()));
  std::size_t T = 0;
  for (const auto& ids : encoded) {
    if (ids.empty()) throw Error("make_batch: empty name");
    T = std::max(T, ids.size());
  }
  Batch batch;
  batch.ids.shape = {T, B};
  batch.ids.data.assign(T * B, Vocabulary::kUnknown);
  for (std::size_t b = 0; b < B; ++b) {
    for (std::size_t t = 0; t < encoded[b].size(); ++t) batch.ids.data[t * B + b] = encoded[b][t];
    batch.lengths.push_back(encoded[b].size());
  }
  batch.labels = labels;
  return batch;
}

EncodedSet encode_examples(const Dataset& data, const std::vector<std::size_t>& part,
                           const Vocabulary& vocab) {
  EncodedSet set;
  std::map<std::string, std::vector<std::size_t>> languages_of_name;
  for (const Example& e : data.examples) languages_of_name[e.name].push_back(e.label);
  for (std::size_t i : part) {
    set.languages.push_back(languages_of_name.at(data.examples[i].name));
    std::vector<std::int64_t> ids;
    for (char32_t c : decode_utf8(data.examples[i].name)) ids.push_back(vocab.id(c));
    set.ids.push_back(std::move(ids));
    set.labels.push_back(static_cast<std::int64_t>(data.examples[i].label));
  }
  return set;
}

std::string to_string(Sampling sampling) {
  switch (sampling) {
    case Sampling::Sqrt: return "sqrt";
    case Sampling::Balanced: return "balanced";
    default: return "natural";
  }
}

Sampling parse_sampling(const std::string& text) {
  if (text == "natural") return Sampling::Natural;
  if (text == "sqrt") return Sampling::Sqrt;
  if (text == "balanced") return Sampling::Balanced;
  throw Error("unknown sampling '" + text + "' (expected natural, sqrt or balanced)");
}

std::vector<std::vector<std::size_t>> epoch_batches(const EncodedSet& set, std::size_t batch_size,
                                                    std::size_t num_classes, Sampling sampling,
                                                    Generator& gen) {
  if (batch_size == 0) throw Error("epoch_batches: batch size 0");
  const std::size_t n = set.size();
  std::vector<std::size_t> order(n);
  if (sampling == Sampling::Natural) {
    std::iota(order.begin(), order.end(), 0);
    data::shuffle_in_place(order, gen);
  } else {
    std::vector<std::vector<std::size_t>> members(num_classes);
    for (std::size_t i = 0; i < n; ++i) members.at(set.labels[i]).push_back(i);
    std::vector<double> cumulative;
    double total = 0;
    for (const auto& m : members) {
      const double size = static_cast<double>(m.size());
      total += m.empty() ? 0.0 : sampling == Sampling::Sqrt ? std::sqrt(size) : 1.0;
      cumulative.push_back(total);
    }
    for (std::size_t& pos : order) {
      const double u = gen.uniform() * total;
      const std::size_t c = std::min<std::size_t>(
          std::upper_bound(cumulative.begin(), cumulative.end(), u) - cumulative.begin(),
          num_classes - 1);
      pos = members[c][gen.below(members[c].size())];
    }
  }
  // Sorting windows of 32 batches by length cuts the padded steps (~1.7x less work on surnames)
  // while every batch still mixes names from across the shuffled window.
  const std::size_t window = batch_size * 32;
  for (std::size_t start = 0; start < n; start += window) {
    const auto first = order.begin() + static_cast<std::ptrdiff_t>(start);
    const auto last = order.begin() + static_cast<std::ptrdiff_t>(std::min(n, start + window));
    std::stable_sort(first, last, [&](std::size_t a, std::size_t b) {
      return set.ids[a].size() < set.ids[b].size();
    });
  }
  std::vector<std::vector<std::size_t>> batches;
  for (std::size_t start = 0; start < n; start += batch_size)
    batches.emplace_back(order.begin() + static_cast<std::ptrdiff_t>(start),
                         order.begin() + static_cast<std::ptrdiff_t>(std::min(n, start + batch_size)));
  data::shuffle_in_place(batches, gen);
  return batches;
}

std::vector<std::vector<std::size_t>> sequential_batches(std::size_t count, std::size_t batch_size) {
  std::vector<std::vector<std::size_t>> batches;
  for (std::size_t start = 0; start < count; start += batch_size) {
    batches.emplace_back();
    for (std::size_t i = start; i < std::min(count, start + batch_size); ++i)
      batches.back().push_back(i);
  }
  return batches;
}

Batch gather_batch(const EncodedSet& set, const std::vector<std::size_t>& positions) {
  std::vector<std::vector<std::int64_t>> ids;
  std::vector<std::int64_t> labels;
  for (std::size_t p : positions) {
    ids.push_back(set.ids.at(p));
    labels.push_back(set.labels.at(p));
  }
  return make_batch(ids, labels);
}

}  // namespace tg::examples::names
