// OpenBLAS wrappers and kernel selection (no xtensor here: <cblas.h> conflicts with xtensor-blas).
#include "autograd/blas.hpp"

#include <cblas.h>
#include <fmt/format.h>

#include <cstdlib>
#include <cstring>
#include <mutex>

// Exported by OpenBLAS's DYNAMIC_ARCH builds (Debian's); not a public API, hence weak: if a
// build lacks them, tapegrad keeps whatever kernel OpenBLAS chose and says so.
extern "C" {
void gotoblas_dynamic_init(void) __attribute__((weak));
void gotoblas_dynamic_quit(void) __attribute__((weak));
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

}  // namespace

template <>
void gemm<float>(bool trans_a, bool trans_b, int m, int n, int k, float alpha, const float* a,
                 int lda, const float* b, int ldb, float beta, float* c, int ldc) {
  ensure_selected();
  cblas_sgemm(CblasRowMajor, trans(trans_a), trans(trans_b), m, n, k, alpha, a, lda, b, ldb, beta,
              c, ldc);
}

template <>
void gemm<double>(bool trans_a, bool trans_b, int m, int n, int k, double alpha, const double* a,
                  int lda, const double* b, int ldb, double beta, double* c, int ldc) {
  ensure_selected();
  cblas_dgemm(CblasRowMajor, trans(trans_a), trans(trans_b), m, n, k, alpha, a, lda, b, ldb, beta,
              c, ldc);
}

Info info() {
  ensure_selected();
  return {openblas_get_corename(), g_configured, openblas_get_num_threads()};
}

std::string describe() {
  const Info i = info();
  return fmt::format("OpenBLAS kernel {} ({}), {} thread{}", i.core, i.configured, i.threads,
                     i.threads == 1 ? "" : "s");
}

void set_num_threads(int threads) {
  ensure_selected();
  openblas_set_num_threads(threads);
}

int num_threads() {
  ensure_selected();
  return openblas_get_num_threads();
}

}  // namespace tg::blas
