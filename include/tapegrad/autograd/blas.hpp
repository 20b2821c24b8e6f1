// Matrix products through OpenBLAS, and the choice of its fast kernel on start-up.
#pragma once

#include <string>

namespace tg::blas {

// C = alpha * op(A) * op(B) + beta * C, row-major; op(X) is X or X^T. Defined for float and
// double. Kept in its own translation unit: OpenBLAS's <cblas.h> clashes with xtensor-blas.
template <class T>
void gemm(bool trans_a, bool trans_b, int m, int n, int k, T alpha, const T* a, int lda,
          const T* b, int ldb, T beta, T* c, int ldc);

struct Info {
  std::string core;         // kernel in use, e.g. "Cooperlake"
  std::string configured;   // how it was chosen, e.g. "detected Haswell -> Cooperlake"
  int threads = 1;
};

// Debian's OpenBLAS 0.3.21 misdetects recent AVX-512 CPUs and falls back to a slow kernel.
// At program start tapegrad switches to the best kernel for the CPU's features (Cooperlake with
// avx512bf16, SkylakeX with avx512f, Haswell with avx2) when OpenBLAS's choice, or an
// OPENBLAS_CORETYPE from the environment, is weaker. TAPEGRAD_OPENBLAS_CORETYPE=<kernel> forces a
// kernel; =keep leaves OpenBLAS's choice alone. info() says what is in use and why.
Info info();
std::string describe();  // one line: "OpenBLAS kernel Cooperlake (auto: ...), 2 threads"
// Threads for the products large enough to gain from them: products of fewer than 2^24
// multiply-adds (a recurrent step's, at small batch) always run on one thread, which is faster
// in a training loop and robust to a busy machine. TAPEGRAD_BLAS_SERIAL_BELOW=<multiply-adds>
// moves that bound (0: leave every split to OpenBLAS).
void set_num_threads(int threads);
int num_threads();  // as set (or OpenBLAS's default), not the count of the current product

}  // namespace tg::blas
