// What a resume checks before it continues a run: the same data (its source and fingerprint),
// the same settings, a folder that holds a save, a folder no other run holds; each refusal is
// one line, exit 2, with nothing in the run folder changed.
#include <catch2/catch.hpp>

#include <signal.h>
#include <unistd.h>

#include <filesystem>
#include <map>
#include <string>

#include "tapegrad/nn/npz.hpp"
#include "tapegrad/train/files.hpp"
#include "test_support.hpp"

namespace fs = std::filesystem;
using namespace tg::testing;

namespace {

// Three languages of the shipped names, copied so that a test may edit them.
void copy_names(const fs::path& to) {
  fs::create_directories(to);
  for (const char* language : {"English.txt", "French.txt", "German.txt"})
    fs::copy_file(fs::path(TAPEGRAD_SOURCE_DIR) / "data/names" / language, to / language);
}

const std::string kNames = std::string(NAME_LANGUAGE_BIN) +
                           " train --threads 1 --data names --epochs 3 --hidden 8 --embedding 4 "
                           "--batch 16 --seed 1";

// The files of a run folder but its lock (which holds the pid of the last process to take it).
std::map<std::string, std::string> run_files(const fs::path& dir) {
  auto files = snapshot(dir);
  files.erase(".lock");
  return files;
}

// A name_language run into <dir>/run stopped by SIGTERM at batch 1 of epoch 2.
void start_and_stop(const fs::path& dir) {
  const RunResult stopped = run_shell("TAPEGRAD_RAISE_SIGNAL=TERM:2:1 " + kNames + " --out run", dir);
  INFO(stopped.err);
  REQUIRE(stopped.code == 128 + SIGTERM);
}

}  // namespace

TEST_CASE("resume refuses data that changed since the run started, unless --allow-data-change",
          "[resume][name_language]") {
  TempDir dir;
  copy_names(dir.path / "names");
  start_and_stop(dir.path);
  const auto saved = run_files(dir.path / "run");

  SECTION("another folder of the same relative name") {
    fs::create_directories(dir.path / "elsewhere");
    copy_names(dir.path / "elsewhere" / "names");
    const RunResult r = run_shell(std::string(NAME_LANGUAGE_BIN) + " train --resume ../run",
                                  dir.path / "elsewhere");
    CHECK(r.code == 2);
    const std::string expected =
        "name_language: error: run folder '../run': the data source differs from the run's: " +
        (dir.path / "elsewhere" / "names").string() + " now, " +
        (dir.path / "names").string() +
        " when it started; resume on the same data, or pass --allow-data-change to train on it\n";
    CHECK(r.err == expected);
  }
  SECTION("names added to a file") {
    std::string english = read_text(dir.path / "names" / "English.txt");
    write_text(dir.path / "names" / "English.txt", english + "Zzyxwort\nQuibbleton\n");
    const RunResult r = run_shell(std::string(NAME_LANGUAGE_BIN) + " train --resume run", dir.path);
    CHECK(r.code == 2);
    CHECK_THAT(r.err, Catch::StartsWith("name_language: error: run folder 'run': the data differs "
                                        "from the run's: ") &&
                          Catch::Contains(" names in 3 languages, fingerprint ") &&
                          Catch::EndsWith("pass --allow-data-change to train on it\n"));
    CHECK(occurrences(r.err, "\n") == 1);
    CHECK(run_files(dir.path / "run") == saved);  // split.csv, resume.npz, metrics untouched

    // Allowed: a warning, and the interrupted epoch starts again on the new data.
    const RunResult allowed = run_shell(
        std::string(NAME_LANGUAGE_BIN) + " train --resume run --allow-data-change", dir.path);
    INFO(allowed.err);
    CHECK(allowed.code == 0);
    CHECK_THAT(allowed.err, Catch::Contains("warning: run folder 'run': the data differs") &&
                                Catch::Contains("training on it (--allow-data-change), the "
                                                "interrupted epoch from its start"));
  }
  SECTION("the same data resumes") {
    const RunResult r = run_shell(std::string(NAME_LANGUAGE_BIN) + " train --resume run", dir.path);
    INFO(r.err);
    CHECK(r.code == 0);
    CHECK(r.err.find("warning") == std::string::npos);
  }
}

TEST_CASE("resume refuses settings other than the run's (a build with other defaults)",
          "[resume][name_language]") {
  TempDir dir;
  copy_names(dir.path / "names");
  start_and_stop(dir.path);
  const fs::path resume_file = dir.path / "run" / "resume.npz";
  const std::string resume = std::string(NAME_LANGUAGE_BIN) + " train --resume run";

  SECTION("a value, a setting gone and a setting new: each named, nothing changed") {
    // As if an older build had started the run: --hidden 16 where this one replays 8, a
    // --gone this build lacks, no --ngrams.
    tg::nn::Archive archive = tg::nn::load_npz(resume_file.string());
    REQUIRE(archive.strings.at("setting.--hidden") == "8");
    REQUIRE(archive.strings.count("setting.--ngrams") == 1);
    archive.strings["setting.--hidden"] = "16";
    archive.strings["setting.--gone"] = "1";
    archive.strings.erase("setting.--ngrams");
    tg::nn::save_npz(resume_file.string(), archive);
    const auto saved = run_files(dir.path / "run");
    const RunResult r = run_shell(resume, dir.path);
    CHECK(r.code == 2);
    CHECK(r.err == "name_language: error: run folder 'run' would resume with other settings than "
                   "it started with (--gone 1 when it started, none now; --hidden 16 when it "
                   "started, 8 now; --ngrams none when it started, 5 now): defaults differ "
                   "between builds, and some between machines; resume it with the build and on "
                   "the kind of machine that started it, or start a new run\n");
    CHECK(run_files(dir.path / "run") == saved);
  }
  SECTION("a run saved without settings resumes, with a warning") {
    tg::nn::Archive archive = tg::nn::load_npz(resume_file.string());
    for (auto it = archive.strings.begin(); it != archive.strings.end();)
      it = it->first.rfind("setting.", 0) == 0 ? archive.strings.erase(it) : std::next(it);
    tg::nn::save_npz(resume_file.string(), archive);
    const RunResult r = run_shell(resume, dir.path);
    INFO(r.err);
    CHECK(r.code == 0);
    CHECK_THAT(r.err, Catch::Contains("warning: run folder 'run' records no settings (an older "
                                      "build saved it): resumed with this build's, unchecked"));
  }
}

TEST_CASE("baby_lm --resume refuses an edited corpus", "[resume][baby_lm]") {
  TempDir dir;
  write_text(dir.path / "corpus.txt", read_text(fs::path(TAPEGRAD_SOURCE_DIR) / "data/baby/phrases.txt"));
  const std::string train = std::string(BABY_LM_EXE) +
                            " --threads 1 train --corpus corpus.txt --epochs 3 --units 8 --embed 4 "
                            "--batch 64 --seed 1 --patience 0";
  const RunResult stopped = run_shell("TAPEGRAD_RAISE_SIGNAL=INT:2:1 " + train + " --out run", dir.path);
  INFO(stopped.err);
  REQUIRE(stopped.code == 128 + SIGINT);
  write_text(dir.path / "corpus.txt", read_text(dir.path / "corpus.txt") + "me want more\n");
  const RunResult r = run_shell(std::string(BABY_LM_EXE) + " train --resume run", dir.path);
  CHECK(r.code == 2);
  CHECK_THAT(r.err, Catch::StartsWith("baby_lm: error: run folder 'run': the data differs from "
                                      "the run's: ") &&
                        Catch::Contains(" lines, ") && Catch::Contains(" characters, fingerprint "));
}

TEST_CASE("a run folder held by another run says so, whatever it holds", "[resume][run folder]") {
  TempDir dir;
  fs::create_directories(dir.path / "run");
  write_text(dir.path / "run" / "split.csv", "left by the other run\n");
  const tg::train::RunLock held(dir.path / "run");  // another run, in this test's process
  copy_names(dir.path / "names");
  for (const std::string flags : {"", " --overwrite"}) {
    INFO(flags);
    const RunResult r = run_shell(kNames + " --out run" + flags, dir.path);
    CHECK(r.code == 2);
    CHECK(r.err == "name_language: error: run folder 'run' is in use by another run (pid " +
                       std::to_string(::getpid()) +
                       "); wait for it to finish or choose another --out\n");
  }
  CHECK(read_text(dir.path / "run" / "split.csv") == "left by the other run\n");
}

TEST_CASE("a run killed during its first save: --resume says to start again, and a new run reuses "
          "the folder", "[resume][run folder]") {
  TempDir dir;
  copy_names(dir.path / "names");
  const RunResult nowhere = run_shell(std::string(NAME_LANGUAGE_BIN) + " train --resume run", dir.path);
  CHECK(nowhere.code == 2);
  CHECK(nowhere.err == "name_language: error: --resume: run folder 'run' does not exist (or is "
                       "not a folder)\n");
  // What a kill in the middle of the first resume.npz leaves: the lock and the save's temporary.
  fs::create_directories(dir.path / "run");
  write_text(dir.path / "run" / ".lock", "12345");
  write_text(dir.path / "run" / "resume.npz.tmp-12345-1", "PK\x03\x04 half a file");
  const RunResult resumed = run_shell(std::string(NAME_LANGUAGE_BIN) + " train --resume run", dir.path);
  CHECK(resumed.code == 2);
  CHECK(resumed.err == "name_language: error: --resume: run folder 'run' was stopped before its "
                       "first save, so there is nothing to resume; start the run again with this "
                       "folder as its run folder: it is reused as it is\n");
  const RunResult again = run_shell(kNames + " --out run", dir.path);
  INFO(again.err);
  CHECK(again.code == 0);
  CHECK_THAT(again.err, Catch::Contains("1 temporary file(s) left in 'run' by an interrupted save "
                                        "were removed"));
  CHECK_FALSE(fs::exists(dir.path / "run" / "resume.npz.tmp-12345-1"));
  CHECK(fs::exists(dir.path / "run" / "model.npz"));
}
