// bench_products: GFLOP/s of the matrix products the recurrent layers and Linear run, through
// tg::blas::gemm on OpenBLAS (float32), oneDNN (float32) and oneDNN (bf16): the table behind
// the float32 shape rule in autograd/blas.cpp.
//
//   bench_products [rounds]      (one thread; rounds alternate the three providers)
#include <fmt/format.h>

#include <algorithm>
#include <cstdlib>
#include <string>
#include <vector>

#include "tapegrad/autograd/autocast.hpp"
#include "tapegrad/autograd/blas.hpp"
#include "tapegrad/autograd/tensor.hpp"
#include "bench_util.hpp"

using namespace tg;

namespace {

// C[m,n] (+)= op(A) op(B) as the layers call it; `prepared`: B prepared once (a recurrent step's
// weights), else converted in every call.
struct Shape3 {
  std::string use;
  bool trans_a, trans_b;
  int m, n, k;
  bool accumulate, prepared;
};

std::vector<Shape3> shapes() {
  std::vector<Shape3> out;
  for (int batch : {32, 256})
    for (int hidden : {128, 512}) {
      const int rows = 64 * batch, gh = 4 * hidden;
      const std::string at = fmt::format("B {} H {}", batch, hidden);
      out.push_back({"step h W_hh^T, " + at, false, true, batch, gh, hidden, true, true});
      out.push_back({"step dG W_hh, " + at, false, false, batch, hidden, gh, true, true});
      out.push_back({"input x W_ih^T (64 steps), " + at, false, true, rows, gh, hidden, true,
                     false});
      out.push_back({"dX = dG W_ih (64 steps), " + at, false, false, rows, hidden, gh, false,
                     false});
      out.push_back({"dW = dG^T X (64 steps), " + at, true, false, gh, hidden, rows, false,
                     false});
    }
  out.push_back({"Linear 32x128 -> 28", false, true, 32, 28, 128, true, false});
  out.push_back({"Linear 64x128 -> 18", false, true, 64, 18, 128, true, false});
  return out;
}

enum class Side { OpenBlas, OneDnnF32, Bf16 };

double gflops(const Shape3& s, Side side) {
  blas::set_float32_provider(side == Side::OneDnnF32 ? blas::Float32Provider::OneDnn
                                                     : blas::Float32Provider::OpenBlas);
  const MatmulPrecision precision =
      side == Side::Bf16 ? MatmulPrecision::BFloat16 : MatmulPrecision::Float32;
  const std::size_t ka = s.trans_a ? s.k : s.m, kb = s.trans_b ? s.n : s.k;
  const int lda = s.trans_a ? s.m : s.k, ldb = s.trans_b ? s.k : s.n;
  const Tensor a = Tensor::uniform({ka, std::size_t(s.trans_a ? s.m : s.k)}, -1, 1);
  const Tensor b = Tensor::uniform({kb, std::size_t(s.trans_b ? s.k : s.n)}, -1, 1);
  Tensor c = Tensor::zeros({std::size_t(s.m), std::size_t(s.n)});
  const float beta = s.accumulate ? 1.0f : 0.0f;
  const auto prepared = s.prepared ? blas::prepare_b<float>(precision, s.trans_a, s.trans_b, s.m,
                                                            s.n, s.k, lda, b.value().data(), ldb,
                                                            beta, s.n)
                                   : nullptr;
  const blas::How how{precision, prepared.get()};
  const double flops = 2.0 * s.m * s.n * s.k;
  const int iters = std::max(1, static_cast<int>(2e9 / flops));  // ~10-20 ms per sample
  auto run = [&] {
    for (int i = 0; i < iters; ++i)
      blas::gemm<float>(s.trans_a, s.trans_b, s.m, s.n, s.k, 1.0f, a.value().data(), lda,
                        b.value().data(), ldb, beta, c.mutable_value().data(), s.n, how);
  };
  run();  // warm-up: primitive creation
  const double t = bench::median_seconds(5, run);
  blas::set_float32_provider(blas::Float32Provider::Auto);
  return flops * iters / t / 1e9;
}

}  // namespace

int main(int argc, char** argv) {
  const int rounds = argc > 1 ? std::max(1, std::atoi(argv[1])) : 3;
  blas::set_num_threads(1);
  fmt::print("{}\n", blas::describe());
  fmt::print("GFLOP/s through tg::blas::gemm, 1 thread, median of {} alternating rounds "
             "(each the median of 5 samples)\n\n",
             rounds);
  fmt::print("| product | M x K x N | OpenBLAS f32 | oneDNN f32 | oneDNN bf16 | oneDNN f32 / "
             "OpenBLAS |\n|---|---|---|---|---|---|\n");
  for (const Shape3& s : shapes()) {
    std::vector<double> blas_f32, dnnl_f32, bf16;
    for (int r = 0; r < rounds; ++r) {
      blas_f32.push_back(gflops(s, Side::OpenBlas));
      dnnl_f32.push_back(gflops(s, Side::OneDnnF32));
      bf16.push_back(gflops(s, Side::Bf16));
    }
    auto median = [](std::vector<double> v) {
      std::sort(v.begin(), v.end());
      return v[v.size() / 2];
    };
    const double o = median(blas_f32), d = median(dnnl_f32), h = median(bf16);
    fmt::print("| {}{} | {} x {} x {} | {:.0f} | {:.0f} | {:.0f} | {:.2f} |\n", s.use,
               s.prepared ? " (B prepared)" : "", s.m, s.k, s.n, o, d, h, d / o);
    std::fflush(stdout);
  }
}
