// Internal: matrix products through oneDNN (float32 or bfloat16 operands, float32 accumulation
// and result), primitives cached per product shape. Used by tg::blas only; not installed API.
#pragma once

#include <cstddef>
#include <memory>
#include <string>

namespace tg::dnnl_matmul {

enum class Operands { Float32, BFloat16 };

// The row-major product C[m,n] = op(A) op(B) (+ C when accumulate), op(X) = X or X^T, with the
// leading dimensions of tg::blas::gemm. Everything that makes a oneDNN primitive differ, so the
// key of the primitive cache.
struct Product {
  Operands operands = Operands::Float32;
  bool trans_a = false, trans_b = false;
  int m = 0, n = 0, k = 0, lda = 0, ldb = 0, ldc = 0;
  bool accumulate = false;
  int threads = 1;
  bool operator==(const Product& o) const;
};

// False when tapegrad was built without oneDNN (then nothing below may be called).
bool available();

// Plans (a primitive per product shape) are cached per thread, the least recently used dropped
// beyond kMaxPlans; cached_plans() counts the calling thread's.
inline constexpr std::size_t kMaxPlans = 256;
std::size_t cached_plans();

// The bfloat16 kernel family this CPU gives oneDNN: "AMX", "AVX512-BF16", or "" when it has
// neither (oneDNN would emulate bf16 more slowly than float32 runs).
std::string bf16_family();
// "oneDNN 2.6.3", and the implementation oneDNN picks for a bf16 product (e.g.
// "brg:avx512_core_amx_bf16"), for the report line.
std::string version();
std::string bf16_implementation();

// B of one product shape converted (bf16) and reordered into oneDNN's preferred layout once, for
// products repeated with the same B (a recurrent layer's weights over its time steps).
struct PackedWeights;
std::shared_ptr<const PackedWeights> pack(const Product& p, const float* b);

// Runs the product; `packed`, when given, must come from pack() with an equal Product and stands
// in for b.
void gemm(const Product& p, const float* a, const float* b, float* c,
          const PackedWeights* packed = nullptr);

}  // namespace tg::dnnl_matmul
