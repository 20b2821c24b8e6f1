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
#include "lines.hpp"
#include "names_data.hpp"
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
  // float32 (tapegrad's default: OpenBLAS or oneDNN by shape), float32-openblas, float32-onednn
  // or bf16 (every workload and the peak inside tg::AutocastGuard). Records of a precision other
  // than float32 carry a "precision" field (bench/precision_compare.py reads it).
  std::string precision = "float32";
  // Set by --precision: a and b also report GFLOP/s of their matrix products and the fraction
  // of this process's peak (compare_pytorch.py, which never passes it, sees the usual lines).
  bool report_gflops = false;
};

// GFLOP/s and fraction of `peak` of a workload whose step does `flops` of matrix products, as
// "gflops" and "peak_fraction" lines (workload c's metrics).
void emit_gflops(const std::string& workload, const Fields& config,
                 const std::vector<double>& seconds, double flops, double peak,
                 const Fields& extra = {});

// Best-of-n GFLOP/s of a 2048^3 float32 product through tg::blas::gemm in the current precision
// (B prepared once, as a recurrent layer's weights are).
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

// ---- workload (f): a character Transformer -----------------------------------------------

constexpr std::size_t kTfVocab = 64, kTfBatch = 32, kTfSeq = 64, kTfDim = 128, kTfHeads = 4,
                      kTfFeedForward = 512, kTfLayers = 2;

// One training step of workload (f) per call: Embedding -> 2 pre-LN TransformerEncoderLayers
// (final LayerNorm) under a causal mask -> Linear, cross-entropy on every position, Adam.
std::function<void()> char_transformer_trainer();

// ---- workloads ------------------------------------------------------------------------------

void run_a(const Options& o);
void run_b(const Options& o);
void run_c(const Options& o);
void run_d(const Options& o);
void run_f(const Options& o);

}  // namespace tg::bench
