// The examples under mpirun: N processes on shares of each global batch train the model that one
// process trains on the whole batch; only rank 0 writes; an error on one rank ends them all.
#include <catch2/catch.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <set>
#include <string>
#include <thread>

#include "tapegrad/nn/npz.hpp"
#include "test_support.hpp"

namespace fs = std::filesystem;
using namespace tg;
using namespace tg::testing;

namespace {

const std::string kNames = std::string(TAPEGRAD_SOURCE_DIR) + "/data/names";
const std::string kPhrases = std::string(TAPEGRAD_SOURCE_DIR) + "/data/baby/phrases.txt";

// `program args` under mpirun with `processes` ranks, on shared memory and loopback only.
RunResult mpirun(int processes, const std::string& program, const std::string& args,
                 const fs::path& cwd) {
  return run_shell("OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 " +
                       std::string(MPIEXEC) + " -np " + std::to_string(processes) + " " +
                       TAPEGRAD_MPI_LOCAL_ONLY + " " + program + " " + args,
                   cwd);
}

std::set<std::string> files_in(const fs::path& dir) {
  std::set<std::string> names;
  for (const auto& entry : fs::directory_iterator(dir)) names.insert(entry.path().filename());
  return names;
}

// The largest difference of any float tensor of two checkpoints, relative to the tensor's
// largest magnitude. NaN anywhere gives infinity, so it never passes a bound.
double largest_relative_difference(const std::string& a_path, const std::string& b_path) {
  const nn::Archive a = nn::load_npz(a_path), b = nn::load_npz(b_path);
  double worst = 0;
  REQUIRE(a.tensors.size() == b.tensors.size());
  for (const auto& [key, ta] : a.tensors) {
    REQUIRE(b.tensors.count(key));
    const Tensor x = ta.to(DType::Float64), y = b.tensors.at(key).to(DType::Float64);
    REQUIRE(x.shape() == y.shape());
    const auto& xv = x.value<double>();
    const auto& yv = y.value<double>();
    double scale = 0, diff = 0;
    for (std::size_t i = 0; i < xv.size(); ++i) {
      if (!std::isfinite(xv.data()[i]) || !std::isfinite(yv.data()[i])) return INFINITY;
      scale = std::max(scale, std::abs(xv.data()[i]));
      diff = std::max(diff, std::abs(xv.data()[i] - yv.data()[i]));
    }
    if (scale > 0) worst = std::max(worst, diff / scale);
  }
  return worst;
}

}  // namespace

TEST_CASE("name_language under mpirun: 2 and 3 processes train the 1-process model of the same "
          "global batch") {
  TempDir dir;
  // SGD and no dropout (each rank draws its own masks) or weight average: the runs differ only in
  // how the global batch of 48 names is split, so the parameters agree to float32 rounding (Adam
  // would magnify the rounding of near-zero gradients into sign changes of its first steps).
  const std::string common = "train --data " + kNames +
                             " --epochs 2 --dropout 0 --input-dropout 0 --average 0"
                             " --optimizer sgd --lr 0.2 --threads 1 --seed 7";
  const RunResult one = run_shell(std::string(NAME_LANGUAGE_BIN) + " " + common +
                                      " --batch 48 --out one", dir.path);
  REQUIRE(one.code == 0);
  for (const int processes : {2, 3}) {
    INFO(processes << " processes");
    const std::string out = "np" + std::to_string(processes);
    const RunResult many =
        mpirun(processes, NAME_LANGUAGE_BIN,
               common + " --batch " + std::to_string(48 / processes) + " --out " + out, dir.path);
    INFO(many.err);
    REQUIRE(many.code == 0);
    CHECK(many.out.find("data-parallel: " + std::to_string(processes) +
                        " processes, global batch 48") != std::string::npos);
    // Rank 0 alone printed: the data summary and the closing line once.
    CHECK(occurrences(many.out, "\ndata: ") == 1);
    CHECK(occurrences(many.out, "\nwrote ") == 1);
    CHECK(files_in(dir.path / out) == files_in(dir.path / "one"));
    const double difference = largest_relative_difference((dir.path / "one/model.npz").string(),
                                                          (dir.path / out / "model.npz").string());
    CHECK(difference < 1e-5);
  }
  // The 2-process checkpoint evaluates in one process as under mpirun, identically.
  const std::string eval = "eval --checkpoint np2/model.npz --threads 1";
  const RunResult alone = run_shell(std::string(NAME_LANGUAGE_BIN) + " " + eval, dir.path);
  const RunResult together = mpirun(2, NAME_LANGUAGE_BIN, eval, dir.path);
  REQUIRE(alone.code == 0);
  REQUIRE(together.code == 0);
  CHECK(alone.out == together.out);
}

// Without --threads, N processes share the cores instead of each taking all of them.
TEST_CASE("name_language under mpirun: each process takes its share of the cores") {
  TempDir dir;
  const RunResult two =
      mpirun(2, "env -u OPENBLAS_NUM_THREADS " + std::string(NAME_LANGUAGE_BIN),
             "train --data " + kNames + " --epochs 1 --out run", dir.path);
  INFO(two.out << two.err);
  REQUIRE(two.code == 0);
  const int share = std::max(1, static_cast<int>(std::thread::hardware_concurrency()) / 2);
  CHECK(two.out.find(", " + std::to_string(share) + (share == 1 ? " thread;" : " threads;")) !=
        std::string::npos);
}

TEST_CASE("name_language under mpirun: an error on rank 0 alone ends every rank at once") {
  TempDir dir;
  // Only rank 0 claims the run folder, so only rank 0 sees that it holds someone's files; the
  // other rank goes on to the first collective and must not wait there forever.
  fs::create_directories(dir.path / "taken");
  write_text(dir.path / "taken/notes.txt", "mine\n");
  const auto start = std::chrono::steady_clock::now();
  const RunResult r = mpirun(2, NAME_LANGUAGE_BIN,
                             "train --data " + kNames + " --epochs 1 --out taken", dir.path);
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  INFO(r.err);
  CHECK(r.code != 0);
  CHECK(seconds < 30);
  CHECK(r.err.find("rank 0: name_language: error: ") != std::string::npos);
  // As after the same refusal in one process: the folder exactly as it was.
  CHECK(files_in(dir.path / "taken") == std::set<std::string>{"notes.txt"});
  CHECK(read_text(dir.path / "taken/notes.txt") == "mine\n");
}

TEST_CASE("baby_lm under mpirun: window and stateful modes train the 1-process model of the same "
          "global batch") {
  TempDir dir;
  struct Mode {
    std::string name, flags;
    int global_batch;
  };
  // Adam here (baby_lm's only optimizer), which magnifies float32 rounding of near-zero
  // gradients, so few steps: 2 epochs of 5 batches (window), 1 of 7 (stateful). float32 products
  // (stateful mode's default is bf16 where the CPU has it): bf16 products of a batch cut over
  // ranks round at other places and drift beyond float32 rounding (measured 1.4e-3 at 2 ranks).
  for (const Mode& mode : {Mode{"window", "--epochs 2", 30},
                           Mode{"stateful", "--stateful --bptt 64 --epochs 1", 12}}) {
    INFO(mode.name);
    const std::string common = "train --corpus " + kPhrases + " " + mode.flags +
                               " --dropout 0 --threads 1 --sample-length 5 --precision float32";
    const std::string one = mode.name + "1";
    REQUIRE(run_shell(std::string(BABY_LM_EXE) + " " + common + " --batch " +
                          std::to_string(mode.global_batch) + " --out " + one,
                      dir.path)
                .code == 0);
    for (const int processes : {2, 3}) {
      INFO(processes << " processes");
      const std::string out = mode.name + std::to_string(processes);
      const RunResult many = mpirun(
          processes, BABY_LM_EXE,
          common + " --batch " + std::to_string(mode.global_batch / processes) + " --out " + out,
          dir.path);
      INFO(many.err);
      REQUIRE(many.code == 0);
      CHECK(files_in(dir.path / out) == files_in(dir.path / one));
      CHECK(largest_relative_difference((dir.path / one / "model.npz").string(),
                                        (dir.path / out / "model.npz").string()) < 1e-5);
    }
  }
}

TEST_CASE("baby_lm --stateful under mpirun: SIGTERM saves mid-epoch and --resume ends bit for bit") {
  TempDir dir;
  const std::string args = "train --corpus " + kPhrases +
                           " --stateful --epochs 12 --units 32 --embed 16 --batch 4 --bptt 8 "
                           "--seed 4 --patience 0 --sample-length 5 --threads 1";
  const RunResult whole = mpirun(2, BABY_LM_EXE, args + " --out u", dir.path);
  INFO(whole.err);
  REQUIRE(whole.code == 0);
  // The same job, where rank 1 alone gets SIGTERM before batch 5 of epoch 3 (it sends it to
  // itself there, as from `pkill` or a batch scheduler): the job agrees to stop at that batch
  // on every rank.
  const std::string err = run_shell("TAPEGRAD_RAISE_SIGNAL=TERM:3:5:1 OMPI_ALLOW_RUN_AS_ROOT=1 "
                                    "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 " + std::string(MPIEXEC) +
                                        " -np 2 " + TAPEGRAD_MPI_LOCAL_ONLY + " " + BABY_LM_EXE +
                                        " " + args + " --out i",
                                    dir.path)
                              .err;
  INFO(err);
  REQUIRE(err.find("baby_lm: interrupted: SIGTERM during epoch ") != std::string::npos);
  CHECK(err.find("SIGTERM during epoch 3; the run is saved at batch 5 of epoch 3") !=
        std::string::npos);
  CHECK(occurrences(err, "interrupted") == 1);  // rank 0 alone says it
  // Saved where it stopped, the two ranks' streams side by side as one process holds them.
  const nn::Archive saved = nn::load_npz((dir.path / "i" / "resume.npz").string());
  REQUIRE(saved.tensors.count("partial.state0.h"));
  CHECK(saved.tensors.at("partial.state0.h").shape() == Shape{1, 8, 32});
  CHECK(saved.tensors.count("partial.state1.c"));

  // Resumed by another number of processes: refused, as the global batch would change.
  const RunResult alone = run_shell(std::string(BABY_LM_EXE) + " train --resume i", dir.path);
  CHECK(alone.code == 2);
  CHECK(alone.err == "baby_lm: error: run folder 'i' was trained by 2 processes and is resumed "
                     "by 1: resume it with 2 (mpirun -np 2), as the global batch, and so the "
                     "result, depends on it\n");

  const RunResult resumed = mpirun(2, BABY_LM_EXE, "train --resume i", dir.path);
  INFO(resumed.err);
  REQUIRE(resumed.code == 0);
  CHECK(largest_relative_difference((dir.path / "u" / "model.npz").string(),
                                    (dir.path / "i" / "model.npz").string()) == 0.0);
}
