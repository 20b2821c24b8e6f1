// What tapegrad does to the process it is linked into: nothing at load (OpenBLAS's kernel and the
// environment stay as they were until the first product), manual_seed seeds every thread, and
// oneDNN's plan cache is bounded. CTest runs each test case in a process of its own.
#include <catch2/catch.hpp>

#include <cstdlib>
#include <future>
#include <string>
#include <thread>
#include <vector>

#include "autograd/dnnl_matmul.hpp"
#include "tapegrad/autograd/blas.hpp"
#include "tapegrad/autograd/ops.hpp"
#include "tapegrad/autograd/random.hpp"
#include "skip.hpp"

// OpenBLAS's own report of its kernel (declared here: <cblas.h> clashes with xtensor-blas).
extern "C" char* openblas_get_corename(void);

using namespace tg;

namespace {

std::string environment_value(const char* name) {
  const char* v = std::getenv(name);
  return v ? std::string("=") + v : std::string("(unset)");
}

}  // namespace

TEST_CASE("linking tapegrad changes nothing until the first product", "[process]") {
  // Nothing has multiplied in this process yet (CTest runs this test case alone).
  CHECK_FALSE(blas::kernel_selected());
  const std::string kernel = openblas_get_corename();
  const std::string coretype = environment_value("OPENBLAS_CORETYPE");
  // Tensors and element-wise ops, with a backward, are not products.
  const Tensor x = Tensor::uniform({4, 5}, -1, 1).set_requires_grad();
  sum(tanh(x) * x + 1.0).backward();
  CHECK_FALSE(blas::kernel_selected());
  CHECK(openblas_get_corename() == kernel);
  CHECK(environment_value("OPENBLAS_CORETYPE") == coretype);
  // The first product makes the choice (and restores the environment it set for OpenBLAS).
  const Tensor y = matmul(x, transpose(x));
  CHECK(blas::kernel_selected());
  CHECK(environment_value("OPENBLAS_CORETYPE") == coretype);
  WARN("OpenBLAS chose " << kernel << "; in use after the first product: "
                         << openblas_get_corename() << " (" << blas::info().configured << ")");
}

TEST_CASE("select_kernel makes the choice explicitly", "[process]") {
  // Alone in its process under CTest; run with the others in one process, an earlier test made it.
  const bool earlier = blas::kernel_selected();
  blas::select_kernel();
  CHECK(blas::kernel_selected());
  CHECK_FALSE(blas::info().configured.empty());
  if (earlier) WARN("the kernel was chosen by an earlier test in this process");
}

TEST_CASE("manual_seed seeds every thread with a stream of its own", "[process]") {
  auto first_draws = [] {
    std::vector<std::uint64_t> v;
    for (int i = 0; i < 4; ++i) v.push_back(default_generator().next_u64());
    return v;
  };
  auto in_new_thread = [&] {
    std::vector<std::uint64_t> v;
    std::thread([&] { v = first_draws(); }).join();
    return v;
  };
  manual_seed(7);
  const auto main_draws = first_draws();
  Generator exact(7);
  CHECK(main_draws[0] == exact.next_u64());  // the first thread's stream is the seed itself
  const auto a = in_new_thread();
  const auto b = in_new_thread();
  CHECK(a != main_draws);
  CHECK(b != a);  // threads get streams of their own
  Generator unseeded;  // what every thread drew before: the same 5489 stream in all of them
  CHECK(a[0] != unseeded.next_u64());

  // Reseeding restarts the caller at once, and a thread that lives on at its next draw.
  std::promise<void> drawn, reseeded;
  std::vector<std::uint64_t> worker_first, worker_again;
  std::thread worker([&] {
    worker_first = first_draws();
    drawn.set_value();
    reseeded.get_future().wait();
    worker_again = first_draws();
  });
  drawn.get_future().wait();
  manual_seed(11);
  CHECK(first_draws() != main_draws);
  manual_seed(7);
  reseeded.set_value();
  worker.join();
  CHECK(first_draws() == main_draws);
  CHECK(worker_again == worker_first);  // restarted, not continued
}

TEST_CASE("oneDNN's plan cache keeps at most kMaxPlans plans", "[process]") {
  if (!dnnl_matmul::available()) TG_SKIP(tg::testing::kNeedsBf16, "built without oneDNN");
  blas::set_float32_provider(blas::Float32Provider::OneDnn);
  const std::size_t shapes = dnnl_matmul::kMaxPlans + 40;
  std::vector<float> a(shapes * 8, 1.0f), b(8 * 8, 1.0f), c(shapes * 8, 0.0f);
  for (std::size_t m = 1; m <= shapes; ++m)  // a product of each row count: a plan per shape
    blas::gemm<float>(false, false, static_cast<int>(m), 8, 8, 1.0f, a.data(), 8, b.data(), 8,
                      0.0f, c.data(), 8);
  blas::set_float32_provider(blas::Float32Provider::Auto);
  INFO(dnnl_matmul::cached_plans() << " plans cached after " << shapes << " shapes");
  CHECK(dnnl_matmul::cached_plans() <= dnnl_matmul::kMaxPlans);
  CHECK(dnnl_matmul::cached_plans() > dnnl_matmul::kMaxPlans / 2);  // the cache was used
  CHECK(c[0] == 8.0f);
}
