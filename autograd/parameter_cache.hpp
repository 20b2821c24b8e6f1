// Internal: parameters converted to bf16 once per value for the products that multiply by them
// (PyTorch's autocast weight cache).
#pragma once

#include <cstddef>
#include <memory>

#include "tapegrad/autograd/blas.hpp"
#include "tapegrad/autograd/tensor.hpp"

namespace tg::parameter_cache {

// B prepared for blas::gemm<float>(trans_a, trans_b, m, n, k, 1, ., lda, weight, ldb, beta, .,
// ldc) with beta 1 if `accumulate`, else 0, in bf16; null unless the product runs in bf16
// (`precision`, the op's), this thread is inside a bf16 AutocastGuard and `weight` is a float32
// leaf that requires grad (a parameter). The conversion is kept while the weight lives and its
// version (every write: optimizer steps, loading) and buffer stay the same, so a cell that
// multiplies by W_hh at every time step converts it once per optimizer step instead of at every
// step, forward and backward. gemm checks the product itself, so a stale shape only costs a
// conversion.
std::shared_ptr<const blas::PreparedB> prepared(MatmulPrecision precision, const Tensor& weight,
                                                bool trans_a, bool trans_b, std::size_t m,
                                                std::size_t n, std::size_t k, std::size_t lda,
                                                std::size_t ldb, bool accumulate, std::size_t ldc);

// Drops this thread's conversions: the outermost bf16 AutocastGuard calls it when it ends, as
// PyTorch empties its cache on leaving autocast.
void clear();

// How many conversions this thread holds (tests).
std::size_t size();

}  // namespace tg::parameter_cache
