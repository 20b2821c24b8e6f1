// The thread's matrix-product precision and its scope guard.
#include "tapegrad/autograd/autocast.hpp"

#include <fmt/format.h>

#include <cstring>

#include "tapegrad/autograd/blas.hpp"
#include "tapegrad/autograd/error.hpp"
#include "autograd/parameter_cache.hpp"

namespace tg {

namespace {
thread_local MatmulPrecision g_precision = MatmulPrecision::Float32;
}  // namespace

MatmulPrecision matmul_precision() { return g_precision; }

AutocastGuard::AutocastGuard(MatmulPrecision precision) : previous_(g_precision) {
  g_precision = precision;
}

AutocastGuard::~AutocastGuard() {
  if (g_precision == MatmulPrecision::BFloat16 && previous_ == MatmulPrecision::Float32)
    parameter_cache::clear();  // leaving bf16 for this thread: as PyTorch leaving autocast
  g_precision = previous_;
}

const char* to_string(MatmulPrecision precision) {
  return precision == MatmulPrecision::BFloat16 ? "bf16" : "float32";
}

MatmulPrecision parse_matmul_precision(const char* text) {
  if (std::strcmp(text, "bf16") == 0) return MatmulPrecision::BFloat16;
  if (std::strcmp(text, "float32") == 0) return MatmulPrecision::Float32;
  if (std::strcmp(text, "auto") == 0)
    return blas::bf16_supported() ? MatmulPrecision::BFloat16 : MatmulPrecision::Float32;
  throw Error(fmt::format("precision: '{}' is not one of auto, bf16, float32", text));
}

}  // namespace tg
