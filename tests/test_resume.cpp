// Resumable training, the three examples end to end: a run stopped by SIGINT or SIGTERM (saved
// where it stopped, in the middle of an epoch) or killed outright (resumed from the last epoch's
// end), then resumed, ends with the same checkpoint as a run never interrupted, bit for bit.
#include <catch2/catch.hpp>

#include <fmt/format.h>
#include <signal.h>
#include <unistd.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <vector>

#include "tapegrad/nn/npz.hpp"
#include "tapegrad/train/files.hpp"
#include "test_support.hpp"

namespace fs = std::filesystem;
using namespace tg;
using namespace tg::testing;

namespace {

// Every array and text entry of two checkpoints, bit for bit, but the training time.
void check_same_checkpoint(const fs::path& a_path, const fs::path& b_path) {
  const nn::Archive a = nn::load_npz(a_path.string()), b = nn::load_npz(b_path.string());
  REQUIRE(a.tensors.size() == b.tensors.size());
  for (const auto& [key, tensor] : a.tensors) {
    INFO(key);
    REQUIRE(b.tensors.count(key));
    const Tensor& other = b.tensors.at(key);
    REQUIRE(tensor.shape() == other.shape());
    REQUIRE(tensor.dtype() == other.dtype());
    if (tensor.dtype() == DType::Float64) {  // optimizer counters and scalars
      const auto& x = tensor.value<double>();
      CHECK(std::memcmp(x.data(), other.value<double>().data(), x.size() * sizeof(double)) == 0);
    } else {
      const auto& x = tensor.value<float>();
      CHECK(std::memcmp(x.data(), other.value<float>().data(), x.size() * sizeof(float)) == 0);
    }
  }
  CHECK(a.integers.size() == b.integers.size());
  for (const auto& [key, text] : a.strings) {
    INFO(key);
    if (key != "meta.train_seconds") CHECK(b.strings.at(key) == text);
  }
}

std::size_t line_count(const fs::path& path) {
  std::error_code ec;
  if (!fs::exists(path, ec)) return 0;
  const std::string text = read_text(path);
  return static_cast<std::size_t>(std::count(text.begin(), text.end(), '\n'));
}

const char* signal_word(int signal) {
  return signal == SIGINT ? "INT" : signal == SIGTERM ? "TERM" : "KILL";
}

// Uninterrupted run into u/, the same run into i/ stopped by `signal` at batch 1 of epoch `epoch`
// (the program sends it to itself there: TAPEGRAD_RAISE_SIGNAL) and resumed: the same model.npz
// and metrics (the measured times aside).
void check_resume(const std::string& program, const std::string& exe, const std::string& args,
                  std::size_t epoch, int signal, std::size_t exact_columns) {
  TempDir dir;
  const RunResult whole = run_shell(shell_quote(exe) + " " + args + " --out u", dir.path);
  INFO(whole.err);
  REQUIRE(whole.code == 0);
  const RunResult stopped =
      run_shell(fmt::format("TAPEGRAD_RAISE_SIGNAL={}:{}:1 ", signal_word(signal), epoch) +
                    shell_quote(exe) + " " + args + " --out i",
                dir.path);
  INFO(stopped.err);
  REQUIRE(stopped.code == 128 + signal);  // (the shell's code for a process killed by SIGKILL)
  if (signal != SIGKILL) {
    // One line, the state saved, the command to continue.
    CHECK(stopped.err == fmt::format("{}: interrupted: SIG{} during epoch {}; the run is saved at "
                                     "batch 1 of epoch {}; resume with: {} train --resume 'i'\n",
                                     program, signal_word(signal), epoch, epoch, program));
    // Saved where it stopped, in the middle of the epoch: the resumed run continues that epoch
    // from the same batch rather than doing it again.
    const nn::Archive saved = nn::load_npz((dir.path / "i" / "resume.npz").string());
    CHECK(saved.contains("partial.epoch"));
    CHECK(saved.contains("partial.next_batch"));
    for (const auto& e : fs::directory_iterator(dir.path / "i"))
      CHECK_FALSE(tg::train::is_temporary_file(e.path().filename().string()));
  }
  CHECK(fs::exists(dir.path / "i" / "resume.npz"));

  if (signal == SIGKILL) {
    // A copy whose saved weights turned NaN: resuming refuses them as they are loaded, with a
    // message naming the file and the tensor and exit 2, and the good model.npz it had is not
    // replaced.
    fs::copy(dir.path / "i", dir.path / "nan", fs::copy_options::recursive);
    fs::remove(dir.path / "nan" / ".lock");
    nn::Archive state = nn::load_npz((dir.path / "nan" / "resume.npz").string());
    for (auto& [key, tensor] : state.tensors)
      if (key.rfind("model.", 0) == 0 && tensor.dtype() == DType::Float32)
        tensor.mutable_value<float>().data()[0] = std::nanf("");
    nn::save_npz((dir.path / "nan" / "resume.npz").string(), state);
    const bool had_model = fs::exists(dir.path / "nan" / "model.npz");
    const std::string model = had_model ? read_text(dir.path / "nan" / "model.npz") : "";
    const RunResult diverged = run_shell(shell_quote(exe) + " train --resume nan", dir.path);
    INFO(diverged.out << diverged.err);
    CHECK(diverged.code == 2);
    CHECK_THAT(diverged.err, Catch::Contains(program + ": error: nan/resume.npz: ") &&
                                 Catch::Matches(".*: model\\.[a-z0-9_.]+\\[0\\] is nan\n"));
    CHECK(fs::exists(dir.path / "nan" / "model.npz") == had_model);
    if (had_model) CHECK(read_text(dir.path / "nan" / "model.npz") == model);
  }
  CHECK(line_count(dir.path / "i" / "metrics.csv") < line_count(dir.path / "u" / "metrics.csv"));

  const RunResult resumed = run_shell(shell_quote(exe) + " train --resume i", dir.path);
  INFO(resumed.out << resumed.err);
  REQUIRE(resumed.code == 0);
  check_same_checkpoint(dir.path / "u" / "model.npz", dir.path / "i" / "model.npz");
  // metrics.csv continued, not restarted: the same rows; the columns before the timings exact.
  const auto u = tg::train::read_lines(dir.path / "u" / "metrics.csv");
  const auto i = tg::train::read_lines(dir.path / "i" / "metrics.csv");
  REQUIRE(u.size() == i.size());
  const auto leading = [&](const std::string& line) {
    std::size_t end = 0;
    for (std::size_t c = 0; c < exact_columns && end != std::string::npos; ++c)
      end = line.find(',', end + (c ? 1 : 0));
    return line.substr(0, end);
  };
  for (std::size_t k = 0; k < u.size(); ++k) CHECK(leading(u[k]) == leading(i[k]));

  // A finished run is not resumed again; --resume takes no other flag.
  const RunResult again = run_shell(shell_quote(exe) + " train --resume i", dir.path);
  CHECK(again.code == 2);
  CHECK_THAT(again.err, Catch::Contains("has finished"));
  const RunResult extra = run_shell(shell_quote(exe) + " train --resume i --epochs 3", dir.path);
  CHECK(extra.code == 2);
  CHECK_THAT(extra.err, Catch::Contains("give only `train --resume RUN`"));
}

const std::string kBabyArgs =
    "--threads 1 train --corpus " + std::string(TAPEGRAD_SOURCE_DIR) +
    "/data/baby --epochs 12 --units 16 --embed 8 --batch 64 --seed 3 --patience 0";
const std::string kNamesArgs = "train --threads 1 --data " + std::string(TAPEGRAD_SOURCE_DIR) +
                               "/data/names --epochs 40 --hidden 16 --embedding 8 --layers 2 "
                               "--patience 0 --seed 2 --optimizer sgd";

}  // namespace

TEST_CASE("baby_lm: SIGINT saves, --resume ends bit for bit as an uninterrupted run",
          "[resume][baby_lm]") {
  check_resume("baby_lm", BABY_LM_EXE, kBabyArgs, 4, SIGINT, 4);
}

TEST_CASE("baby_lm: killed outright, --resume ends bit for bit as an uninterrupted run",
          "[resume][baby_lm]") {
  check_resume("baby_lm", BABY_LM_EXE, kBabyArgs, 5, SIGKILL, 4);
}

TEST_CASE("baby_lm --stateful: SIGINT saves, --resume ends bit for bit as an uninterrupted run",
          "[resume][baby_lm]") {
  check_resume("baby_lm", BABY_LM_EXE,
               "--threads 1 train --corpus " + std::string(TAPEGRAD_SOURCE_DIR) +
                   "/data/baby --stateful --epochs 10 --units 16 --embed 8 --batch 8 --bptt 16 "
                   "--seed 4 --patience 0 --sample-length 10",
               4, SIGINT, 7);
}

TEST_CASE("name_language: SIGTERM saves, --resume ends bit for bit as an uninterrupted run",
          "[resume][name_language]") {
  check_resume("name_language", NAME_LANGUAGE_BIN, kNamesArgs, 6, SIGTERM, 8);
}

TEST_CASE("name_language: killed outright, --resume ends bit for bit as an uninterrupted run",
          "[resume][name_language]") {
  check_resume("name_language", NAME_LANGUAGE_BIN, kNamesArgs, 8, SIGKILL, 8);
}

namespace {

const std::string kSeq2SeqArgs =
    "train --threads 1 --train-size 600 --val-size 40 --test-size 40 --embedding 8 --hidden 8 "
    "--decoder-hidden 16 --epochs 8 --patience 0 --time-limit 0 --beam 1 --seed 2";

}  // namespace

TEST_CASE("seq2seq: SIGINT saves, --resume ends bit for bit as an uninterrupted run",
          "[resume][seq2seq]") {
  check_resume("seq2seq", SEQ2SEQ_EXE, kSeq2SeqArgs, 4, SIGINT, 5);
}

TEST_CASE("seq2seq: killed outright, --resume ends bit for bit as an uninterrupted run",
          "[resume][seq2seq]") {
  check_resume("seq2seq", SEQ2SEQ_EXE, kSeq2SeqArgs, 6, SIGKILL, 5);
}
