// bench_recurrent's shared pieces: options, timing, JSON lines, and the workloads' models.
//
// The workloads, flags and output contract are those of bench/pytorch_workloads.py (its
// docstring is the definition); this program is their tapegrad side.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "tapegrad/autograd/tensor.hpp"
#include "baby_lm/model.hpp"
#include "bench_util.hpp"  // now_seconds
#include "tapegrad/nn/nn.hpp"
#include "tapegrad/optim/optim.hpp"

namespace tg::bench {

struct Options {
  std::string workload;
  int threads = 1;
  int repeats = 5;
  bool quick = false;
  std::string names_dir;
  int steps = 50;          // e: steps per child process
  std::string of = "a";    // e-child: which workload's steps
  std::vector<std::size_t> grid_point;  // c: only this batch, hidden, seq, layers (profiling)
  double min_time = 1.0;   // seconds per timed repeat
  double warmup_time = 0.5;
  double baseline_rss_mib = 0;  // ru_maxrss at the start of main
};

// ---- JSON lines -----------------------------------------------------------------------------

// A config or record as ordered (key, JSON text) pairs: keys keep PyTorch's order.
using Fields = std::vector<std::pair<std::string, std::string>>;
std::string json_number(double v);
std::string json_string(const std::string& s);
std::string json_object(const Fields& fields);
void emit(const Fields& record);  // one line on stdout, flushed
void log(const std::string& message);  // "bench_recurrent: ..." on stderr

// One measurement line: value = median of samples (or their max with stat "max").
void emit_metric(const std::string& workload, const Fields& config, const std::string& metric,
                 const std::vector<double>& samples, const std::string& unit,
                 const std::string& stat = "median", const Fields& extra = {});

// The line (and stderr message) of workload b or e skipped for want of the names data folder.
void emit_names_skipped(const std::string& workload, const std::string& names_dir);

// ---- timing ---------------------------------------------------------------------------------

// Seconds per call of step() in each of `repeats` repeats, after a warm-up of at least
// warmup_time (and 2 calls); each repeat runs the same number of calls, enough to last min_time.
struct Timing {
  std::vector<double> samples;
  std::size_t steps_per_repeat = 0;
};
Timing per_step_seconds(const std::function<void()>& step, int repeats, double min_time,
                        double warmup_time);

// Best-of-n GFLOP/s of a 2048^3 sgemm through tg::blas::gemm.
std::vector<double> sgemm_gflops(int samples);
constexpr std::size_t kPeakN = 2048;

double max_rss_mib();

// ---- workload (a) / (d): the baby_lm seed model ---------------------------------------------

constexpr std::size_t kBabyVocab = 28;
constexpr std::size_t kBabyBatch = 32, kBabyWindow = 15;

// The model is the example's own baby_lm::BabyLM, so the bench measures what users run, for 28
// characters: Embedding(28, 32) -> LSTM(32->128, every step) -> Dropout(0.2) -> LSTM(128->128,
// last step) -> Dropout(0.2) -> Linear(128->28). The sizes are set explicitly, not taken from
// the example's defaults: PyTorch's side hard-codes them, and a new default must not silently
// change the workload.
baby_lm::ModelConfig baby_config();

// One training step of workload (a) per call: zero grads, forward, loss, backward, Adam.
std::function<void()> baby_lm_trainer();

// ---- workload (b): name_language ------------------------------------------------------------

constexpr std::size_t kNamesBatch = 64;

struct NamePair {
  std::string name;  // ASCII-folded
  std::size_t label = 0;
};
struct NameData {
  std::vector<NamePair> pairs;  // deduplicated, folded, in the fixed shuffled order
  std::vector<std::string> languages;
};
// Empty pairs when the folder is absent or holds no .txt file.
NameData load_names(const std::string& folder);

// One-hot over examples::ascii_letters_vocabulary(): string.ascii_letters + " .,;'" (57).
struct NameBatch {
  Tensor x;  // [T_max, B, 57] one-hot, zero past each name's length
  std::vector<std::size_t> lengths;  // longest first
  Indices labels;
};
NameBatch names_batch(const std::vector<NamePair>& pairs, std::size_t begin, std::size_t end);

class NameClassifier {
 public:
  explicit NameClassifier(std::size_t labels);
  void step(const NameBatch& batch);

 private:
  std::shared_ptr<nn::LSTM> lstm_;
  std::shared_ptr<nn::Linear> fc_;
  std::unique_ptr<optim::Adam> opt_;
};

// ---- workloads ------------------------------------------------------------------------------

void run_a(const Options& o);
void run_b(const Options& o);
void run_c(const Options& o);
void run_d(const Options& o);

}  // namespace tg::bench
