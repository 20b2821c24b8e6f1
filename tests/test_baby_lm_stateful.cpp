// baby_lm's stateful training step (truncated BPTT): the state crosses from one batch to the next,
// the gradient does not. Part of the test_baby_lm program; the whole stateful run (losses fall,
// reproducible) is in test_training_runs.cpp.
#include <catch2/catch.hpp>

#include <filesystem>
#include <vector>

#include "tapegrad/autograd/ops/loss.hpp"
#include "baby_lm/corpus.hpp"
#include "baby_lm/model.hpp"

using namespace tg;
using namespace tg::baby_lm;

namespace {

const std::filesystem::path kShipped = std::filesystem::path(TAPEGRAD_SOURCE_DIR) / "data/baby/phrases.txt";

// Two batches as train_stateful runs them: forward from `state0`, then from the first batch's
// final state, detached or not, and backward through the second batch's loss only.
struct TwoBatches {
  std::unique_ptr<BabyLM> model;
  LmState state0;     // leaves requiring grad: a gradient reaching them crossed into batch 1
  LmState carried;    // the state batch 2 started from
  LmState first_out;  // batch 1's final state
  std::vector<std::vector<double>> grads;  // of every parameter, after batch 2's backward
  double loss = 0;

  explicit TwoBatches(bool detach_between) {
    const Corpus corpus = load_corpus(kShipped);
    const StreamBatches batches(corpus.ids, 4, 16, "shipped");
    Generator gen(3);
    ModelConfig config;
    config.vocab = corpus.vocab.size();
    config.embed = 8;
    config.units = 16;
    config.dropout = 0.0;  // no masks: the runs below must be comparable exactly
    model = std::make_unique<BabyLM>(config, gen);
    model->train();
    for (std::size_t l = 0; l < config.layers; ++l)
      state0.push_back({Tensor::full({1, 4, 16}, 0.1, DType::Float32, true),
                        Tensor::full({1, 4, 16}, -0.1, DType::Float32, true)});
    Indices inputs, targets;
    batches.batch(0, inputs, targets);
    const LmOutput out1 = model->forward(inputs, state0, true);
    first_out = out1.state;
    carried = detach_between ? baby_lm::detach(out1.state) : out1.state;
    batches.batch(1, inputs, targets);
    const LmOutput out2 = model->forward(inputs, carried, true);
    const Tensor l = cross_entropy(out2.logits, Indices(targets.data));
    model->zero_grad();
    l.backward();
    loss = l.item();
    for (const Tensor& p : model->parameters())
      grads.push_back(p.has_grad() ? p.grad_tensor().to_vector() : std::vector<double>());
  }
};

bool any_state_grad(const LmState& state) {
  for (const nn::RecurrentState& s : state)
    if (s.h.has_grad() || s.c.has_grad()) return true;
  return false;
}

}  // namespace

TEST_CASE("stateful training: the state crosses the detach, the gradient does not",
          "[baby_lm][stateful]") {
  const TwoBatches cut(true);
  REQUIRE(cut.carried.size() == 2);
  for (std::size_t l = 0; l < cut.carried.size(); ++l) {
    INFO("layer " << l);
    // The values carry over unchanged...
    CHECK(cut.carried[l].h.to_vector() == cut.first_out[l].h.to_vector());
    CHECK(cut.carried[l].c.to_vector() == cut.first_out[l].c.to_vector());
    // ...as leaves that record nothing.
    CHECK(cut.carried[l].h.is_leaf());
    CHECK_FALSE(cut.carried[l].h.requires_grad());
    CHECK_FALSE(cut.carried[l].c.requires_grad());
  }
  // Batch 2's loss trains the parameters but reaches nothing before the cut.
  for (const auto& g : cut.grads) CHECK_FALSE(g.empty());
  CHECK_FALSE(any_state_grad(cut.state0));

  // The same gradients as batch 2 alone from a state of plain values: nothing of batch 1's graph
  // took part in the backward.
  LmState values;
  for (const nn::RecurrentState& s : cut.first_out)
    values.push_back({Tensor::from_vector(s.h.to_vector(), s.h.shape()),
                      Tensor::from_vector(s.c.to_vector(), s.c.shape())});
  std::vector<std::vector<double>> alone;
  {
    const Corpus corpus = load_corpus(kShipped);
    const StreamBatches batches(corpus.ids, 4, 16, "shipped");
    Indices inputs, targets;
    batches.batch(1, inputs, targets);
    const LmOutput out2 = cut.model->forward(inputs, values, true);
    const Tensor l = cross_entropy(out2.logits, Indices(targets.data));
    cut.model->zero_grad();
    l.backward();
    CHECK(l.item() == cut.loss);
    for (const Tensor& p : cut.model->parameters()) alone.push_back(p.grad_tensor().to_vector());
  }
  CHECK(alone == cut.grads);

  // The checks can fail: without the detach the gradient reaches batch 1's initial state and the
  // parameter gradients change (they now include batch 1's part).
  const TwoBatches through(false);
  CHECK(any_state_grad(through.state0));
  CHECK(through.loss == cut.loss);  // same forward
  CHECK_FALSE(through.grads == cut.grads);
}
