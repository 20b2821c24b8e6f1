// OpenBLAS wrappers and kernel selection (no xtensor here: <cblas.h> conflicts with xtensor-blas).
#include "tapegrad/autograd/blas.hpp"

#include <cblas.h>
#include <fmt/format.h>

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <mutex>

// Exported by OpenBLAS's DYNAMIC_ARCH builds (Debian's); not a public API, hence weak: if a
// build lacks them, tapegrad keeps whatever kernel OpenBLAS chose and says so.
extern "C" {
void gotoblas_dynamic_init(void) __attribute__((weak));
void gotoblas_dynamic_quit(void) __attribute__((weak));
int blas_thread_shutdown_(void) __attribute__((weak));
}

namespace tg::blas {

namespace {

std::string g_configured = "not yet selected";

const char* best_core_for_cpu() {
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f")) {
    // avx512bf16 is not known to GCC 12's __builtin_cpu_supports; read cpuid leaf 7.1 EAX bit 5.
    unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
    __asm__("cpuid" : "=a"(eax), "=b"(ebx), "=c"(ecx), "=d"(edx) : "a"(7), "c"(1));
    return (eax & (1u << 5)) ? "Cooperlake" : "SkylakeX";
  }
  if (__builtin_cpu_supports("avx2")) return "Haswell";
  return nullptr;
}

int rank(const std::string& core) {
  if (core == "Cooperlake") return 4;
  if (core == "SkylakeX") return 3;
  if (core == "Haswell" || core == "Zen") return 2;
  return 1;  // Prescott, Nehalem, Sandybridge, ...
}

// TAPEGRAD_OPENBLAS_CORETYPE=<name> forces a kernel and =keep accepts OpenBLAS's choice. An
// OPENBLAS_CORETYPE naming a kernel weaker than the CPU supports is upgraded (some machine images
// set one globally); that is reported by describe().
void select_kernel() {
  const std::string current = openblas_get_corename();
  const char* forced = std::getenv("TAPEGRAD_OPENBLAS_CORETYPE");
  if (forced && std::string(forced) == "keep") {
    g_configured = "TAPEGRAD_OPENBLAS_CORETYPE=keep";
    return;
  }
  const char* best = forced ? forced : best_core_for_cpu();
  const char* from_env = std::getenv("OPENBLAS_CORETYPE");
  const std::string origin = from_env
                                 ? fmt::format("OPENBLAS_CORETYPE={} in the environment", from_env)
                                 : fmt::format("OpenBLAS chose {}", current);
  if (!best || (!forced && rank(best) <= rank(current))) {
    g_configured = fmt::format("{}, best for this CPU", origin);
    return;
  }
  if (!gotoblas_dynamic_init || !gotoblas_dynamic_quit) {
    g_configured = fmt::format("{}; {} suits this CPU but this OpenBLAS cannot switch at run "
                               "time: start with OPENBLAS_CORETYPE={}",
                               origin, best, best);
    return;
  }
  const int threads = openblas_get_num_threads();
  const std::string saved = from_env ? from_env : "";
  setenv("OPENBLAS_CORETYPE", best, 1);
  // OpenBLAS starts its worker threads when it loads, and a worker still starting up reads the
  // kernel table that quit() empties: about one start in 4,500 crashed in gotoblas_dynamic_init
  // (core dump, measured). Stop the pool first (OpenBLAS's own fork handler); the next threaded
  // product starts it again.
  if (blas_thread_shutdown_) blas_thread_shutdown_();
  gotoblas_dynamic_quit();
  gotoblas_dynamic_init();
  // Child processes see the environment they were given.
  if (from_env) setenv("OPENBLAS_CORETYPE", saved.c_str(), 1); else unsetenv("OPENBLAS_CORETYPE");
  openblas_set_num_threads(threads);
  g_configured = fmt::format("{}; switched by tapegrad{}", origin,
                             forced ? " as TAPEGRAD_OPENBLAS_CORETYPE asks" : " for this CPU");
}

std::once_flag g_selected;
void ensure_selected() { std::call_once(g_selected, select_kernel); }

// Select at program start so the first timed product already uses the fast kernel.
[[maybe_unused]] const bool g_selected_at_start = (ensure_selected(), true);

CBLAS_TRANSPOSE trans(bool t) { return t ? CblasTrans : CblasNoTrans; }

// Products of fewer multiply-adds than this run on one thread. OpenBLAS splits anything above
// 2^18, but a recurrent step's small products gain nothing from a second thread in a real
// training loop and lose when its worker is slow to be scheduled (shared machine, busy vCPU):
// measured here at 2 threads, an LSTM step at batch 1 / hidden 512 took 3.4-3.9 ms with
// OpenBLAS's split and 2.8 ms with these products serial; batch 32 / hidden 128 was unchanged,
// while products from 2^24 up (256x512x128) still run ~1.8x faster on two threads.
double serial_below() {
  static const double value = [] {
    const char* setting = std::getenv("TAPEGRAD_BLAS_SERIAL_BELOW");
    return setting ? std::atof(setting) : double(1 << 24);
  }();
  return value;
}

// Threads asked for by set_num_threads (0: not yet known, see use_threads_for), and
// the count OpenBLAS is set to now. openblas_set_num_threads only stores the count when its pool
// is large enough, so switching per product is cheap.
std::atomic<int> g_threads{0};
std::atomic<int> g_active{0};

void use_threads_for(int m, int n, int k) {
  int threads = g_threads.load(std::memory_order_relaxed);
  if (threads == 0) {  // set_num_threads not called: start from OpenBLAS's own count
    threads = openblas_get_num_threads();
    g_active.store(threads, std::memory_order_relaxed);
    g_threads.store(threads, std::memory_order_relaxed);
  }
  if (threads <= 1) return;
  const int want = double(m) * n * k < serial_below() ? 1 : threads;
  if (g_active.exchange(want, std::memory_order_relaxed) != want) openblas_set_num_threads(want);
}

}  // namespace

template <>
void gemm<float>(bool trans_a, bool trans_b, int m, int n, int k, float alpha, const float* a,
                 int lda, const float* b, int ldb, float beta, float* c, int ldc) {
  ensure_selected();
  use_threads_for(m, n, k);
  cblas_sgemm(CblasRowMajor, trans(trans_a), trans(trans_b), m, n, k, alpha, a, lda, b, ldb, beta,
              c, ldc);
}

template <>
void gemm<double>(bool trans_a, bool trans_b, int m, int n, int k, double alpha, const double* a,
                  int lda, const double* b, int ldb, double beta, double* c, int ldc) {
  ensure_selected();
  use_threads_for(m, n, k);
  cblas_dgemm(CblasRowMajor, trans(trans_a), trans(trans_b), m, n, k, alpha, a, lda, b, ldb, beta,
              c, ldc);
}

Info info() {
  ensure_selected();
  return {openblas_get_corename(), g_configured, num_threads()};
}

std::string describe() {
  const Info i = info();
  return fmt::format("OpenBLAS kernel {} ({}), {} thread{}", i.core, i.configured, i.threads,
                     i.threads == 1 ? "" : "s");
}

void set_num_threads(int threads) {
  ensure_selected();
  openblas_set_num_threads(threads);
  const int set = openblas_get_num_threads();
  g_active.store(set, std::memory_order_relaxed);
  g_threads.store(set, std::memory_order_relaxed);
}

int num_threads() {
  ensure_selected();
  const int threads = g_threads.load(std::memory_order_relaxed);
  return threads > 0 ? threads : openblas_get_num_threads();
}

}  // namespace tg::blas
