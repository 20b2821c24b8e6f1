// name_language data: loading <Language>.txt folders, the character vocabulary, the stratified
// split and padded mini-batches.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "tapegrad/autograd/random.hpp"
#include "tapegrad/autograd/tensor.hpp"
#include "common/text.hpp"

namespace tg::examples::names {

// Longest name accepted, in bytes of UTF-8 (the public set's longest is 20). A longer line in a
// names file is refused with its file and line, and a longer name given to predict is refused:
// it is not a name, and one 1 MB "name" would make every padded batch of its epoch 1 MB long.
inline constexpr std::size_t kMaxNameBytes = 100;


// How names become characters. Ascii: the char-RNN tutorial's folding (NFD, combining marks
// dropped, only ASCII letters and " .,;'" kept). Unicode: the code points as written (NFC).
enum class Charset { Ascii, Unicode };
std::string to_string(Charset charset);
Charset parse_charset(const std::string& text);  // "ascii" / "unicode"; tg::Error otherwise

// One (name, language) pair; `name` is already in the charset's form.
struct Example {
  std::string name;
  std::size_t label = 0;
};

// What the loader saw, for the summary line and the tests.
struct LoadStats {
  std::size_t files = 0;
  std::size_t lines = 0;          // non-blank lines
  std::size_t blank = 0;          // blank (or all-whitespace) lines skipped
  std::size_t duplicates = 0;     // (name, language) pairs seen before, after the charset mapping
  std::size_t emptied = 0;        // names with no character left after folding (e.g. "王")
  std::size_t multi_label = 0;    // distinct names listed under more than one language
};

struct Dataset {
  std::vector<std::string> labels;  // languages: the file names without ".txt", sorted
  std::vector<Example> examples;    // in file order, then line order; pairs unique
  LoadStats stats;

  std::vector<std::size_t> class_counts() const;
};

// Loads DIR/<Language>.txt (UTF-8, one name per line): names are trimmed, blank lines skipped
// and repeated (name, language) pairs removed; a name under several languages stays an example
// of each. tg::Error naming the folder or file:line for a missing or empty folder, fewer than two
// languages, a file with no names, or invalid UTF-8.
Dataset load_names(const std::filesystem::path& dir, Charset charset);

// Indices into Dataset::examples, cut 80/10/10 by default into train / validation / test: the
// units of each stratum are shuffled with `seed` and cut (a stratum of n >= 3 units gets at least
// one in validation and test), so the parts are disjoint and keep the strata's proportions.
// Names: a unit is a name with all its pairs, a stratum the names of one set of languages, so no
// validation or test name was seen in training ("Smith" is English and Scottish: a test pair
// (Smith, Scottish) beside a training pair (Smith, English) would score remembering the training
// as an error). Pairs: a unit is one (name, language) pair, a stratum one language (the split of
// earlier builds, kept to reproduce their figures).
enum class SplitUnit { Names, Pairs };
SplitUnit parse_split_unit(const std::string& text);  // "names" / "pairs"; tg::Error otherwise
struct Split {
  std::vector<std::size_t> train, validation, test;
};
Split stratified_split(const Dataset& data, std::uint64_t seed, SplitUnit unit = SplitUnit::Names,
                       double validation_fraction = 0.1, double test_fraction = 0.1);

// split.csv: name,language,part (one row per example), written atomically.
void write_split(const std::filesystem::path& path, const Dataset& data, const Split& split);

// Character ids: 0 is the unknown character (also the padding of batches: both read as a zero
// input vector), then the alphabet in order.
class Vocabulary {
 public:
  static constexpr std::int64_t kUnknown = 0;

  Vocabulary() = default;
  explicit Vocabulary(std::u32string alphabet);  // duplicates are an error
  // The fixed ASCII alphabet, or the sorted code points of the given names.
  static Vocabulary for_charset(Charset charset, const std::vector<std::string>& names);

  std::size_t size() const { return alphabet_.size() + 1; }
  const std::u32string& alphabet() const { return alphabet_; }
  std::int64_t id(char32_t c) const;  // kUnknown when not in the alphabet
  // The alphabet as UTF-8 (checkpoint metadata) and back.
  std::string to_text() const;
  static Vocabulary from_text(const std::string& text);

 private:
  std::u32string alphabet_;
  std::vector<std::int64_t> ascii_ids_;  // fast path for code points < 128
};

// A name as the model reads it at predict time: the charset's mapping, except that characters
// outside the vocabulary are kept and reported (they become the unknown id) instead of dropped.
// The unknown characters become kUnknown.
EncodedText encode_for_prediction(const std::string& name, Charset charset, const Vocabulary& vocab);

// A padded mini-batch, time-major as the recurrent layers take it.
struct Batch {
  Indices ids;                       // [T, B]; positions past a name's length hold kUnknown
  std::vector<std::size_t> lengths;  // B values in 1..T
  std::vector<std::int64_t> labels;  // B class indices
  std::size_t size() const { return lengths.size(); }
};

// Names must be non-empty. Characters outside the vocabulary become kUnknown.
Batch make_batch(const std::vector<std::vector<std::int64_t>>& encoded,
                 const std::vector<std::int64_t>& labels);

// The examples of a part as id sequences, encoded once.
struct EncodedSet {
  std::vector<std::vector<std::int64_t>> ids;
  std::vector<std::int64_t> labels;
  // Every language the data list each name under, its own label among them ("Smith": English
  // and Scottish): a name of several languages has no single right answer.
  std::vector<std::vector<std::size_t>> languages;
  std::size_t size() const { return labels.size(); }
};
EncodedSet encode_examples(const Dataset& data, const std::vector<std::size_t>& part,
                           const Vocabulary& vocab);

// The order of one epoch as batches of positions into an EncodedSet. Positions are drawn
// (without replacement for Sampling::Natural, with replacement weighted by class otherwise:
// Sqrt draws a class with probability ~ sqrt(count), Balanced uniformly), then grouped into
// batches of similar length (less padding) whose order is shuffled.
enum class Sampling { Natural, Sqrt, Balanced };
std::string to_string(Sampling sampling);
Sampling parse_sampling(const std::string& text);
std::vector<std::vector<std::size_t>> epoch_batches(const EncodedSet& set, std::size_t batch_size,
                                                    std::size_t num_classes, Sampling sampling,
                                                    Generator& gen);
// Consecutive batches in order (evaluation).
std::vector<std::vector<std::size_t>> sequential_batches(std::size_t count, std::size_t batch_size);
Batch gather_batch(const EncodedSet& set, const std::vector<std::size_t>& positions);

}  // namespace tg::examples::names
