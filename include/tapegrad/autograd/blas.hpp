// Matrix products through OpenBLAS or oneDNN (float32 or bfloat16 operands), and the choice of
// OpenBLAS's fast kernel on first use.
#pragma once

#include <memory>
#include <string>

#include "tapegrad/autograd/autocast.hpp"

namespace tg::dnnl_matmul {
struct PackedWeights;
}

namespace tg::blas {

// B of a product prepared once (bf16 conversion, oneDNN's layout) for products repeated with the
// same B and shape: a recurrent layer's weights over its time steps. See prepare_b.
using PreparedB = dnnl_matmul::PackedWeights;

// How a float32 product runs: the precision its op recorded when it ran forward (backward
// products use the forward's, see autocast.hpp), and B prepared by prepare_b, if any.
struct How {
  MatmulPrecision precision = MatmulPrecision::Float32;
  const PreparedB* prepared = nullptr;
};

// C = alpha * op(A) * op(B) + beta * C, row-major; op(X) is X or X^T. Defined for float and
// double; float64 products ignore `how` (always OpenBLAS, float64). Kept in its own translation
// unit: OpenBLAS's <cblas.h> clashes with xtensor-blas.
template <class T>
void gemm(bool trans_a, bool trans_b, int m, int n, int k, T alpha, const T* a, int lda,
          const T* b, int ldb, T beta, T* c, int ldc, const How& how);
// The same in the current thread's precision (tg::matmul_precision()).
template <class T>
void gemm(bool trans_a, bool trans_b, int m, int n, int k, T alpha, const T* a, int lda,
          const T* b, int ldb, T beta, T* c, int ldc);

// B prepared for gemm(trans_a, trans_b, m, n, k, 1, ., lda, b, ldb, beta, ., ldc) in `precision`;
// null when that product would not use it (OpenBLAS, float64). Valid while b's values do not
// change: an op prepares its weights when it runs and drops them with its node.
template <class T>
std::shared_ptr<const PreparedB> prepare_b(MatmulPrecision precision, bool trans_a, bool trans_b,
                                           int m, int n, int k, int lda, const T* b, int ldb,
                                           T beta, int ldc);

// Which library runs float32 products: Auto picks per shape by a rule measured on these CPUs
// (blas.cpp); the others force one for every float32 product (benchmarks, tests).
enum class Float32Provider { Auto, OpenBlas, OneDnn };
void set_float32_provider(Float32Provider provider);
Float32Provider float32_provider();

// True when this build has oneDNN (libdnnl-dev at configure): float32 products go to it where
// it is the faster (Float32Provider::Auto), bf16 ones where the CPU has bf16 units.
bool onednn_available();
// True when bf16 products run as such: built with oneDNN, on a CPU with AMX or AVX512-BF16.
bool bf16_supported();
// "AMX", "AVX512-BF16", or "float32 fallback" (no bf16 units or no oneDNN).
std::string bf16_family();

struct Info {
  std::string core;         // kernel in use, e.g. "Cooperlake"
  std::string configured;   // how it was chosen, e.g. "detected Haswell -> Cooperlake"
  int threads = 1;
};

// Debian's OpenBLAS 0.3.21 misdetects recent AVX-512 CPUs and falls back to a slow kernel.
// tapegrad switches to the best kernel for the CPU's features (Cooperlake with avx512bf16,
// SkylakeX with avx512f, Haswell with avx2) when OpenBLAS's choice, or an OPENBLAS_CORETYPE from
// the environment, is weaker. The choice is made once, on the first product (or info(),
// describe(), set_num_threads()), or when select_kernel() is called; never when the program
// loads, so a program that links tapegrad and never multiplies keeps OpenBLAS and its
// environment as they were. TAPEGRAD_OPENBLAS_CORETYPE=<kernel> forces a kernel; =keep leaves
// OpenBLAS's choice alone (for debugging). info() says what is in use and why.
void select_kernel();
bool kernel_selected();  // whether the choice has been made in this process
Info info();
// One line: "OpenBLAS kernel Cooperlake (auto: ...), 2 threads; bf16 products: AMX (oneDNN
// 2.6.3, brg:avx512_core_amx_bf16)", or "...; bf16 products: float32 fallback (why)"; outside
// an AutocastGuard "bf16 products: available, off: AMX (...)".
std::string describe();
// Threads for the products large enough to gain from them: products of fewer than 2^24
// multiply-adds (a recurrent step's, at small batch) always run on one thread, which is faster
// in a training loop and robust to a busy machine. set_serial_below moves that bound (0: leave
// every split to OpenBLAS); TAPEGRAD_BLAS_SERIAL_BELOW=<multiply-adds> sets its starting value,
// for measuring without a rebuild. Products run by oneDNN (bf16, and the
// float32 ones it wins) always use one thread: its OpenMP workers spin between products.
void set_num_threads(int threads);
void set_serial_below(double multiply_adds);
int num_threads();  // as set (or OpenBLAS's default), not the count of the current product

// While one lives, every product runs on one thread: for two lanes of products side by side (the
// two directions of a bidirectional layer), which would otherwise queue for OpenBLAS's one pool.
// Made on the thread that starts the lanes, before they start.
class SerialProducts {
 public:
  SerialProducts();
  ~SerialProducts();
  SerialProducts(const SerialProducts&) = delete;
  SerialProducts& operator=(const SerialProducts&) = delete;
};

}  // namespace tg::blas
