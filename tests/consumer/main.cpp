// Fits y = 3x - 1 with an installed tapegrad; exits non-zero if it does not learn.
#include <tapegrad.hpp>
#include <tapegrad/nn/linear.hpp>

// The package config makes Release the build type when the project sets none (this project does
// not): tapegrad's templates run ~60x slower unoptimised.
#if !defined(__OPTIMIZE__)
#error "the consumer was built without optimisation: tapegrad's package config should give Release"
#endif

#include <cmath>
#include <cstdio>

int main() {
  using namespace tg;
  const Tensor x = Tensor::from_vector({-1, -0.5, 0, 0.5, 1}, {5, 1});
  const Tensor y = Tensor::from_vector({-4, -2.5, -1, 0.5, 2}, {5, 1});
  const Tensor w = Tensor::zeros({1, 1}, DType::Float32, true);
  const Tensor b = Tensor::zeros({1}, DType::Float32, true);
  double loss_value = 0;
  for (int step = 0; step < 200; ++step) {
    const Tensor d = linear(x, w, b) - y;
    const Tensor loss = mean(d * d);
    w.zero_grad();
    b.zero_grad();
    loss.backward();
    w.mutable_value() -= 0.1f * w.grad();
    b.mutable_value() -= 0.1f * b.grad();
    loss_value = loss.item();
  }
  std::printf("w=%.3f b=%.3f loss=%.2e\n", w.item(), b.item(), loss_value);
  return std::abs(w.item() - 3) < 1e-2 && std::abs(b.item() + 1) < 1e-2 ? 0 : 1;
}
