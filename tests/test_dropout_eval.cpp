// Dropout in evaluation mode is exactly no dropout: for the Dropout module, a Sequential holding
// one, and the recurrent layers' dropout between stacked layers. The older tests reseed the masks
// on every call, so they would pass with dropout active in evaluation; these compare against a
// model that has no dropout at all, bit for bit, and prove the comparison can fail by running the
// same model in training mode.
#include <catch2/catch.hpp>

#include <memory>
#include <vector>

#include "tapegrad/autograd/ops.hpp"
#include "tapegrad/nn/nn.hpp"

using namespace tg;
using nn::CellKind;

namespace {

std::shared_ptr<nn::RecurrentLayer> make_layer(CellKind kind, double dropout) {
  Generator gen(11);  // the same weights whatever the dropout
  const auto o = nn::RecurrentOptions(5, 8).num_layers(3).bidirectional(true).dropout(dropout);
  return nn::make_recurrent_layer(kind, o, gen);
}

// Outputs (output, last, h_n, c_n) and every parameter's and the input's gradient.
std::vector<std::vector<double>> run(nn::RecurrentLayer& layer) {
  Generator gen(12);
  const Tensor x = Tensor::uniform({4, 3, 5}, -1, 1, DType::Float32, gen).set_requires_grad();
  layer.zero_grad();
  const nn::RecurrentOutput out = layer.forward(x, {}, {4, 2, 3});
  std::vector<std::vector<double>> r{out.output.to_vector(), out.last.to_vector(),
                                     out.state.h.to_vector()};
  if (out.state.c.defined()) r.push_back(out.state.c.to_vector());
  Tensor loss = sum(out.output * out.output) + sum(out.state.h);
  loss.backward();
  r.push_back(x.grad_tensor().to_vector());
  for (const Tensor& p : layer.parameters()) r.push_back(p.grad_tensor().to_vector());
  return r;
}

}  // namespace

TEST_CASE("recurrent layers: dropout in evaluation mode equals no dropout, bit for bit",
          "[recurrent][dropout]") {
  for (CellKind kind : nn::kCellKinds) {
    auto with = make_layer(kind, 0.5), without = make_layer(kind, 0.0);
    INFO("cell kind " << static_cast<int>(kind));
    for (std::size_t i = 0; i < with->parameters().size(); ++i)
      REQUIRE(with->parameters()[i].to_vector() == without->parameters()[i].to_vector());
    without->eval();
    const auto reference = run(*without);
    with->eval();
    CHECK(run(*with) == reference);
    CHECK(run(*with) == reference);  // and again: no mask drawn in between
    // The comparison can fail: in training mode the masks are applied.
    with->train();
    CHECK_FALSE(run(*with) == reference);
    // Back to evaluation, equal again (eval() is not a one-way switch).
    with->eval();
    CHECK(run(*with) == reference);
  }
}

TEST_CASE("Dropout and a Sequential holding one: evaluation mode is exactly no dropout",
          "[nn][dropout]") {
  Generator g1(21), g2(21);
  nn::Sequential with, without;
  with.add(std::make_shared<nn::Linear>(6, 16, true, g1));
  with.add(std::make_shared<nn::Tanh>());
  with.add(std::make_shared<nn::Dropout>(0.5));
  with.add(std::make_shared<nn::Linear>(16, 3, true, g1));
  without.add(std::make_shared<nn::Linear>(6, 16, true, g2));
  without.add(std::make_shared<nn::Tanh>());
  without.add(std::make_shared<nn::Linear>(16, 3, true, g2));
  Generator gx(22);
  const Tensor x = Tensor::uniform({10, 6}, -1, 1, DType::Float32, gx);
  auto outputs_and_grads = [&](nn::Sequential& model) {
    model.zero_grad();
    const Tensor y = model(x);
    sum(y * y).backward();
    std::vector<std::vector<double>> r{y.to_vector()};
    for (const Tensor& p : model.parameters()) r.push_back(p.grad_tensor().to_vector());
    return r;
  };
  const auto reference = outputs_and_grads(without);
  with.eval();
  CHECK(outputs_and_grads(with) == reference);
  with.train();
  CHECK_FALSE(outputs_and_grads(with) == reference);

  // The module alone: the identity, and a gradient of exactly one.
  nn::Dropout drop(0.9);
  drop.eval();
  const Tensor z = Tensor::uniform({50}, -1, 1, DType::Float32, gx).set_requires_grad();
  const Tensor out = drop(z);
  CHECK(out.to_vector() == z.to_vector());
  sum(out).backward();
  CHECK(z.grad_tensor().to_vector() == std::vector<double>(50, 1.0));
}
