// GFLOP/s of single matrix products straight on oneDNN and OpenBLAS, nothing of tapegrad between:
// the probe behind issue 17's table, to tell this machine's bf16 ceiling from tapegrad's overhead.
// One thread; a oneDNN matmul primitive is created once per shape, its weights in the layout it
// picks (format_tag::any) and converted beforehand, its source already bf16 for the bf16 column;
// each figure is the median of 7 timed runs after a warm-up run. Usage: onednn_probe [M,K,N ...]
#include <cblas.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include <oneapi/dnnl/dnnl.hpp>

namespace {

using Clock = std::chrono::steady_clock;
using dnnl::memory;

struct Shape {
  int m, k, n;
  double flops() const { return 2.0 * m * k * n; }
};

// Median GFLOP/s of `product`, each run repeated to last ~0.1 s.
template <class F>
double median_gflops(const Shape& s, F&& product) {
  product();  // warm-up (and first-touch of the buffers)
  const int calls = std::max(1, int(2e10 / s.flops()));
  std::vector<double> rates;
  for (int run = 0; run < 7; ++run) {
    const auto t0 = Clock::now();
    for (int i = 0; i < calls; ++i) product();
    const double seconds = std::chrono::duration<double>(Clock::now() - t0).count();
    rates.push_back(s.flops() * calls / seconds / 1e9);
  }
  std::nth_element(rates.begin(), rates.begin() + 3, rates.end());
  return rates[3];
}

double onednn_gflops(dnnl::engine& engine, dnnl::stream& stream, const Shape& s,
                     memory::data_type type) {
  using tag = memory::format_tag;
  const memory::desc a({s.m, s.k}, type, tag::ab), b_plain({s.k, s.n}, type, tag::ab),
      b_any({s.k, s.n}, type, tag::any), c({s.m, s.n}, memory::data_type::f32, tag::ab);
  const dnnl::matmul::primitive_desc pd(dnnl::matmul::desc(a, b_any, c), engine);
  memory a_mem(a, engine), b_mem(b_plain, engine), weights(pd.weights_desc(), engine), c_mem(c, engine);
  // 0x3c bytes: small non-zero values (about 0.0115) in float32 and in bf16 alike.
  std::memset(a_mem.get_data_handle(), 0x3c, a.get_size());
  std::memset(b_mem.get_data_handle(), 0x3c, b_plain.get_size());
  dnnl::reorder(b_mem, weights).execute(stream, b_mem, weights);
  stream.wait();
  const dnnl::matmul product(pd);
  return median_gflops(s, [&] {
    product.execute(stream, {{DNNL_ARG_SRC, a_mem}, {DNNL_ARG_WEIGHTS, weights}, {DNNL_ARG_DST, c_mem}});
    stream.wait();
  });
}

double openblas_gflops(const Shape& s) {
  std::vector<float> a(std::size_t(s.m) * s.k, 0.0115f), b(std::size_t(s.k) * s.n, 0.0115f),
      c(std::size_t(s.m) * s.n);
  return median_gflops(s, [&] {
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, s.m, s.n, s.k, 1.0f, a.data(), s.k,
                b.data(), s.n, 0.0f, c.data(), s.n);
  });
}

}  // namespace

int main(int argc, char** argv) {
  // The four shapes, then a recurrent step's at batch 256 / hidden 512 and the input
  // projection over 64 such steps.
  std::vector<Shape> shapes{{32, 256, 512},   {32, 1024, 2048},  {256, 1024, 2048},
                            {2048, 2048, 2048}, {256, 512, 2048}, {256, 2048, 512},
                            {16384, 512, 2048}};
  if (argc > 1) shapes.clear();
  for (int i = 1; i < argc; ++i) {
    Shape s{};
    if (std::sscanf(argv[i], "%d,%d,%d", &s.m, &s.k, &s.n) != 3 || s.m <= 0 || s.k <= 0 || s.n <= 0) {
      std::fprintf(stderr, "onednn_probe: %s: expected M,K,N (positive integers)\n", argv[i]);
      return 2;
    }
    shapes.push_back(s);
  }
  openblas_set_num_threads(1);
  dnnl::engine engine(dnnl::engine::kind::cpu, 0);
  dnnl::stream stream(engine);
  // OpenBLAS picks its kernel when it loads (tapegrad switches it later, this probe does not):
  // start with OPENBLAS_CORETYPE=Cooperlake on AVX-512 CPUs to compare with tapegrad's.
  std::printf("1 thread; OpenBLAS kernel %s; oneDNN %d.%d.%d\n\n", openblas_get_corename(),
              dnnl_version()->major, dnnl_version()->minor, dnnl_version()->patch);
  std::printf("| M x K x N | OpenBLAS sgemm | oneDNN f32 | oneDNN bf16 |\n|---|---|---|---|\n");
  for (const Shape& s : shapes)
    std::printf("| %d x %d x %d | %.0f | %.0f | %.0f |\n", s.m, s.k, s.n, openblas_gflops(s),
                onednn_gflops(engine, stream, s, memory::data_type::f32),
                onednn_gflops(engine, stream, s, memory::data_type::bf16));
}
