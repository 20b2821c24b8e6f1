// OpenBLAS wrappers and kernel selection (no xtensor here: <cblas.h> conflicts with xtensor-blas).
#include "tapegrad/autograd/blas.hpp"

#include <cblas.h>
#include <cstdio>
#include <fmt/format.h>

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <mutex>

#include "autograd/dnnl_matmul.hpp"

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

bool cpu_has_avx512f() {
  static const bool has = [] {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f") != 0;
  }();
  return has;
}

const char* best_core_for_cpu() {
  if (cpu_has_avx512f()) {
    // avx512bf16 is not known to GCC 12's __builtin_cpu_supports; read cpuid leaf 7.1 EAX bit 5.
    unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
    __asm__("cpuid" : "=a"(eax), "=b"(ebx), "=c"(ecx), "=d"(edx) : "a"(7), "c"(1));
    return (eax & (1u << 5)) ? "Cooperlake" : "SkylakeX";
  }
  if (__builtin_cpu_supports("avx2")) return "Haswell";  // cpu_has_avx512f ran __builtin_cpu_init
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
void choose_kernel() {
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
std::atomic<bool> g_is_selected{false};
// On first use, never at load: a program that links tapegrad and never multiplies keeps its
// environment and OpenBLAS as they were.
void ensure_selected() {
  std::call_once(g_selected, [] {
    choose_kernel();
    g_is_selected.store(true, std::memory_order_release);
  });
}

CBLAS_TRANSPOSE trans(bool t) { return t ? CblasTrans : CblasNoTrans; }

// Products of fewer multiply-adds than this run on one thread. OpenBLAS splits anything above
// 2^18, but a recurrent step's small products gain nothing from a second thread in a real
// training loop and lose when its worker is slow to be scheduled (shared machine, busy vCPU):
// measured here at 2 threads, an LSTM step at batch 1 / hidden 512 took 3.4-3.9 ms with
// OpenBLAS's split and 2.8 ms with these products serial; batch 32 / hidden 128 was unchanged,
// while products from 2^24 up (256x512x128) still run ~1.8x faster on two threads.
// Set in code by set_serial_below(); TAPEGRAD_BLAS_SERIAL_BELOW overrides the default for
// measuring without a rebuild.
std::atomic<double> g_serial_below{[] {
  const char* setting = std::getenv("TAPEGRAD_BLAS_SERIAL_BELOW");
  return setting ? std::atof(setting) : double(1 << 24);
}()};
double serial_below() { return g_serial_below.load(std::memory_order_relaxed); }

// Threads asked for by set_num_threads (0: not yet known, see use_threads_for), and
// the count OpenBLAS is set to now. openblas_set_num_threads only stores the count when its pool
// is large enough, so switching per product is cheap.
std::atomic<int> g_threads{0};
std::atomic<int> g_active{0};
std::atomic<int> g_serial_scopes{0};  // live SerialProducts

// The threads asked for: set_num_threads's count, or else OpenBLAS's own, read the first time it
// is needed (before anything here has set OpenBLAS to one thread).
int asked_threads() {
  int threads = g_threads.load(std::memory_order_relaxed);
  if (threads == 0) {
    threads = openblas_get_num_threads();
    g_active.store(threads, std::memory_order_relaxed);
    g_threads.store(threads, std::memory_order_relaxed);
  }
  return threads;
}

// The threads a product of m x k x n runs on: one below serial_below(), else all asked for.
int threads_for(int m, int n, int k) {
  const int threads = asked_threads();
  if (threads <= 1 || g_serial_scopes.load(std::memory_order_relaxed) > 0) return 1;
  return double(m) * n * k < serial_below() ? 1 : threads;
}

// Sets OpenBLAS to threads_for(m, n, k) before it runs the product.
void use_threads_for(int m, int n, int k) {
  const int want = threads_for(m, n, k);
  if (want <= 1 && g_threads.load(std::memory_order_relaxed) <= 1) return;
  if (g_active.exchange(want, std::memory_order_relaxed) != want) openblas_set_num_threads(want);
}

std::atomic<int> g_float32_provider{int(Float32Provider::Auto)};

// The float32 products oneDNN runs faster than OpenBLAS's Cooperlake kernel. Measured with
// bench/bench_products (table in bench/README.md; Sapphire Rapids, one thread): a recurrent
// step's products at batch 32, whose weights are prepared once per forward, run 1.5-1.9x faster
// on oneDNN (hidden 128 and 512); at batch 256 the two are within noise of each other, and the
// products over all steps (unprepared, thousands of rows) are as fast or faster on OpenBLAS. So:
// prepared B, at most 64 rows, and a product OpenBLAS would run on one thread (oneDNN's run on
// one, see dnnl_product; the comparison was made at one thread). That win is AVX-512's: on a CPU
// without it (AMD Zen 3, AVX2) the same step products ran 0.61-1.15x OpenBLAS's Zen kernel and a
// 2 x 512 LSTM step 1.13x slower, so there float32 stays on OpenBLAS.
bool dnnl_wins_float32(int m, int n, int k, bool prepared_b) {
  return cpu_has_avx512f() && prepared_b && m <= 64 && threads_for(m, n, k) == 1;
}

enum class Route { OpenBlas, DnnlFloat32, DnnlBf16 };

Route route(MatmulPrecision precision, int m, int n, int k, float alpha, float beta,
            bool prepared_b) {
  if (alpha != 1.0f || (beta != 0.0f && beta != 1.0f) || m <= 0 || n <= 0 || k <= 0 ||
      !dnnl_matmul::available())
    return Route::OpenBlas;
  if (precision == MatmulPrecision::BFloat16 && bf16_supported()) return Route::DnnlBf16;
  switch (Float32Provider(g_float32_provider.load(std::memory_order_relaxed))) {
    case Float32Provider::OpenBlas: return Route::OpenBlas;
    case Float32Provider::OneDnn: return Route::DnnlFloat32;
    case Float32Provider::Auto: break;
  }
  return dnnl_wins_float32(m, n, k, prepared_b) ? Route::DnnlFloat32 : Route::OpenBlas;
}

dnnl_matmul::Product dnnl_product(Route r, bool trans_a, bool trans_b, int m, int n, int k,
                                  int lda, int ldb, float beta, int ldc) {
  dnnl_matmul::Product p;
  p.operands = r == Route::DnnlBf16 ? dnnl_matmul::Operands::BFloat16
                                    : dnnl_matmul::Operands::Float32;
  p.trans_a = trans_a;
  p.trans_b = trans_b;
  p.m = m;
  p.n = n;
  p.k = k;
  p.lda = lda;
  p.ldb = ldb;
  p.ldc = ldc;
  p.accumulate = beta != 0.0f;
  // One thread, whatever set_num_threads says: oneDNN runs on an OpenMP team whose workers spin
  // after each product, taking the second core from the element-wise work between products
  // (measured, name_language epoch at 2 threads: 2.1k names/s in bf16 with a team of 2 against
  // 20.7k with one thread; OMP_WAIT_POLICY would have to be set before libgomp loads). One AMX
  // thread is still several times two float32 threads.
  p.threads = 1;
  return p;
}

// Said once per process when a bf16 product had to run in float32.
void notice_fallback() {
  static std::once_flag said;
  std::call_once(said, [] {
    std::fprintf(stderr, "tapegrad: bf16 products requested, but %s; they run in float32\n",
                 dnnl_matmul::available() ? "this CPU has neither AMX nor AVX512-BF16"
                                          : "tapegrad was built without oneDNN");
  });
}

}  // namespace

template <>
void gemm<float>(bool trans_a, bool trans_b, int m, int n, int k, float alpha, const float* a,
                 int lda, const float* b, int ldb, float beta, float* c, int ldc,
                 const How& how) {
  ensure_selected();
  const Route r = route(how.precision, m, n, k, alpha, beta, how.prepared != nullptr);
  if (r != Route::OpenBlas) {
    dnnl_matmul::gemm(dnnl_product(r, trans_a, trans_b, m, n, k, lda, ldb, beta, ldc), a, b, c,
                      how.prepared);
    return;
  }
  if (how.precision == MatmulPrecision::BFloat16 && !bf16_supported()) notice_fallback();
  use_threads_for(m, n, k);
  cblas_sgemm(CblasRowMajor, trans(trans_a), trans(trans_b), m, n, k, alpha, a, lda, b, ldb, beta,
              c, ldc);
}

template <>
void gemm<double>(bool trans_a, bool trans_b, int m, int n, int k, double alpha, const double* a,
                  int lda, const double* b, int ldb, double beta, double* c, int ldc,
                  const How&) {
  ensure_selected();
  use_threads_for(m, n, k);
  cblas_dgemm(CblasRowMajor, trans(trans_a), trans(trans_b), m, n, k, alpha, a, lda, b, ldb, beta,
              c, ldc);
}

template <class T>
void gemm(bool trans_a, bool trans_b, int m, int n, int k, T alpha, const T* a, int lda,
          const T* b, int ldb, T beta, T* c, int ldc) {
  gemm<T>(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc,
          How{matmul_precision(), nullptr});
}

template void gemm<float>(bool, bool, int, int, int, float, const float*, int, const float*, int,
                          float, float*, int);
template void gemm<double>(bool, bool, int, int, int, double, const double*, int, const double*,
                           int, double, double*, int);

template <>
std::shared_ptr<const PreparedB> prepare_b<float>(MatmulPrecision precision, bool trans_a,
                                                  bool trans_b, int m, int n, int k, int lda,
                                                  const float* b, int ldb, float beta, int ldc) {
  ensure_selected();
  const Route r = route(precision, m, n, k, 1.0f, beta, true);
  if (r == Route::OpenBlas || m <= 1) return nullptr;
  return dnnl_matmul::pack(dnnl_product(r, trans_a, trans_b, m, n, k, lda, ldb, beta, ldc), b);
}

template <>
std::shared_ptr<const PreparedB> prepare_b<double>(MatmulPrecision, bool, bool, int, int, int,
                                                   int, const double*, int, double, int) {
  return nullptr;
}

void set_float32_provider(Float32Provider provider) {
  g_float32_provider.store(int(provider), std::memory_order_relaxed);
}

Float32Provider float32_provider() {
  return Float32Provider(g_float32_provider.load(std::memory_order_relaxed));
}

bool onednn_available() { return dnnl_matmul::available(); }

bool bf16_supported() {
  static const bool supported = dnnl_matmul::available() && !dnnl_matmul::bf16_family().empty();
  return supported;
}

std::string bf16_family() {
  return bf16_supported() ? dnnl_matmul::bf16_family() : "float32 fallback";
}

Info info() {
  ensure_selected();
  return {openblas_get_corename(), g_configured, num_threads()};
}

std::string describe() {
  const Info i = info();
  std::string bf16;
  const bool on = matmul_precision() == MatmulPrecision::BFloat16;
  if (bf16_supported())
    bf16 = fmt::format("{}{} ({}, {})", on ? "" : "available, off: ", dnnl_matmul::bf16_family(),
                       dnnl_matmul::version(), dnnl_matmul::bf16_implementation());
  else
    bf16 = fmt::format("float32 fallback ({})", dnnl_matmul::available()
                                                    ? "no AMX or AVX512-BF16 on this CPU"
                                                    : "built without oneDNN");
  return fmt::format("OpenBLAS kernel {} ({}), {} thread{}; bf16 products: {}", i.core,
                     i.configured, i.threads, i.threads == 1 ? "" : "s", bf16);
}

void select_kernel() { ensure_selected(); }

bool kernel_selected() { return g_is_selected.load(std::memory_order_acquire); }

void set_serial_below(double multiply_adds) {
  g_serial_below.store(multiply_adds, std::memory_order_relaxed);
}

void set_num_threads(int threads) {
  ensure_selected();
  openblas_set_num_threads(threads);
  const int set = openblas_get_num_threads();
  g_active.store(set, std::memory_order_relaxed);
  g_threads.store(set, std::memory_order_relaxed);
}

SerialProducts::SerialProducts() {
  ensure_selected();
  asked_threads();  // known before OpenBLAS is set to one thread below
  g_serial_scopes.fetch_add(1, std::memory_order_relaxed);
  // Now, before the lanes start: from then on every product finds OpenBLAS at one thread.
  if (g_active.exchange(1, std::memory_order_relaxed) != 1) openblas_set_num_threads(1);
}

SerialProducts::~SerialProducts() { g_serial_scopes.fetch_sub(1, std::memory_order_relaxed); }

int num_threads() {
  ensure_selected();
  return asked_threads();
}

}  // namespace tg::blas
