// The careless user's and the attacker's inputs of issue 18, one test each, against both example
// programs: each is refused before any work with exit code 2 and one line on stderr naming the
// problem, and nothing is written or overwritten.
#include <catch2/catch.hpp>

#include <algorithm>
#include <filesystem>
#include <chrono>
#include <map>
#include <tuple>

#include "tapegrad/nn/npz.hpp"
#include "test_support.hpp"

namespace fs = std::filesystem;
using namespace tg::testing;

namespace {

// Runs `program args` in a fresh folder that holds an earlier run ("old", a checkpoint and
// metrics) and the test corpora; `train` commands write into that old run with --overwrite, the
// strongest invitation to damage it. Checks the refusal and that no file changed.
void check_refused(const std::string& program, const std::string& args, const std::string& needle) {
  TempDir dir;
  fs::create_directory(dir.path / "old");
  write_text(dir.path / "old" / "model.npz", "an earlier run's checkpoint");
  write_text(dir.path / "old" / "metrics.csv", "epoch,loss\n1,0.5\n");
  write_text(dir.path / "no_newline.txt", "mama dada mama dada mama dada mama dada");
  write_text(dir.path / "short.txt", "ab\ncd\n");
  fs::create_directories(dir.path / "names");
  write_text(dir.path / "names" / "English.txt", "Smith\nJones\nBrown\nTaylor\n");
  write_text(dir.path / "names" / "French.txt", "Martin\nBernard\nDubois\nDurand\n");
  const auto before = snapshot(dir.path);
  const std::string exe = program == "baby_lm" ? BABY_LM_EXE : NAME_LANGUAGE_BIN;
  const bool train = args.rfind("train", 0) == 0;
  const RunResult r = run_shell(shell_quote(exe) + " " + args +
                                    (train ? " --out old --overwrite --threads 1" : ""),
                                dir.path);
  INFO(program << " " << args << "\nstdout: " << r.out << "\nstderr: " << r.err);
  CHECK(r.code == 2);
  CHECK_THAT(r.err, Catch::StartsWith(program + ": error: ") && Catch::Contains(needle) &&
                        Catch::EndsWith("\n"));
  CHECK(std::count(r.err.begin(), r.err.end(), '\n') == 1);
  CHECK(r.err.size() < 400);
  CHECK(snapshot(dir.path) == before);
}

}  // namespace

#define REFUSED(program, args, needle)                                      \
  TEST_CASE(program " " args, "[refusals][" program "]") {                  \
    check_refused(program, args, needle);                                   \
  }

// Non-finite numbers: NaN passes naive range checks and trains a NaN model.
REFUSED("baby_lm", "train --lr inf", "--lr: must be a number in (0, 10], got 'inf'")
REFUSED("baby_lm", "train --lr nan", "--lr: must be a number")
REFUSED("baby_lm", "train --clip nan", "--clip: must be a number in [0, 1e+09]")
REFUSED("baby_lm", "train --dropout nan", "--dropout: must be a number in [0, 1)")
REFUSED("baby_lm", "train --target-loss inf", "--target-loss")
REFUSED("baby_lm", "generate --checkpoint none.npz --temperature nan", "--temperature")
REFUSED("baby_lm", "generate --checkpoint none.npz --top-p nan", "--top-p")
REFUSED("name_language", "train --average nan", "--average: must be a number in [0, 0.99999]")
REFUSED("name_language", "train --lr inf --clip 0", "--lr: must be a number in (0, 10]")
REFUSED("name_language", "train --clip nan", "--clip: must be a number")
REFUSED("name_language", "train --weight-decay nan", "--weight-decay")
REFUSED("name_language", "train --lr-decay nan", "--lr-decay")
REFUSED("name_language", "train --momentum -inf", "--momentum")
REFUSED("name_language", "train --time-limit nan", "--time-limit")
REFUSED("name_language", "train --input-dropout 1", "--input-dropout: must be a number in [0, 0.99]")
REFUSED("name_language", "train --pooling attention", "--pooling")

// Negative numbers must not wrap in unsigned flags.
REFUSED("baby_lm", "generate --checkpoint none.npz --top-k -1", "--top-k: must be an integer")
REFUSED("baby_lm", "generate --checkpoint none.npz --length -1", "--length: must be an integer")
REFUSED("baby_lm", "train --patience -1", "--patience: must be an integer in [0, 100000]")
REFUSED("baby_lm", "train --seed=-5", "--seed: must be an integer")
REFUSED("baby_lm", "train --sample-length -1", "--sample-length")
REFUSED("baby_lm", "train --epochs -3", "--epochs")
REFUSED("name_language", "train --patience -1", "--patience: must be an integer")
REFUSED("name_language", "train --seed=-5", "--seed: must be an integer")
REFUSED("name_language", "train --batch -64", "--batch")
REFUSED("name_language", "predict --checkpoint none.npz --top -1 Smith", "--top")

// Absurd sizes: refused with the accepted range before anything is allocated.
REFUSED("baby_lm", "generate --checkpoint none.npz --length 1e9", "--length: must be an integer in [0, 1000000]")
REFUSED("baby_lm", "generate --checkpoint none.npz --length 1000000000", "--length")
REFUSED("baby_lm", "train --units 100000", "--units: must be an integer in [1, 4096]")
REFUSED("baby_lm", "train --layers 2000", "--layers")
REFUSED("baby_lm", "train --threads 100000", "--threads")
REFUSED("name_language", "train --hidden 20000", "--hidden: must be an integer in [1, 4096]")
REFUSED("name_language", "train --hidden 100000", "--hidden")
REFUSED("name_language", "train --embedding 99999999999999999999999", "--embedding")

// Only the precisions tapegrad has.
REFUSED("baby_lm", "train --precision fp16", "--precision: fp16 not in {auto,float32,bf16}")
REFUSED("name_language", "train --precision bfloat16", "--precision: bfloat16 not in")
// A schedule's flags: unknown names and values out of range, and a flag another schedule ignores.
REFUSED("baby_lm", "train --schedule step", "--schedule: step not in {constant,cosine,linear}")
REFUSED("baby_lm", "train --lr-floor 2", "--lr-floor: must be a number in [0, 1], got '2'")
REFUSED("name_language", "train --schedule cosine --lr-decay 0.9",
        "--lr-decay: applies to --schedule exponential only (the schedule is cosine)")
REFUSED("name_language", "train --schedule exponential --warmup 10",
        "--warmup: applies to --schedule constant, cosine or linear (the schedule is exponential)")
REFUSED("name_language", "train --lr-decay 0.9",
        "--lr-decay: applies to --schedule exponential only (the schedule is cosine)")
REFUSED("baby_lm", "train --lr-floor 0.05",
        "--lr-floor: applies to --schedule cosine or linear (the schedule is constant)")
REFUSED("baby_lm", "train --stateful --corpus short.txt --schedule constant --lr-floor 0.05",
        "--lr-floor: applies to --schedule cosine or linear (the schedule is constant)")

// Corpora that fail only after training (stateful without a newline) or leave an empty folder.
REFUSED("baby_lm", "train --stateful --corpus no_newline.txt --batch 2 --bptt 4",
        "the corpus has no newline")
REFUSED("baby_lm", "train --stateful --corpus short.txt", "too few")
REFUSED("baby_lm", "train --corpus short.txt", "short.txt")

// Memory estimates: sizes inside the flags' ranges can still need more memory than there is.
REFUSED("baby_lm", "train --units 4096 --layers 16", "needs about")
REFUSED("name_language", "train --hidden 4096 --layers 16", "needs about")

// One huge line in a names file would make training allocate gigabytes.
TEST_CASE("name_language train refuses a names file with a 1 MB line", "[refusals][name_language]") {
  TempDir dir;
  fs::create_directories(dir.path / "names");
  write_text(dir.path / "names" / "English.txt", "Smith\nJones\nBrown\n" + std::string(1000000, 'a') + "\n");
  write_text(dir.path / "names" / "French.txt", "Martin\nBernard\nDubois\n");
  const RunResult r = run_shell(shell_quote(NAME_LANGUAGE_BIN) + " train --data names --out run", dir.path);
  INFO(r.err);
  CHECK(r.code == 2);
  CHECK(r.err == "name_language: error: names/English.txt:4: a name of 1000000 bytes; names are at "
                 "most 100 (is this a names file?)\n");
  CHECK_FALSE(fs::exists(dir.path / "run"));
}

TEST_CASE("baby_lm train refuses a corpus line longer than 1 MiB", "[refusals][baby_lm]") {
  TempDir dir;
  write_text(dir.path / "c.txt", "me want\n" + std::string(2 << 20, 'a') + "\n");
  const RunResult r = run_shell(shell_quote(BABY_LM_EXE) + " train --corpus c.txt --out run", dir.path);
  CHECK(r.code == 2);
  CHECK(r.err == "baby_lm: error: c.txt:2: a line longer than 1048576 bytes (is this a text file?)\n");
  CHECK_FALSE(fs::exists(dir.path / "run"));
}

// A checkpoint whose metadata asks for 20000 layers is refused before any layer is built, in one
// short line (it took 134 s and printed a 300 kB line).
TEST_CASE("a checkpoint whose meta.layers was edited is refused at once", "[refusals]") {
  TempDir dir;
  RunResult r = run_shell(shell_quote(NAME_LANGUAGE_BIN) + " train --threads 1 --data " +
                              shell_quote(std::string(TAPEGRAD_SOURCE_DIR) + "/data/names") +
                              " --epochs 1 --hidden 8 --embedding 4 --out run",
                          dir.path);
  REQUIRE(r.code == 0);
  r = run_shell(shell_quote(BABY_LM_EXE) + " train --threads 1 --corpus " +
                    shell_quote(std::string(TAPEGRAD_SOURCE_DIR) + "/data/baby") +
                    " --epochs 1 --units 8 --embed 4 --out lm",
                dir.path);
  REQUIRE(r.code == 0);
  for (const std::string layers : {"2000", "20000"}) {
    for (const auto& [program, file, command] :
         {std::tuple<std::string, std::string, std::string>{NAME_LANGUAGE_BIN, "run/model.npz", "predict --checkpoint run/model.npz Smith"},
          {BABY_LM_EXE, "lm/model.npz", "generate --checkpoint lm/model.npz --seed 1"}}) {
      tg::nn::Archive a = tg::nn::load_npz((dir.path / file).string());
      a.strings["meta.layers"] = layers;
      tg::nn::save_npz((dir.path / ("bad_" + layers + ".npz")).string(), a);
      const std::string bad_command = command.substr(0, command.find("--checkpoint")) +
                                      "--checkpoint bad_" + layers + ".npz" +
                                      command.substr(command.find(".npz") + 4);
      const auto start = std::chrono::steady_clock::now();
      r = run_shell(shell_quote(program) + " " + bad_command, dir.path);
      const double seconds =
          std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      INFO(bad_command << ": " << r.err);
      CHECK(r.code == 2);
      CHECK_THAT(r.err, Catch::Contains("its metadata describes a model of") &&
                            Catch::Contains("damaged or edited"));
      CHECK(std::count(r.err.begin(), r.err.end(), '\n') == 1);
      CHECK(r.err.size() < 300);
      CHECK(seconds < 5);
    }
  }
}
