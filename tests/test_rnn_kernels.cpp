// The recurrent layers' hand-written matrix-vector kernels against a plain triple loop.
#include <catch2/catch.hpp>

#include <cstddef>
#include <vector>

#include "tapegrad/autograd/random.hpp"
#include "nn/rnn_kernels.hpp"

namespace {

template <class T>
std::vector<T> random_values(std::size_t n, tg::Generator& gen) {
  std::vector<T> v(n);
  for (T& x : v) x = static_cast<T>(gen.uniform(-1, 1));
  return v;
}

// Sizes that cover the four-vector blocks, the single vectors and the scalar tails of both
// float (16 lanes with AVX-512) and double.
const std::size_t kSizes[] = {1, 3, 8, 15, 16, 17, 33, 64, 65, 100, 130};

template <class T>
void check_row_times(T tolerance) {
  tg::Generator gen(7);
  for (std::size_t k : {1, 5, 64}) {
    for (std::size_t n : kSizes) {
      for (bool accumulate : {false, true}) {
        const std::size_t ldw = n + 3;  // a leading dimension wider than the row
        const std::vector<T> x = random_values<T>(k, gen), w = random_values<T>(k * ldw, gen);
        std::vector<T> y = random_values<T>(n, gen), expected = y;
        for (std::size_t j = 0; j < n; ++j) {
          T s(0);
          for (std::size_t q = 0; q < k; ++q) s += x[q] * w[q * ldw + j];
          expected[j] = accumulate ? expected[j] + s : s;
        }
        tg::nn::row_times(x.data(), w.data(), k, n, ldw, y.data(), accumulate);
        for (std::size_t j = 0; j < n; ++j)
          REQUIRE(y[j] == Approx(expected[j]).margin(tolerance));
      }
    }
  }
}

template <class T>
void check_row_times_transposed(T tolerance) {
  tg::Generator gen(8);
  for (std::size_t k : kSizes) {
    for (std::size_t n : {1, 4, 7, 9}) {
      for (bool accumulate : {false, true}) {
        const std::vector<T> x = random_values<T>(k, gen), w = random_values<T>(n * k, gen);
        std::vector<T> y = random_values<T>(n, gen), expected = y;
        for (std::size_t j = 0; j < n; ++j) {
          T s(0);
          for (std::size_t q = 0; q < k; ++q) s += w[j * k + q] * x[q];
          expected[j] = accumulate ? expected[j] + s : s;
        }
        tg::nn::row_times_transposed(x.data(), w.data(), n, k, y.data(), accumulate);
        for (std::size_t j = 0; j < n; ++j)
          REQUIRE(y[j] == Approx(expected[j]).margin(tolerance));
      }
    }
  }
}

}  // namespace

TEST_CASE("row_times: x W of one row, every block and tail size", "[rnn_kernels]") {
  check_row_times<float>(1e-4f);
  check_row_times<double>(1e-12);
}

TEST_CASE("row_times_transposed: x W^T of one row, every block and tail size", "[rnn_kernels]") {
  check_row_times_transposed<float>(1e-4f);
  check_row_times_transposed<double>(1e-12);
}
