// seq2seq subcommands: train, eval and translate, as functions of their parsed arguments.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "common/program.hpp"
#include "common/run_flags.hpp"
#include "seq2seq/dates.hpp"
#include "seq2seq/model.hpp"
#include "seq2seq/train.hpp"

namespace tg::examples::seq2seq {

inline constexpr const char* kExampleName = "seq2seq";

struct TrainArgs {
  std::string data;  // empty: generated dates
  DateSetSizes sizes;
  std::string cell = "gru";
  std::size_t embedding = 32;
  std::size_t hidden = 64;
  std::size_t decoder_hidden = 128;
  TrainOptions train;
  std::size_t beam = 5;  // for the final test report
  std::uint64_t seed = 1;
  int threads = 0;
  // --out, --overwrite, --resume; a time budget by default, which keeps `seq2seq train` short.
  RunFlags run = [] {
    RunFlags flags;
    flags.time_limit = 170;
    return flags;
  }();
};

struct EvalArgs : CheckpointArgs {
  std::string data;  // empty: test.tsv beside the checkpoint
  std::size_t beam = 5;
};

struct TranslateArgs : CheckpointArgs {
  std::vector<std::string> sources;
  std::size_t beam = 1;
};

// A checkpoint of this example, rebuilt from its metadata and loaded.
std::unique_ptr<Seq2Seq> load_model(const std::string& path);

int run_train(const TrainArgs& args);
int run_eval(const EvalArgs& args);
int run_translate(const TranslateArgs& args);

// The whole program: parses argv (CLI11), runs one subcommand, turns errors into one line on
// stderr and exit code 2.
int seq2seq_main(int argc, char** argv);

}  // namespace tg::examples::seq2seq
