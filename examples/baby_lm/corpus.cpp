// baby_lm's data: corpus loading, the vocabulary, windows and contiguous streams.
#include "baby_lm/corpus.hpp"

#include <algorithm>
#include <set>

#include <fmt/format.h>

#include <tapegrad/train/files.hpp>

#include "common/text.hpp"

namespace tg::baby_lm {

namespace fs = std::filesystem;

std::string describe_char(char32_t c) {
  const bool visible = c > 0x20 && c != 0x7F && !(c >= 0x80 && c < 0xA0);
  if (visible) return "'" + examples::encode_utf8(c) + "'";
  return fmt::format("U+{:04X}{}", static_cast<std::uint32_t>(c),
                     c == U' ' ? " (space)" : c == U'\n' ? " (newline)" : c == U'\t' ? " (tab)" : "");
}

Vocabulary::Vocabulary(std::u32string chars) : chars_(std::move(chars)) {
  for (std::size_t i = 1; i < chars_.size(); ++i)
    if (!(chars_[i - 1] < chars_[i]))
      throw Error(fmt::format("vocabulary: characters must be sorted and distinct ({} before {})",
                              describe_char(chars_[i - 1]), describe_char(chars_[i])));
}

Vocabulary Vocabulary::of_text(std::u32string_view text) {
  std::u32string chars(text);
  std::sort(chars.begin(), chars.end());
  chars.erase(std::unique(chars.begin(), chars.end()), chars.end());
  return Vocabulary(std::move(chars));
}

std::int64_t Vocabulary::find(char32_t c) const {
  const auto it = std::lower_bound(chars_.begin(), chars_.end(), c);
  return it != chars_.end() && *it == c ? it - chars_.begin() : -1;
}

std::vector<std::int64_t> Vocabulary::encode(std::u32string_view text,
                                             const std::string& what) const {
  std::vector<std::int64_t> ids;
  ids.reserve(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) {
    const std::int64_t id = find(text[i]);
    if (id < 0)
      throw Error(fmt::format("{}: character {} (position {}) is not in the model's vocabulary "
                              "of {} characters",
                              what, describe_char(text[i]), i + 1, size()));
    ids.push_back(id);
  }
  return ids;
}

std::string Vocabulary::decode(const std::vector<std::int64_t>& ids) const {
  std::u32string text;
  text.reserve(ids.size());
  for (std::int64_t id : ids) text.push_back(chars_.at(static_cast<std::size_t>(id)));
  return examples::encode_utf8(text);
}

std::string Vocabulary::utf8() const { return examples::encode_utf8(chars_); }

namespace {

// The files a corpus path stands for.
std::vector<fs::path> corpus_files(const fs::path& path) {
  std::error_code ec;
  if (fs::is_regular_file(path, ec)) return {path};
  if (!fs::is_directory(path, ec)) throw Error(path.string() + ": corpus not found");
  std::vector<fs::path> files;
  for (const auto& entry : fs::directory_iterator(path))
    if (entry.is_regular_file() && entry.path().extension() == ".txt") files.push_back(entry.path());
  std::sort(files.begin(), files.end());
  if (files.empty()) throw Error(path.string() + ": no .txt corpus file in this folder");
  return files;
}

constexpr std::size_t kCodePoints = 0x110000;

// "corpus.txt: 3001 distinct characters, more than --max-vocab 1000 (most frequent: ...)".
[[noreturn]] void refuse_vocabulary(const fs::path& path, const std::u32string& chars,
                                    const std::vector<std::uint32_t>& counts,
                                    std::size_t max_vocab) {
  constexpr std::size_t kShown = 8;
  const std::size_t shown = std::min(kShown, chars.size());
  std::u32string order = chars;
  // Ties in code point order: the same corpus gives the same line.
  std::partial_sort(order.begin(), order.begin() + static_cast<std::ptrdiff_t>(shown), order.end(),
                    [&](char32_t a, char32_t b) {
                      return counts[a] != counts[b] ? counts[a] > counts[b] : a < b;
                    });
  std::string most;
  for (std::size_t k = 0; k < shown; ++k) most += describe_char(order[k]) + " ";
  throw Error(fmt::format("{}: {} distinct characters, more than --max-vocab {} (most frequent: "
                          "{}...)",
                          path.string(), chars.size(), max_vocab, most));
}

}  // namespace

Corpus load_corpus(const fs::path& path, std::size_t max_vocab) {
  Corpus corpus;
  corpus.path = path;
  const std::vector<fs::path> files = corpus_files(path);
  std::uintmax_t bytes = 0;
  for (const fs::path& file : files) {
    std::error_code ec;
    bytes += fs::file_size(file, ec);
  }
  // Each character is held as UTF-32 text and as an int64 id (12 bytes), windows and batches
  // come on top: a corpus this large wants streaming, which this example does not do.
  if (bytes > kMaxCorpusBytes)
    throw Error(fmt::format("{}: the corpus is {} bytes; at most {} are accepted", path.string(),
                            bytes, kMaxCorpusBytes));
  for (const fs::path& file : files) {
    std::size_t number = 0;
    for (const std::string& line : tg::train::read_lines(file, kMaxLineBytes)) {
      ++number;
      if (corpus.lines++) corpus.text.push_back(U'\n');
      corpus.text += examples::decode_utf8(line, {file.string(), number});
    }
  }
  if (corpus.text.find_first_not_of(U'\n') == std::u32string::npos)
    throw Error(path.string() + ": empty corpus (no characters)");
  // Counted per code point (4.4 MB) rather than sorted: linear, and the counts name the most
  // frequent characters when there are too many.
  std::vector<std::uint32_t> counts(kCodePoints, 0);
  for (const char32_t c : corpus.text) {
    if (c >= kCodePoints) throw Error(path.string() + ": a character above U+10FFFF");
    ++counts[c];
  }
  std::u32string chars;
  for (std::size_t c = 0; c < kCodePoints; ++c)
    if (counts[c]) chars.push_back(static_cast<char32_t>(c));
  if (chars.size() > max_vocab) refuse_vocabulary(path, chars, counts, max_vocab);
  corpus.vocab = Vocabulary(std::move(chars));
  corpus.ids = corpus.vocab.encode(corpus.text, path.string());
  return corpus;
}

std::string vocabulary_summary(const Vocabulary& vocab, std::size_t max_chars) {
  std::string out;
  const std::u32string& chars = vocab.chars();
  for (std::size_t i = 0; i < chars.size() && i < max_chars; ++i)
    out += chars[i] == U'\n' ? " | " : examples::encode_utf8(chars[i]);
  return chars.size() > max_chars ? out + "..." : out;
}

std::vector<std::string> corpus_words(std::u32string_view text) {
  std::set<std::string> words;
  std::size_t start = 0;
  for (std::size_t i = 0; i <= text.size(); ++i) {
    if (i == text.size() || text[i] == U' ' || text[i] == U'\n') {
      if (i > start) words.insert(examples::encode_utf8(text.substr(start, i - start)));
      start = i + 1;
    }
  }
  return {words.begin(), words.end()};
}

std::size_t window_count(std::size_t tokens, std::size_t window, const std::string& what) {
  if (window == 0) throw Error(what + ": the window must hold at least one character");
  if (tokens <= window)
    throw Error(fmt::format("{}: {} characters are too few for windows of {} (at least {} needed)",
                            what, tokens, window, window + 1));
  return tokens - window;
}

void fill_windows(const std::vector<std::int64_t>& ids, std::size_t window,
                  const std::size_t* starts, std::size_t n, Indices& inputs, Indices& targets,
                  bool every_step) {
  const std::size_t per_window = every_step ? window : 1;
  inputs.data.resize(n * window);
  inputs.shape = {n, window};
  targets.data.resize(n * per_window);
  targets.shape = {n * per_window};
  for (std::size_t i = 0; i < n; ++i) {
    const std::size_t s = starts[i];
    if (s + window >= ids.size())
      throw Error(fmt::format("fill_windows: window {} needs token {} of {}", s, s + window,
                              ids.size()));
    std::copy(ids.begin() + s, ids.begin() + s + window, inputs.data.begin() + i * window);
    std::copy(ids.begin() + s + window + 1 - per_window, ids.begin() + s + window + 1,
              targets.data.begin() + i * per_window);
  }
}

StreamBatches::StreamBatches(const std::vector<std::int64_t>& ids, std::size_t streams,
                             std::size_t bptt, const std::string& what)
    : ids_(&ids), streams_(streams), bptt_(bptt), length_(0) {
  if (streams == 0 || bptt == 0) throw Error(what + ": streams and bptt must be positive");
  // Each stream needs one token beyond its inputs: its last target.
  if (ids.size() < streams + 1)
    throw Error(fmt::format("{}: {} characters cannot be cut into {} streams", what, ids.size(),
                            streams));
  length_ = (ids.size() - 1) / streams;
}

std::size_t StreamBatches::steps(std::size_t k) const {
  if (k >= batches()) throw Error(fmt::format("StreamBatches: no batch {} of {}", k, batches()));
  return std::min(bptt_, length_ - k * bptt_);
}

void StreamBatches::batch(std::size_t k, Indices& inputs, Indices& targets) const {
  const std::size_t T = steps(k), begin = k * bptt_;
  inputs.data.resize(streams_ * T);
  targets.data.resize(streams_ * T);
  inputs.shape = targets.shape = {streams_, T};
  for (std::size_t b = 0; b < streams_; ++b) {
    const auto from = ids_->begin() + static_cast<std::ptrdiff_t>(b * length_ + begin);
    std::copy(from, from + T, inputs.data.begin() + b * T);
    std::copy(from + 1, from + T + 1, targets.data.begin() + b * T);
  }
}

}  // namespace tg::baby_lm
