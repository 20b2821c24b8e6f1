// Quickstart: a two-layer network learns a non-linear boundary; the README shows this program.
#include <tapegrad.hpp>

#include <cstdio>

int main() {
  using namespace tg;
  manual_seed(0);
  // 512 points in [-1,1]^2, labelled 1 where x*y > 0 (opposite quadrants): not linearly separable.
  const Tensor x = Tensor::uniform({512, 2}, -1, 1);
  std::vector<std::int64_t> labels;
  for (std::size_t i = 0; i < 512; ++i) labels.push_back(x.value()(i, 0) * x.value()(i, 1) > 0);
  const Indices y(labels);

  nn::Sequential model({std::make_shared<nn::Linear>(2, 16), std::make_shared<nn::Tanh>(),
                        std::make_shared<nn::Linear>(16, 2)});
  optim::AdamOptions options;
  options.lr = 0.05;
  optim::Adam optimizer(model.named_parameters(), options);

  for (int step = 0; step <= 300; ++step) {
    const Tensor loss = cross_entropy(model(x), y);
    optimizer.zero_grad();
    loss.backward();  // replays the tape in reverse
    optimizer.step();
    if (step % 50 == 0) std::printf("step %3d  loss %.4f\n", step, loss.item());
  }
}
