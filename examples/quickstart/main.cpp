// Quickstart: a two-layer network learns XOR-like quadrants; the README shows this program.
#include <tapegrad.hpp>

#include <cstdio>

int main() {
  using namespace tg;
  manual_seed(0);
  // 256 points in [-1,1]^2; the label is 1 where x*y > 0 (two opposite quadrants).
  const Tensor x = Tensor::uniform({256, 2}, -1, 1);
  std::vector<std::int64_t> labels;
  for (std::size_t i = 0; i < 256; ++i) labels.push_back(x.value()(i, 0) * x.value()(i, 1) > 0);
  const Indices y(labels);

  const Tensor w1 = Tensor::uniform({16, 2}, -0.7, 0.7).set_requires_grad();
  const Tensor b1 = Tensor::zeros({16}, DType::Float32, true);
  const Tensor w2 = Tensor::uniform({2, 16}, -0.25, 0.25).set_requires_grad();
  const Tensor b2 = Tensor::zeros({2}, DType::Float32, true);

  for (int step = 0; step <= 500; ++step) {
    const Tensor loss = cross_entropy(linear(tanh(linear(x, w1, b1)), w2, b2), y);
    for (const Tensor& p : {w1, b1, w2, b2}) p.zero_grad();
    loss.backward();
    for (const Tensor& p : {w1, b1, w2, b2}) p.value() -= 0.5f * p.grad();  // plain SGD
    if (step % 100 == 0) std::printf("step %3d  loss %.4f\n", step, loss.item());
  }
}
