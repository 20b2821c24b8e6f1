// baby_lm the program: training, generation and evaluation run end to end, bad input, --help,
// and the quality bar on the seed's phrases.
#include <catch2/catch.hpp>

#include <algorithm>
#include <filesystem>
#include <regex>

#include "tapegrad/autograd/blas.hpp"
#include "tapegrad/train/checkpoint.hpp"
#include "tapegrad/train/files.hpp"
#include "baby_lm/model.hpp"
#include "skip.hpp"
#include "test_support.hpp"

namespace fs = std::filesystem;
using namespace tg;
using namespace tg::baby_lm;
using namespace tg::testing;

namespace {

const fs::path kSeedCorpus = fs::path(TAPEGRAD_SOURCE_DIR) / "../shared/data/baby/phrases.txt";
const fs::path kShippedCorpus = fs::path(TAPEGRAD_SOURCE_DIR) / "data/baby/phrases.txt";

RunResult run_baby_lm(const std::string& args, const fs::path& dir) {
  return run_shell(shell_quote(BABY_LM_EXE) + " " + args, dir);
}

void check_one_line_error(const RunResult& r, const std::string& needle) {
  INFO(r.err);
  CHECK(r.code == 2);
  CHECK_THAT(r.err, Catch::StartsWith("baby_lm: error: ") && Catch::Contains(needle) &&
                        Catch::EndsWith("\n"));
  CHECK(std::count(r.err.begin(), r.err.end(), '\n') == 1);
}

}  // namespace

TEST_CASE("end to end: train briefly, generate twice with the same seed", "[baby_lm][e2e]") {
  TempDir dir;
  const std::string corpus = (fs::path(TAPEGRAD_SOURCE_DIR) / "data/baby").string();
  RunResult train = run_baby_lm("--threads 1 train --corpus '" + corpus + "' --epochs 2 --out run", dir.path);
  INFO(train.out << train.err);
  REQUIRE(train.code == 0);
  CHECK_THAT(train.out, Catch::Contains("Total params: 219,548") &&
                            Catch::Contains("epoch 2/2") && Catch::Contains("windows/s") &&
                            Catch::Contains("T=1.5  me see"));
  for (const char* file : {"model.npz", "metrics.csv", "loss.svg"})
    CHECK(fs::exists(dir.path / "run" / file));
  CHECK(tg::train::read_lines(dir.path / "run" / "metrics.csv").size() == 3);
  // By default every step of a window is trained: the top LSTM returns all steps.
  CHECK_THAT(train.out, Catch::Contains("lstm2 (LSTM)      [32,15,128]") &&
                            Catch::Contains("last step "));

  // The seed's literal training; run twice into one folder, --overwrite starts metrics afresh.
  for (int i = 0; i < 2; ++i) {
    const RunResult seed = run_baby_lm("--threads 1 train --corpus '" + corpus +
                                           "' --epochs 1 --last-step-only --overwrite --out seed",
                                       dir.path);
    INFO(seed.out << seed.err);
    REQUIRE(seed.code == 0);
    CHECK_THAT(seed.out, Catch::Contains("lstm2 (LSTM)      [32,128]") &&
                             Catch::Contains("only the prediction after the whole window"));
  }
  CHECK(tg::train::read_lines(dir.path / "seed" / "metrics.csv").size() == 2);

  const std::string gen =
      "generate --checkpoint run/model.npz --prompt 'me want' --temperature 0.8 --length 60 "
      "--num-samples 2 --top-k 10 --top-p 0.95 --seed 7";
  const RunResult a = run_baby_lm(gen, dir.path), b = run_baby_lm(gen, dir.path);
  REQUIRE(a.code == 0);
  CHECK(a.err.empty());
  CHECK_THAT(a.out, Catch::StartsWith("me want"));
  CHECK(a.out.size() == 2 * (7 + 60 + 1) + 1);
  CHECK(a.out == b.out);
  const RunResult c = run_baby_lm("generate --checkpoint run/model.npz --prompt 'me' --seed 8", dir.path);
  CHECK(c.out != a.out);
  const RunResult random = run_baby_lm("generate --checkpoint run/model.npz --length 5", dir.path);
  CHECK(random.code == 0);
  CHECK_THAT(random.err, Catch::StartsWith("seed ") && Catch::Contains("--seed"));
  const RunResult eval = run_baby_lm("eval --checkpoint run/model.npz --num-samples 3 --seed 1", dir.path);
  CHECK(eval.code == 0);
  CHECK_THAT(eval.out, Catch::Contains("are words of the corpus") && Catch::Contains("accuracy"));

  // Bad input: one line naming the file or character, exit code 2.
  check_one_line_error(run_baby_lm("generate --checkpoint run/model.npz --prompt 'me want Pizza'",
                                   dir.path),
                       "'P'");
  check_one_line_error(run_baby_lm("train --corpus nowhere.txt", dir.path), "nowhere.txt");
  write_text(dir.path / "empty.txt", "");
  check_one_line_error(run_baby_lm("train --corpus empty.txt", dir.path), "empty.txt: empty corpus");
  const std::string bytes = tg::train::read_file(dir.path / "run" / "model.npz");
  write_text(dir.path / "cut.npz", bytes.substr(0, bytes.size() - 1000));
  check_one_line_error(run_baby_lm("generate --checkpoint cut.npz", dir.path), "cut.npz");
  {
    Generator g(0);
    ModelConfig tiny;
    tiny.vocab = tiny.embed = tiny.units = 3;
    BabyLM m(tiny, g);
    tg::train::save_checkpoint((dir.path / "names.npz").string(), m, nullptr, nullptr,
                               {"name_language", {}});
  }
  check_one_line_error(run_baby_lm("generate --checkpoint names.npz", dir.path),
                       "names.npz: this is a name_language checkpoint");
  check_one_line_error(run_baby_lm("generate", dir.path), "--checkpoint");
  check_one_line_error(run_baby_lm("train --out run --epochs 1", dir.path), "--overwrite");
  // A flag of the other training mode is refused, not ignored.
  check_one_line_error(run_baby_lm("train --stateful --window 10", dir.path),
                       "--window excludes --stateful");
  check_one_line_error(run_baby_lm("train --stateful --last-step-only", dir.path),
                       "--last-step-only excludes --stateful");
  check_one_line_error(run_baby_lm("train --bptt 32", dir.path), "--bptt requires --stateful");
}

TEST_CASE("train --precision bf16 trains and its BLAS line says which bf16 kernels ran",
          "[baby_lm][e2e]") {
  TempDir dir;
  const std::string corpus = (fs::path(TAPEGRAD_SOURCE_DIR) / "data/baby").string();
  const RunResult r = run_baby_lm("--threads 1 train --corpus '" + corpus +
                                      "' --epochs 1 --out run --precision bf16",
                                  dir.path);
  INFO(r.out << r.err);
  REQUIRE(r.code == 0);
  // The first line is the BLAS line, said inside the guard: "...; bf16 products: AMX (...)" or
  // "...; bf16 products: float32 fallback (...)", never "available, off".
  const std::string first = r.out.substr(0, r.out.find('\n'));
  CHECK_THAT(first, Catch::StartsWith("OpenBLAS kernel") &&
                        Catch::Contains("; bf16 products: " + blas::bf16_family()));
  CHECK(fs::exists(dir.path / "run" / "model.npz"));
}

TEST_CASE("--help documents every flag", "[baby_lm][e2e]") {
  TempDir dir;
  const RunResult train = run_baby_lm("train --help", dir.path);
  CHECK(train.code == 0);
  for (const char* flag : {"--corpus", "--out", "--overwrite", "--epochs", "--batch", "--lr",
                           "--window", "--embed", "--units", "--layers", "--dropout",
                           "--patience", "--clip", "--seed", "--stateful", "--bptt",
                           "--val-fraction", "--val-every", "--sample-prompt", "--sample-length",
                           "--target-loss", "--last-step-only", "--precision", "--resume",
                           "--time-limit"})
    CHECK_THAT(train.out, Catch::Contains(flag));
  const RunResult gen = run_baby_lm("generate --help", dir.path);
  CHECK(gen.code == 0);
  for (const char* flag : {"--checkpoint", "--prompt", "--temperature", "--length", "--top-k",
                           "--top-p", "--num-samples", "--seed"})
    CHECK_THAT(gen.out, Catch::Contains(flag));
  const RunResult top = run_baby_lm("--help", dir.path);
  CHECK_THAT(top.out, Catch::Contains("train") && Catch::Contains("generate") &&
                          Catch::Contains("--threads"));
}

TEST_CASE("a time limit ends training at its budget, in both modes, keeping the best weights",
          "[baby_lm][e2e]") {
  TempDir dir;
  const std::string corpus = (fs::path(TAPEGRAD_SOURCE_DIR) / "data/baby/phrases.txt").string();
  for (const std::string mode : {"", " --stateful --bptt 16"}) {
    INFO(mode);
    const RunResult r = run_baby_lm("--threads 1 train --corpus " + shell_quote(corpus) + mode +
                                        " --units 16 --embed 8 --epochs 100000 --time-limit 1 "
                                        "--patience 0 --overwrite --out run",
                                    dir.path);
    INFO(r.out << r.err);
    REQUIRE(r.code == 0);
    CHECK_THAT(r.out, Catch::Contains("time limit: training stopped after 1.") &&
                          Catch::Contains("the best weights are kept") &&
                          Catch::Contains("weights restored"));
    CHECK(tg::train::read_lines(dir.path / "run" / "metrics.csv").size() < 10000);
    CHECK(fs::exists(dir.path / "run" / "model.npz"));
    // A run that ended at its budget has finished.
    const RunResult again = run_baby_lm("train --resume run", dir.path);
    CHECK(again.code == 2);
    CHECK_THAT(again.err, Catch::Contains("has finished"));
  }
}

namespace {

// The issue's bar: at temperature 0.5, >= 90% of the words generated from "me want" (state
// carried, 100 samples of 60 characters) are corpus words, after `epochs` epochs at one thread.
void check_quality(const fs::path& corpus, int epochs) {
  TempDir dir;
  const RunResult train = run_baby_lm("--threads 1 train --corpus " + shell_quote(corpus.string()) +
                                          " --epochs " + std::to_string(epochs) + " --out run",
                                      dir.path);
  INFO(train.out << train.err);
  REQUIRE(train.code == 0);
  const RunResult eval =
      run_baby_lm("eval --checkpoint run/model.npz --temperature 0.5 --seed 1", dir.path);
  INFO(eval.out << eval.err);
  REQUIRE(eval.code == 0);
  std::smatch share;
  REQUIRE(std::regex_search(eval.out, share, std::regex(R"(\(([0-9.]+)%\) are words of the corpus)")));
  CHECK(std::stod(share[1]) >= 90.0);
}

}  // namespace

// The quality gate that runs everywhere: the shipped corpus (380 phrases, 50 of them "me want
// ..."). 6 epochs (about 10 s) give 95.3% here; 4 epochs gave 91.2%, too near the bar.
TEST_CASE("trained on the shipped phrases, it answers \"me want\" with corpus words",
          "[baby_lm][quality]") {
  check_quality(kShippedCorpus, 6);
}

// The same bar on the shared seed corpus (../shared), the issue's original data: 20 epochs (about
// 6 s at one thread) give 99.6% here; the full default run 100%. Skipped without ../shared.
TEST_CASE("trained on the seed's 130 phrases, it answers \"me want\" with corpus words",
          "[baby_lm][quality][shared]") {
  if (!fs::exists(kSeedCorpus))
    TG_SKIP(tg::testing::kNeedsShared, "seed corpus absent (" + kSeedCorpus.string() + ")");
  check_quality(kSeedCorpus, 20);
}
