// tg::AutocastGuard: bfloat16 matrix products inside a scope (mixed precision, like PyTorch's
// CPU autocast), and the precision the current thread's products run in.
#pragma once

namespace tg {

// Float32: float32 operands (OpenBLAS or oneDNN, whichever is faster for the shape).
// BFloat16: the operands of float32 products are rounded to bfloat16 and multiplied with float32
// accumulation and a float32 result (oneDNN on AMX or AVX512-BF16). Only the products change:
// parameters, gradients, optimizer state, recurrent state and element-wise math stay float32,
// float64 products (gradcheck) are never affected, and a product of a single row (batch-1
// generation) stays float32 (its matrix-vector kernel is as fast).
enum class MatmulPrecision { Float32, BFloat16 };

// The precision of float32 products started on this thread now. An op records it when it runs
// forward, and its backward products use the same, wherever backward is called from.
MatmulPrecision matmul_precision();

// `tg::AutocastGuard bf16;` turns bfloat16 products on for this thread until the guard goes out
// of scope, which restores the previous setting (guards nest). AutocastGuard(false) or
// AutocastGuard(MatmulPrecision::Float32) turns them off inside an enclosing bf16 scope. On a CPU
// without bfloat16 units, or a build without oneDNN, products stay float32 and one notice says
// so on stderr.
class AutocastGuard {
 public:
  explicit AutocastGuard(MatmulPrecision precision = MatmulPrecision::BFloat16);
  explicit AutocastGuard(bool enabled)
      : AutocastGuard(enabled ? MatmulPrecision::BFloat16 : MatmulPrecision::Float32) {}
  ~AutocastGuard();
  AutocastGuard(const AutocastGuard&) = delete;
  AutocastGuard& operator=(const AutocastGuard&) = delete;

 private:
  MatmulPrecision previous_;
};

// "bf16" / "float32", as the examples' --precision flag spells them; parse also takes "auto":
// bf16 where its products run as such (blas::bf16_supported(): AMX or AVX512-BF16, and oneDNN),
// float32 elsewhere. It throws tg::Error naming the accepted values.
const char* to_string(MatmulPrecision precision);
MatmulPrecision parse_matmul_precision(const char* text);

}  // namespace tg
