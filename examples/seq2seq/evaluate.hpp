// seq2seq evaluation: translating a part with greedy or beam decoding, exact match overall and
// per group, the most common errors, and attention heat maps.
#pragma once

#include <cstddef>
#include <filesystem>
#include <string>
#include <vector>

#include "seq2seq/model.hpp"
#include "seq2seq/pairs.hpp"

namespace tg::examples::seq2seq {

// Sources and targets as ids, in the order of the pairs.
struct EncodedPairs {
  std::vector<std::vector<std::int64_t>> sources;
  std::vector<std::vector<std::int64_t>> targets;  // each ends with kEnd
  std::size_t unknown_characters = 0;              // source characters outside the alphabet
  std::size_t size() const { return sources.size(); }
};
// tg::Error naming the part for an empty source or a target character outside the alphabet.
EncodedPairs encode_pairs(const std::vector<Pair>& pairs, const ModelConfig& config,
                          const std::string& part);

// Translations of `sources` (greedy when beam <= 1, in batches of `batch`; else beam search one
// source at a time), with their attention.
std::vector<Decoded> translate(Seq2Seq& model, const std::vector<std::vector<std::int64_t>>& sources,
                               std::size_t beam, std::size_t batch = 256);

struct Outcome {
  const Pair* pair = nullptr;
  std::string output;
  Decoded decoded;
  bool correct() const { return output == pair->target; }
};

struct Evaluation {
  std::vector<Outcome> outcomes;
  double exact_match() const;  // share of outputs equal to their target
  std::size_t errors() const;
};

// Translates every pair of `pairs` (encoded as `encoded`) and compares with the targets.
Evaluation evaluate(Seq2Seq& model, const std::vector<Pair>& pairs, const EncodedPairs& encoded,
                    std::size_t beam);

// The report a user reads: exact match (greedy, and beam when given), per group, the most common
// errors (the part of the output that differs from the target, with a count and an example) and
// a few translations.
std::string evaluation_report(const std::string& part, const Evaluation& greedy,
                              const Evaluation* beam, std::size_t beam_width);

// Heat maps of the attention of up to `count` outcomes (errors first, then the first others):
// <dir>/attention_<i>.svg, output characters down, source characters across. Returns the files.
std::vector<std::filesystem::path> write_attention_maps(const std::filesystem::path& dir,
                                                        const Evaluation& evaluation,
                                                        std::size_t count);

}  // namespace tg::examples::seq2seq
