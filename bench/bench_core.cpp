// Core benchmark: matmul GFLOP/s through tapegrad, the framework overhead per recorded op, and
// what a transpose costs (x @ W^T written with transpose, as a custom cell may).
#include <fmt/format.h>

#include <cstdio>
#include <cstdlib>
#include <xtensor/xarray.hpp>

#include "tapegrad/autograd/blas.hpp"
#include "tapegrad/autograd/ops.hpp"
#include "tapegrad/autograd/tape.hpp"
#include "bench_util.hpp"
#include "tapegrad/nn/recurrent.hpp"

using namespace tg;

namespace {

double matmul_gflops(std::size_t n, int repeats) {
  const Tensor a = Tensor::uniform({n, n}, -1, 1);
  const Tensor b = Tensor::uniform({n, n}, -1, 1);
  // Enough products per sample for ~25 ms at 100 GFLOP/s, so timer noise does not matter.
  const int iters = std::max(1, static_cast<int>(2.5e9 / (2.0 * n * n * n)));
  matmul(a, b);  // warm-up: thread pool, caches
  const double t = bench::median_seconds(repeats, [&] {
    for (int i = 0; i < iters; ++i) matmul(a, b);
  });
  return 2.0 * n * n * n * iters / t / 1e9;
}

// Microseconds per element-wise op on [32,128], forward + backward: a recorded chain of `ops`
// multiplications replayed by backward, against the same arithmetic as raw xtensor expressions.
std::pair<double, double> op_overhead(int ops, int repeats) {
  const Tensor w = Tensor::uniform({32, 128}, 0.9, 1.1).set_requires_grad();
  const Tensor x = Tensor::uniform({32, 128}, -1, 1);
  const Tensor seed = Tensor::ones({32, 128});
  const double framework = bench::median_seconds(repeats, [&] {
    Tensor h = x;
    for (int i = 0; i < ops; ++i) h = h * w;
    w.zero_grad();
    h.backward(seed);
  });
  const auto& wv = w.value();
  const double raw = bench::median_seconds(repeats, [&] {
    std::vector<xt::xarray<float>> hs{x.value()};
    for (int i = 0; i < ops; ++i) hs.push_back(hs.back() * wv);
    xt::xarray<float> g = seed.value();
    xt::xarray<float> gw = xt::zeros<float>({32, 128});
    for (int i = ops; i-- > 0;) {
      gw += g * hs[i];
      g = g * wv;
    }
  });
  return {framework / ops * 1e6, raw / ops * 1e6};
}

// Milliseconds for transpose of a [2048, 512] weight and its backward into a gradient that
// already holds a value (the second use of a weight in a step), and for a [32, 64, 4, 32]
// attention-head permutation {0, 2, 1, 3} forward and backward.
std::pair<double, double> transpose_ms(int repeats) {
  const Tensor w = Tensor::uniform({2048, 512}, -1, 1).set_requires_grad();
  const Tensor seed = Tensor::ones({512, 2048});
  transpose(w).backward(seed);
  const double matrix = bench::median_seconds(repeats, [&] { transpose(w).backward(seed); });
  const Tensor h = Tensor::uniform({32, 64, 4, 32}, -1, 1).set_requires_grad();
  const Tensor head_seed = Tensor::ones({32, 4, 64, 32});
  const double heads = bench::median_seconds(repeats, [&] {
    h.zero_grad();
    transpose(h, {0, 2, 1, 3}).backward(head_seed);
  });
  return {matrix * 1e3, heads * 1e3};
}

// Resident memory of this process in MiB (/proc/self/statm: pages).
double resident_mib() {
  std::FILE* f = std::fopen("/proc/self/statm", "r");
  if (!f) return -1;
  long size = 0, resident = 0;
  const int read = std::fscanf(f, "%ld %ld", &size, &resident);
  std::fclose(f);
  return read == 2 ? resident * 4096.0 / (1 << 20) : -1;
}

// Forwards of a small LSTM that record (no NoGradGuard) and never call backward: the graph of
// each must go with its result, so nodes and resident memory stay flat.
void unguarded_forwards() {
  Generator gen(0);
  nn::RecurrentOptions o;
  o.input_size(32);
  o.hidden_size(128);
  nn::LSTM lstm(o, gen);
  const Tensor x = Tensor::uniform({15, 8, 32}, -1, 1, DType::Float32, gen);
  fmt::print("\nforwards of LSTM(32, 128) on [15, 8, 32] without NoGradGuard, no backward:\n");
  int done = 0;
  for (int until : {10, 100, 1000, 10000}) {
    for (; done < until; ++done) {
      const Tensor h = lstm.forward(x, {}).last;
      if (!h.requires_grad()) std::abort();  // the point is that these record
    }
    fmt::print("  after {:>6}: live nodes {}, resident memory {:.1f} MiB\n", done,
               live_node_count(), resident_mib());
  }
}

}  // namespace

int main(int argc, char** argv) {
  tg::tune_malloc_for_training();
  const int repeats = argc > 1 ? std::atoi(argv[1]) : 7;
  fmt::print("tapegrad core benchmark (median of {} repeats)\n", repeats);
  fmt::print("{}\n\n", blas::describe());
  fmt::print("{:>6} {:>10} {:>10}\n", "n", "1 thread", "2 threads");
  const int threads = blas::num_threads();
  for (std::size_t n : {128, 512, 1024}) {
    blas::set_num_threads(1);
    const double one = matmul_gflops(n, repeats);
    blas::set_num_threads(2);
    const double two = matmul_gflops(n, repeats);
    fmt::print("{:>6} {:>8.1f}GF {:>8.1f}GF\n", n, one, two);
  }
  blas::set_num_threads(threads);
  const auto [framework, raw] = op_overhead(200, repeats);
  fmt::print("\nelement-wise mul on [32,128], forward + backward, per op:\n");
  fmt::print("  tapegrad {:.2f} us, raw xtensor {:.2f} us, framework overhead {:.2f} us "
             "(target <= 2 us)\n",
             framework, raw, framework - raw);
  const auto [matrix, heads] = transpose_ms(repeats);
  fmt::print("\ntranspose, forward + backward: [2048,512] {:.3f} ms, [32,64,4,32] to heads "
             "{:.3f} ms\n", matrix, heads);
  unguarded_forwards();
}
