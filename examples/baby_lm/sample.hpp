// baby_lm's text generation: temperature / top-k / top-p sampling and the character-by-character loop.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include <tapegrad/autograd/random.hpp>

#include "baby_lm/corpus.hpp"
#include "baby_lm/model.hpp"

namespace tg::baby_lm {

struct SamplingOptions {
  double temperature = 0.8;  // 0: greedy (always the most likely character)
  std::size_t top_k = 0;     // keep only the k most likely characters; 0: all
  double top_p = 1.0;        // keep the smallest most-likely set whose probability reaches p
};

// tg::Error naming the flag for a negative temperature or a top_p outside (0, 1].
void check_sampling(const SamplingOptions& options);

// The distribution a character is drawn from: softmax(logits / temperature), cut to the top_k
// most likely characters (ties broken by the lower index), then to the smallest set of most
// likely ones whose probability reaches top_p, renormalised. Temperature 0 puts all the mass on
// the first maximum.
std::vector<double> sampling_distribution(const float* logits, std::size_t n,
                                          const SamplingOptions& options);

// One character drawn from sampling_distribution with one gen.uniform() (none when greedy).
std::size_t sample_token(const float* logits, std::size_t n, const SamplingOptions& options,
                         Generator& gen);

// The `length` characters that follow `prompt` (UTF-8): the prompt is read in one pass from a
// zero state, then each drawn character is fed back one step at a time with the LSTM states
// carried, without recording gradients and in evaluation mode (the model's mode is restored).
// An empty prompt starts from a newline (the start of a line) when the vocabulary has one. A
// prompt character outside the vocabulary is a tg::Error naming it, starting with `what`.
std::string generate(BabyLM& model, const Vocabulary& vocab, const std::string& prompt,
                     std::size_t length, const SamplingOptions& options, Generator& gen,
                     const std::string& what = "--prompt");

// Words (separated by spaces and newlines) of prompt + continuation that hold at least one
// generated character, without a last word cut off by the length limit, and how many of them
// are in `known` (sorted, as corpus_words gives).
struct WordCount {
  std::size_t known = 0;
  std::size_t total = 0;
};
WordCount count_known_words(std::u32string_view prompt, std::u32string_view continuation,
                            const std::vector<std::string>& known);

// Text on one line for logs: newlines shown as " | ".
std::string one_line(const std::string& text);

}  // namespace tg::baby_lm
