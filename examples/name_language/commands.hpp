// name_language subcommands: train, eval and predict, as functions of their parsed arguments.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <tapegrad/train/checkpoint.hpp>

#include "common/program.hpp"
#include "common/run_flags.hpp"
#include "name_language/model.hpp"
#include "name_language/train.hpp"

namespace tg::examples::names {

inline constexpr const char* kExampleName = "name_language";

struct TrainArgs {
  std::string data;  // empty: data/names, or the source tree's copy when run from elsewhere
  std::string charset = "unicode";
  std::string split = "names";  // the unit of the train / validation / test split
  std::string model = "gru";
  std::size_t hidden = 128;
  std::size_t layers = 1;
  // Defaults measured on the full public set (17,994 pairs, 80/10/10 split by name, seeds 1-16):
  // test accuracy 81.9-85.6%, macro accuracy 53.3-61.5%, 50-54 s of training on 2 cores of a
  // Zen 3; bench/README.md, "name_language in 60 s".
  bool bidirectional = true;
  std::size_t embedding = 64;
  double dropout = 0.3;
  double input_dropout = 0.2;      // on the character embeddings
  std::string pooling = "concat";  // the final states beside the outputs' maximum and mean
  std::size_t ngrams = 5;             // the n-gram member's longest n-gram; 0: the GRU alone
  std::size_t ngram_buckets = 32749;  // rows of its hashed table
  double prior_shift = 0;             // answers divided by the training shares to this power
  std::string class_weights = "none";
  std::string sampling = "natural";
  double lr = 0;  // 0: the optimizer's default (default_lr)
  TrainOptions train;
  std::uint64_t seed = 1;
  int threads = 0;
  std::string precision = "float32";  // of the matrix products: float32 or bf16
  RunFlags run;  // --out, --overwrite, --resume, --time-limit
};

struct EvalArgs : CheckpointArgs {
  std::string data;  // empty: the folder recorded in the checkpoint
  std::string part = "test";
  std::optional<double> prior_shift;  // unset: the checkpoint's
};

struct PredictArgs : CheckpointArgs {
  std::vector<std::string> names;
  std::size_t top = 3;
  std::optional<double> prior_shift;  // unset: the checkpoint's
};

double default_lr(const std::string& optimizer);  // adam 2e-3, rmsprop 1e-3, sgd 0.05

// The data folder to use: `given`, or data/names, or (run from a build folder) the source
// tree's data/names.
std::string resolve_data_dir(const std::string& given);

// A checkpoint of this example, rebuilt from its metadata and loaded; `prior_shift`, when given,
// replaces the one it was trained with.
struct LoadedModel {
  tg::train::CheckpointMeta meta;
  std::unique_ptr<NameClassifier> model;
};
LoadedModel load_model(const std::string& path, std::optional<double> prior_shift = {});

int run_train(const TrainArgs& args);
int run_eval(const EvalArgs& args);
int run_predict(const PredictArgs& args);

// The whole program: parses argv (CLI11), runs one subcommand, turns errors into one line on
// stderr and exit code 2.
int name_language_main(int argc, char** argv);

}  // namespace tg::examples::names
