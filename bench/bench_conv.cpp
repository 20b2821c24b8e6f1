// conv1d forward and forward+backward timings through tapegrad, one JSON line per workload:
// tapegrad's side of bench/compare_conv.py (which times PyTorch on the same shapes and prints
// the ratios). Usage: bench_conv [--threads 1] [--repeats 7] [--min-seconds 0.3]
// [--provider auto|openblas|onednn]
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "bench_util.hpp"
#include "tapegrad/autograd/blas.hpp"
#include "tapegrad/autograd/ops.hpp"
#include "tapegrad/autograd/tape.hpp"

namespace {

struct Workload {
  std::size_t n, c, l, k;
};

// Seconds per call of f: the median over `repeats` of runs that last at least min_seconds.
template <class F>
double seconds_per_call(int repeats, double min_seconds, F&& f) {
  f();  // warm-up (allocations, BLAS kernel choice)
  int calls = 1;
  for (;;) {
    const double start = tg::bench::now_seconds();
    for (int i = 0; i < calls; ++i) f();
    if (tg::bench::now_seconds() - start >= min_seconds / 4) break;
    calls *= 2;
  }
  calls = std::max(1, static_cast<int>(calls * 4));
  return tg::bench::median_seconds(repeats, [&] {
           for (int i = 0; i < calls; ++i) f();
         }) /
         calls;
}

}  // namespace

int main(int argc, char** argv) {
  int threads = 1, repeats = 7;
  double min_seconds = 0.3;
  std::string provider = "auto";  // which library runs float32 products: auto, openblas, onednn
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i];
    if (flag == "--threads") threads = std::atoi(argv[i + 1]);
    else if (flag == "--repeats") repeats = std::atoi(argv[i + 1]);
    else if (flag == "--min-seconds") min_seconds = std::atof(argv[i + 1]);
    else if (flag == "--provider") provider = argv[i + 1];
    else {
      std::fprintf(stderr, "bench_conv: unknown flag %s\n", flag.c_str());
      return 2;
    }
  }
  tg::blas::set_num_threads(threads);
  if (provider == "openblas") tg::blas::set_float32_provider(tg::blas::Float32Provider::OpenBlas);
  else if (provider == "onednn") tg::blas::set_float32_provider(tg::blas::Float32Provider::OneDnn);
  const Workload workloads[] = {{32, 128, 64, 3}, {32, 128, 64, 5}};
  for (const Workload& w : workloads) {
    tg::Generator gen(1);
    const tg::Tensor x = tg::Tensor::normal({w.n, w.c, w.l}, 0, 1, tg::DType::Float32, gen);
    const tg::Tensor weight =
        tg::Tensor::normal({w.c, w.c, w.k}, 0, 0.05, tg::DType::Float32, gen).set_requires_grad();
    const tg::Tensor bias =
        tg::Tensor::normal({w.c}, 0, 0.05, tg::DType::Float32, gen).set_requires_grad();
    const tg::Tensor seed = tg::Tensor::normal({w.n, w.c, w.l}, 0, 1, tg::DType::Float32, gen);
    x.set_requires_grad();
    const double forward = seconds_per_call(repeats, min_seconds, [&] {
      tg::NoGradGuard no_grad;
      const tg::Tensor y = tg::conv1d(x, weight, bias, 1, tg::PaddingMode::Same);
    });
    const double training = seconds_per_call(repeats, min_seconds, [&] {
      const tg::Tensor y = tg::conv1d(x, weight, bias, 1, tg::PaddingMode::Same);
      y.backward(seed);
      x.zero_grad();
      weight.zero_grad();
      bias.zero_grad();
    });
    // The forward's product alone ([C, C*K] x [C*K, N*L]): the floor im2col + GEMM can reach.
    std::vector<float> a(w.c * w.c * w.k, 0.01f), b(w.c * w.k * w.n * w.l, 0.02f),
        out(w.c * w.n * w.l);
    const int m = static_cast<int>(w.c), cols = static_cast<int>(w.n * w.l),
              inner = static_cast<int>(w.c * w.k);
    const double product = seconds_per_call(repeats, min_seconds, [&] {
      tg::blas::gemm<float>(false, false, m, cols, inner, 1.0f, a.data(), inner, b.data(), cols,
                            0.0f, out.data(), cols);
    });
    std::printf("{\"side\": \"tapegrad\", \"n\": %zu, \"c\": %zu, \"l\": %zu, \"k\": %zu, "
                "\"threads\": %d, \"forward_ms\": %.4f, \"forward_backward_ms\": %.4f, "
                "\"forward_product_ms\": %.4f, \"provider\": \"%s\", \"blas\": \"%s\"}\n",
                w.n, w.c, w.l, w.k, threads, forward * 1e3, training * 1e3, product * 1e3, provider.c_str(),
                tg::blas::describe().c_str());
    std::fflush(stdout);
  }
  return 0;
}
