// baby_lm's generate and eval subcommands, from a checkpoint alone.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>

#include "baby_lm/sample.hpp"

namespace tg::baby_lm {

struct GenerateOptions {
  std::string checkpoint;
  std::string prompt;  // empty: start a new line
  std::size_t length = 60;
  std::size_t num_samples = 1;
  SamplingOptions sampling;
  std::optional<std::uint64_t> seed;  // none: drawn at random and printed on stderr
};

// Prints num_samples texts (prompt + continuation), separated by blank lines.
int run_generate(const GenerateOptions& options);

struct EvalOptions {
  GenerateOptions generate;             // the samples whose words are checked
  std::filesystem::path corpus;         // empty: the corpus the checkpoint was trained on
};

// Prints the model's loss on the corpus (window mode: mean nats and accuracy over every window;
// stateful: bits per character) and the share of generated words that are words of the corpus.
int run_eval(const EvalOptions& options);

}  // namespace tg::baby_lm
