// baby_lm's data: the corpus text, its character vocabulary, training windows and stateful streams.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <limits>
#include <string>
#include <string_view>
#include <vector>

#include <tapegrad/autograd/random.hpp>
#include <tapegrad/autograd/tensor.hpp>
#include <tapegrad/nn/data.hpp>

namespace tg::baby_lm {

// Input bounds: the whole corpus, and any one line (a longer one is refused with its file and
// line: it is more likely a binary file than text).
inline constexpr std::uintmax_t kMaxCorpusBytes = std::uintmax_t{64} << 20;
inline constexpr std::size_t kMaxLineBytes = std::size_t{1} << 20;


// Distinct characters a training corpus may have (--max-vocab's default): each is a row of the
// embedding and of the output layer, and a file of random text can hold a million of them. The
// shipped corpus has 28; a Chinese text a few thousand.
inline constexpr std::size_t kDefaultMaxVocab = 1000;

// A character in messages: 'a', or U+000A for characters that would not show.
std::string describe_char(char32_t c);

// The sorted distinct characters (Unicode code points) of a text; a token is its index.
class Vocabulary {
 public:
  Vocabulary() = default;
  // `chars` must be sorted and distinct (tg::Error otherwise): the order is the token order.
  explicit Vocabulary(std::u32string chars);
  static Vocabulary of_text(std::u32string_view text);

  std::size_t size() const { return chars_.size(); }
  const std::u32string& chars() const { return chars_; }
  char32_t at(std::size_t id) const { return chars_.at(id); }
  bool contains(char32_t c) const { return find(c) >= 0; }
  // The token of `c`, or -1.
  std::int64_t find(char32_t c) const;
  // Tokens of `text`; a character outside the vocabulary is a tg::Error that starts with `what`
  // (e.g. "--prompt") and names the character and its position.
  std::vector<std::int64_t> encode(std::u32string_view text, const std::string& what) const;
  std::string decode(const std::vector<std::int64_t>& ids) const;  // UTF-8
  std::string utf8() const;                                        // all characters, in order

 private:
  std::u32string chars_;
};

struct Corpus {
  std::filesystem::path path;
  std::u32string text;  // the lines joined with '\n'
  std::size_t lines = 0;
  Vocabulary vocab;
  std::vector<std::int64_t> ids;  // text as tokens
};

// A text file's lines joined with '\n', or, for a directory, the lines of its *.txt files in
// sorted name order. UTF-8 is validated. A missing path, a directory without .txt files, a
// corpus without a single character, or one of more than `max_vocab` distinct characters (the
// line names the count and the most frequent ones: "corpus.txt: 3001 distinct characters, more
// than --max-vocab 1000 (most frequent: U+000A (newline) 'e' ...)") is a tg::Error naming the
// path. Scoring a model (eval) takes any number: the model's own vocabulary refuses the rest.
Corpus load_corpus(const std::filesystem::path& path,
                   std::size_t max_vocab = std::numeric_limits<std::size_t>::max());

// The vocabulary for a console line: its first `max_chars` characters (newline shown as " | "),
// then "..." when there are more.
std::string vocabulary_summary(const Vocabulary& vocab, std::size_t max_chars = 60);

// The distinct space/newline-separated words of a text, sorted.
std::vector<std::string> corpus_words(std::u32string_view text);

// ---- window mode --------------------------------------------------------------------------
// Window i reads tokens [i, i + window) and predicts token i + window, so n tokens give
// n - window windows. tg::Error (naming `what`) when there is not a single one.
std::size_t window_count(std::size_t tokens, std::size_t window, const std::string& what);

// inputs [n, window] and targets [n] for the windows starting at starts[0..n).
// With `every_step`, targets are [n * window]: row i * window + t is token starts[i] + t + 1.
void fill_windows(const std::vector<std::int64_t>& ids, std::size_t window,
                  const std::size_t* starts, std::size_t n, Indices& inputs, Indices& targets,
                  bool every_step = false);

// 0..n-1 in the order of a Fisher-Yates shuffle drawn from gen (the library's).
using data::shuffled_order;

// ---- stateful mode ------------------------------------------------------------------------
// The tokens cut into `streams` contiguous streams of equal length, read side by side in chunks
// of `bptt` steps: batch k holds steps [k*bptt, min((k+1)*bptt, length)) of every stream, and
// row b of batch k+1 continues exactly where row b of batch k stopped, so a hidden state carried
// from one batch to the next sees each stream as one long text. Targets are the inputs shifted
// by one token. Tokens past streams * length + 1 (fewer than `streams`) are left out. `ids` must
// outlive the object.
class StreamBatches {
 public:
  StreamBatches(const std::vector<std::int64_t>& ids, std::size_t streams, std::size_t bptt,
                const std::string& what);
  std::size_t streams() const { return streams_; }
  std::size_t stream_length() const { return length_; }  // input steps per stream
  std::size_t batches() const { return (length_ + bptt_ - 1) / bptt_; }
  std::size_t steps(std::size_t k) const;  // steps in batch k (the last may be shorter)
  // inputs and targets [streams, steps(k)].
  void batch(std::size_t k, Indices& inputs, Indices& targets) const;

 private:
  const std::vector<std::int64_t>* ids_;
  std::size_t streams_, bptt_, length_;
};

}  // namespace tg::baby_lm
