// seq2seq the program: a small run end to end (loss falls, eval and translate from the
// checkpoint), --help, and the bad-input table: each refusal is one line on stderr and exit
// code 2, with nothing written; characters outside the alphabet and empty sources are warnings.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <map>

#include <tapegrad/train/checkpoint.hpp>
#include <tapegrad/train/files.hpp>

#include "seq2seq/commands.hpp"
#include "seq2seq/dates.hpp"
#include "test_support.hpp"

namespace fs = std::filesystem;
using namespace tg;
using namespace tg::examples::seq2seq;
using namespace tg::testing;

namespace {

RunResult run_seq2seq(const std::string& args, const fs::path& dir) {
  return run_shell(shell_quote(SEQ2SEQ_EXE) + " " + args, dir);
}

// An untrained model's checkpoint, for the commands that read one.
void write_untrained_checkpoint(const fs::path& path) {
  const PairSplit split = generate_dates(3, {200, 20, 20});
  std::vector<std::string> sources, targets;
  for (const Pair& p : split.train) sources.push_back(p.source), targets.push_back(p.target);
  ModelConfig c;
  c.embedding = c.hidden = 8;
  c.decoder_hidden = 16;
  c.max_output = 12;
  c.source = Alphabet::of(sources, kSourceReserved);
  c.target = Alphabet::of(targets, kTargetReserved);
  Generator gen(1);
  Seq2Seq model(c, gen);
  tg::train::save_checkpoint(path.string(), model, nullptr, nullptr, {kExampleName, to_meta(c)});
}

// Runs `args` in a folder holding an earlier run ("old") and the test inputs; train commands
// write into the old run with --overwrite, the strongest invitation to damage it.
void check_refused(const std::string& args, const std::string& needle) {
  TempDir dir;
  fs::create_directory(dir.path / "old");
  write_text(dir.path / "old" / "model.npz", "an earlier run's checkpoint");
  write_untrained_checkpoint(dir.path / "model.npz");
  write_text(dir.path / "no_tab.tsv", "3 March 1999\t1999-03-03\n03/03/99 1999-03-03\n");
  write_text(dir.path / "empty_source.tsv", "3 March 1999\t1999-03-03\n\t1999-03-04\n");
  write_text(dir.path / "empty_target.tsv", "3 March 1999\t\n");
  write_text(dir.path / "four_fields.tsv", "a\tb\tc\td\n");
  write_text(dir.path / "blank.tsv", "\n  \n");
  write_text(dir.path / "two.tsv", "a\tb\nc\td\n");
  write_text(dir.path / "latin1.tsv", "caf\xe9\tcafe\n");
  write_text(dir.path / "long.tsv", std::string(300, 'x') + "\ty\n");
  fs::create_directory(dir.path / "folder");
  const auto before = snapshot(dir.path);
  const bool train = args.rfind("train", 0) == 0;
  const RunResult r = run_seq2seq(args + (train ? " --out old --overwrite --threads 1" : ""), dir.path);
  INFO(args << "\nstdout: " << r.out << "\nstderr: " << r.err);
  CHECK(r.code == 2);
  CHECK_THAT(r.err, Catch::StartsWith("seq2seq: error: ") && Catch::Contains(needle) &&
                        Catch::EndsWith("\n"));
  CHECK(std::count(r.err.begin(), r.err.end(), '\n') == 1);
  CHECK(snapshot(dir.path) == before);
}

}  // namespace

#define REFUSED(args, needle) \
  TEST_CASE("seq2seq refuses: " args, "[seq2seq][refusals]") { check_refused(args, needle); }

REFUSED("train --data missing.tsv", "missing.tsv")
REFUSED("train --data folder", "is a folder")
REFUSED("train --data no_tab.tsv", "no_tab.tsv:2: no tab")
REFUSED("train --data empty_source.tsv", "empty_source.tsv:2: the source is empty")
REFUSED("train --data empty_target.tsv", "empty_target.tsv:1: the target is empty")
REFUSED("train --data four_fields.tsv", "four_fields.tsv:1: 4 tab-separated fields")
REFUSED("train --data blank.tsv", "holds no pairs")
REFUSED("train --data two.tsv", "too few")
REFUSED("train --data latin1.tsv", "latin1.tsv:1: not valid UTF-8")
REFUSED("train --data long.tsv", "long.tsv:1: a text of 300 bytes")
REFUSED("train --lr nan", "--lr: must be a number")
REFUSED("train --hidden 0", "--hidden: must be an integer in [1, 4096]")
REFUSED("train --cell rnn", "--cell")
REFUSED("train --beam 0", "--beam")
REFUSED("train --train-size -5", "--train-size")
REFUSED("translate --checkpoint model.npz ''", "nothing to translate")
REFUSED("translate --checkpoint missing.npz 03/03/99", "missing.npz")
REFUSED("translate --checkpoint old/model.npz 03/03/99", "old/model.npz")
REFUSED("translate --checkpoint model.npz --beam 0 03/03/99", "--beam")
REFUSED("translate --checkpoint model.npz", "sources")
REFUSED("eval --checkpoint model.npz", "test.tsv")
REFUSED("eval --checkpoint model.npz --data no_tab.tsv", "no tab")

TEST_CASE("seq2seq refuses: translate of a 300-byte source", "[seq2seq][refusals]") {
  check_refused("translate --checkpoint model.npz " + std::string(300, 'x'), "at most 200");
}

TEST_CASE("seq2seq translate: unknown characters and empty sources are warnings", "[seq2seq][refusals]") {
  TempDir dir;
  write_untrained_checkpoint(dir.path / "model.npz");
  const RunResult r =
      run_seq2seq("translate --checkpoint model.npz '3 M\xc3\xa4r 1999' '' 03/03/99", dir.path);
  INFO(r.out << r.err);
  CHECK(r.code == 0);
  CHECK_THAT(r.err, Catch::Contains("seq2seq: warning: '3 M\xc3\xa4r 1999': '\xc3\xa4' not in the "
                                    "model's alphabet") &&
                        Catch::Contains("seq2seq: warning: an empty source; skipped"));
  const std::vector<std::string> lines = [&] {
    std::vector<std::string> out;
    std::size_t start = 0;
    for (std::size_t nl; (nl = r.out.find('\n', start)) != std::string::npos; start = nl + 1)
      out.push_back(r.out.substr(start, nl - start));
    return out;
  }();
  REQUIRE(lines.size() == 2);
  CHECK_THAT(lines[0], Catch::StartsWith("3 M\xc3\xa4r 1999\t"));
  CHECK_THAT(lines[1], Catch::StartsWith("03/03/99\t"));
}

TEST_CASE("seq2seq --help documents every flag", "[seq2seq]") {
  TempDir dir;
  for (const char* cmd : {"train", "eval", "translate"}) {
    const RunResult r = run_seq2seq(std::string(cmd) + " --help", dir.path);
    INFO(r.out << r.err);
    CHECK(r.code == 0);
    CHECK_THAT(r.out, Catch::Contains("--threads") && Catch::Contains("Examples:"));
  }
  const RunResult train = run_seq2seq("train --help", dir.path);
  for (const char* flag : {"--data", "--train-size", "--cell", "--hidden", "--decoder-hidden",
                           "--lr", "--clip", "--patience", "--time-limit", "--beam", "--seed",
                           "--out", "--overwrite"})
    CHECK_THAT(train.out, Catch::Contains(flag));
}

TEST_CASE("seq2seq end to end: a small run learns, eval and translate read its checkpoint",
          "[seq2seq][e2e]") {
  TempDir dir;
  const RunResult train = run_seq2seq(
      "train --train-size 800 --val-size 50 --test-size 50 --embedding 16 --hidden 32 "
      "--decoder-hidden 48 --epochs 3 --patience 0 --beam 3 --threads 1 --out run",
      dir.path);
  INFO(train.out << train.err);
  REQUIRE(train.code == 0);
  for (const char* file : {"model.npz", "metrics.csv", "curves.svg", "report.txt", "train.tsv",
                           "validation.tsv", "test.tsv", "attention_1.svg"})
    CHECK(fs::exists(dir.path / "run" / file));
  CHECK_THAT(train.out, Catch::Contains("exact match greedy") && Catch::Contains("beam 3") &&
                            Catch::Contains("exact match per group"));
  // The training loss falls from epoch to epoch (metrics.csv: epoch,steps,lr,train_loss,...).
  const std::vector<std::string> rows = tg::train::read_lines(dir.path / "run" / "metrics.csv");
  REQUIRE(rows.size() >= 3);
  const auto loss = [&](std::size_t row) {
    std::string cells = rows[row];
    for (int i = 0; i < 3; ++i) cells = cells.substr(cells.find(',') + 1);
    return std::stod(cells.substr(0, cells.find(',')));
  };
  CHECK(loss(2) < 0.8 * loss(1));
  CHECK(loss(rows.size() - 1) < loss(1));
  // The parts written to the run folder are disjoint by date.
  const std::vector<Pair> train_pairs = read_pairs(dir.path / "run" / "train.tsv");
  const std::vector<Pair> test_pairs = read_pairs(dir.path / "run" / "test.tsv");
  CHECK(train_pairs.size() == 800);
  CHECK(test_pairs.size() == 50);

  const RunResult eval = run_seq2seq("eval --checkpoint run/model.npz --beam 2", dir.path);
  INFO(eval.out << eval.err);
  CHECK(eval.code == 0);
  CHECK_THAT(eval.out, Catch::Contains("test.tsv: 50 pairs; exact match greedy"));

  // translate prints what eval's greedy decoding gives for the same sources.
  const RunResult translate = run_seq2seq(
      "translate --checkpoint run/model.npz " + shell_quote(test_pairs[0].source) + " " +
          shell_quote(test_pairs[1].source),
      dir.path);
  INFO(translate.out << translate.err);
  CHECK(translate.code == 0);
  CHECK(translate.err.empty());
  CHECK_THAT(translate.out, Catch::StartsWith(test_pairs[0].source + "\t") &&
                                Catch::Contains("\n" + test_pairs[1].source + "\t"));
  // The same run again into the same folder is refused without --overwrite.
  const RunResult again = run_seq2seq("train --epochs 1 --train-size 50 --out run", dir.path);
  CHECK(again.code == 2);
  CHECK_THAT(again.err, Catch::Contains("--overwrite"));
}

TEST_CASE("seq2seq --time-limit: training stops at the budget with the best validation's weights",
          "[seq2seq][e2e]") {
  TempDir dir;
  const RunResult train = run_seq2seq(
      "train --train-size 3000 --val-size 100 --test-size 20 --embedding 8 --hidden 8 "
      "--decoder-hidden 16 --epochs 1000 --patience 0 --time-limit 1 --beam 1 --threads 1 --out run",
      dir.path);
  INFO(train.out << train.err);
  REQUIRE(train.code == 0);
  // One line says why it stopped and which weights it kept.
  CHECK_THAT(train.out, Catch::Contains("stopped by time limit; best validation exact match ") &&
                            Catch::Contains("whose weights are kept"));
  // metrics.csv: epoch,steps,lr,train_loss,val_exact_match,epoch_seconds,elapsed_seconds,...
  const std::vector<std::string> rows = tg::train::read_lines(dir.path / "run" / "metrics.csv");
  REQUIRE(rows.size() >= 2);
  const auto cell = [&](std::size_t row, int column) {
    std::string cells = rows[row];
    for (int i = 0; i < column; ++i) cells = cells.substr(cells.find(',') + 1);
    return std::stod(cells.substr(0, cells.find(',')));
  };
  CHECK(cell(rows.size() - 1, 6) >= 1.0);
  CHECK(cell(rows.size() - 1, 6) < 30.0);
  CHECK(cell(rows.size() - 1, 0) < 1000);
  double best = -1;
  for (std::size_t row = 1; row < rows.size(); ++row) best = std::max(best, cell(row, 4));
  // The checkpoint holds the best validation's weights: evaluated on the validation part, it
  // scores what that epoch scored.
  const RunResult eval =
      run_seq2seq("eval --checkpoint run/model.npz --data run/validation.tsv --beam 1", dir.path);
  INFO(eval.out << eval.err);
  REQUIRE(eval.code == 0);
  char expected[64];
  std::snprintf(expected, sizeof expected, "100 pairs; exact match greedy %.2f%% (%ld wrong)",
                100 * best, std::lround(100 * (1 - best)));
  CHECK_THAT(eval.out, Catch::Contains(expected));
}
