// Graphs are per thread: two std::threads each build and back-propagate their own model at the
// same time, and each gets exactly what it gets alone. (The tape is thread-local; a shared one
// would mix the two threads' nodes, and backward would run the other thread's closures.)
#include <catch2/catch.hpp>

#include <atomic>
#include <thread>
#include <vector>

#include "tapegrad/autograd/ops.hpp"
#include "tapegrad/nn/nn.hpp"
#include "tapegrad/optim/optim.hpp"

using namespace tg;

namespace {

// A short training run: embedding-free LSTM + Linear regression, SGD, fixed data from `seed`.
// Returns every loss and the final parameters. `go` (if given) is waited for before starting,
// so that two threads start together and their graphs are alive at the same time.
std::vector<std::vector<double>> train(std::uint64_t seed, const std::atomic<int>* go = nullptr) {
  if (go)
    while (go->load() == 0) std::this_thread::yield();
  Generator gen(seed);  // the thread's own: the default generator is shared, not thread-safe
  nn::LSTM lstm(nn::RecurrentOptions(4, 24), gen);
  nn::Linear head(24, 2, true, gen);
  const Tensor x = Tensor::uniform({6, 8, 4}, -1, 1, DType::Float32, gen);
  const Tensor y = Tensor::uniform({8, 2}, -1, 1, DType::Float32, gen);
  nn::NamedTensors params = lstm.named_parameters();
  for (const auto& p : head.named_parameters()) params.push_back({"head." + p.first, p.second});
  optim::SGD sgd(params, optim::SGDOptions{0.1});
  std::vector<double> losses;
  for (int step = 0; step < 30; ++step) {
    sgd.zero_grad();
    const nn::RecurrentOutput out = lstm.forward(x, {});
    const Tensor loss = mse_loss(head(out.last), y);
    loss.backward();
    sgd.step();
    losses.push_back(loss.item());
  }
  std::vector<std::vector<double>> result{losses};
  for (const auto& p : params) result.push_back(p.second.to_vector());
  return result;
}

}  // namespace

TEST_CASE("two threads train their own graphs at once, each as if alone", "[autograd][threads]") {
  const auto alone_a = train(1), alone_b = train(2);
  REQUIRE(alone_a.front().back() < alone_a.front().front());  // it trains
  // The comparison below can fail: the two runs differ.
  REQUIRE_FALSE(alone_a == alone_b);
  for (int round = 0; round < 3; ++round) {
    INFO("round " << round);
    std::atomic<int> go{0};
    std::vector<std::vector<double>> a, b;
    std::thread ta([&] { a = train(1, &go); });
    std::thread tb([&] { b = train(2, &go); });
    go.store(1);
    ta.join();
    tb.join();
    CHECK(a == alone_a);
    CHECK(b == alone_b);
  }
}

TEST_CASE("a graph built in one thread is not visible to another's backward",
          "[autograd][threads]") {
  const Tensor w = Tensor::full({3}, 2.0, DType::Float64, true);
  const Tensor loss = sum(w * w);  // recorded on this thread's graph
  // Another thread builds and runs its own graph with its own leaf in the meantime.
  std::vector<double> other_grad;
  std::thread t([&] {
    const Tensor v = Tensor::full({3}, 5.0, DType::Float64, true);
    sum(v * 3.0).backward();
    other_grad = v.grad_tensor().to_vector();
  });
  t.join();
  CHECK(other_grad == std::vector<double>(3, 3.0));
  CHECK_FALSE(w.has_grad());  // the other thread's backward did not run this graph
  loss.backward();
  CHECK(w.grad_tensor().to_vector() == std::vector<double>(3, 4.0));
}
