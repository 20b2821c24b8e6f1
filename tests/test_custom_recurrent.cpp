// Custom cells through the recurrent driver: an LSTM from ops against nn::LSTM, a gradcheck.
#include <catch2/catch.hpp>

#include <chrono>
#include <iostream>

#include "tapegrad/autograd/gradcheck.hpp"
#include "tapegrad/autograd/ops.hpp"
#include "tapegrad/autograd/tape.hpp"
#include "compare.hpp"
#include "tapegrad/nn/nn.hpp"
#include "nn/rnn_ops.hpp"

using namespace tg;

namespace {

Tensor random64(const Shape& shape, std::uint64_t seed, bool requires_grad = true) {
  Generator gen(seed);
  Tensor t = Tensor::uniform(shape, -1.0, 1.0, DType::Float64, gen);
  if (requires_grad) t.set_requires_grad();
  return t;
}

Tensor cols(const Tensor& t, std::size_t begin, std::size_t width) {
  return slice(t, 1, static_cast<long>(begin), static_cast<long>(begin + width));
}

// PyTorch's LSTM cell, written as a user would: gates i, f, g, o; the state is h|c.
class OpsLstmCell : public nn::CustomCell {
 public:
  OpsLstmCell(std::size_t in, std::size_t hidden, Generator& gen) : hidden_(hidden) {
    const std::size_t gh = 4 * hidden;
    w_ih_ = register_parameter("weight_ih", nn::recurrent_init({gh, in}, hidden, gen));
    w_hh_ = register_parameter("weight_hh", nn::recurrent_init({gh, hidden}, hidden, gen));
    b_ih_ = register_parameter("bias_ih", nn::recurrent_init({gh}, hidden, gen));
    b_hh_ = register_parameter("bias_hh", nn::recurrent_init({gh}, hidden, gen));
  }
  std::string type_name() const override { return "OpsLstmCell"; }
  std::size_t hidden_size() const override { return hidden_; }
  std::size_t cell_size() const override { return hidden_; }
  const Tensor& weight_ih() const override { return w_ih_; }
  const Tensor& bias_ih() const override { return b_ih_; }
  Tensor step(const Tensor& state, const Tensor& projected) override {
    const std::size_t H = hidden_;
    const Tensor gates = projected + linear(cols(state, 0, H), w_hh_, b_hh_);
    const Tensor i = sigmoid(cols(gates, 0, H)), f = sigmoid(cols(gates, H, H));
    const Tensor g = tanh(cols(gates, 2 * H, H)), o = sigmoid(cols(gates, 3 * H, H));
    const Tensor c = f * cols(state, H, H) + i * g;
    return concat({o * tanh(c), c}, 1);
  }

 private:
  std::size_t hidden_;
  Tensor w_ih_, w_hh_, b_ih_, b_hh_;
};

// A minimal gated cell: h' = (1 - z) h + z tanh(p_n + h U^T), z = sigmoid(p_z).
class MinimalGatedCell : public nn::CustomCell {
 public:
  MinimalGatedCell(std::size_t in, std::size_t hidden, Generator& gen) : hidden_(hidden) {
    w_ih_ = register_parameter("weight_ih", nn::recurrent_init({2 * hidden, in}, hidden, gen));
    b_ih_ = register_parameter("bias_ih", nn::recurrent_init({2 * hidden}, hidden, gen));
    u_ = register_parameter("weight_hh", nn::recurrent_init({hidden, hidden}, hidden, gen));
  }
  std::string type_name() const override { return "MinimalGatedCell"; }
  std::size_t hidden_size() const override { return hidden_; }
  const Tensor& weight_ih() const override { return w_ih_; }
  const Tensor& bias_ih() const override { return b_ih_; }
  Tensor step(const Tensor& h, const Tensor& p) override {
    const Tensor z = sigmoid(cols(p, 0, hidden_));
    return (1.0 - z) * h + z * tanh(cols(p, hidden_, hidden_) + linear(h, u_));
  }

 private:
  std::size_t hidden_;
  Tensor w_ih_, b_ih_, u_;
};

nn::CellFactory ops_lstm(std::size_t hidden) {
  return [hidden](std::size_t in, Generator& gen) {
    return std::make_shared<OpsLstmCell>(in, hidden, gen);
  };
}

// A scalar that weighs every output differently, so that each gradient is checked.
Tensor weigh(const nn::RecurrentOutput& out) {
  Tensor total;
  std::uint64_t seed = 100;
  for (const Tensor* t : {&out.output, &out.last, &out.state.h, &out.state.c}) {
    const Tensor term = sum(*t * random64(t->shape(), seed++, false));
    total = total.defined() ? total + term : term;
  }
  return total;
}

}  // namespace

TEST_CASE("an LSTM written with ops in a custom cell matches nn::LSTM in float64",
          "[recurrent][custom]") {
  nn::RecurrentOptions o;
  o.input_size(3);
  o.hidden_size(4);
  o.num_layers(2);
  o.bidirectional(true);
  o.batch_first(true);
  o.dropout(0.3);
  Generator gen(5);
  nn::LSTM fused(o, gen);
  nn::CustomRecurrent custom(o, ops_lstm(o.hidden_size()), gen);
  fused.to(DType::Float64);
  custom.to(DType::Float64);
  // Same names, PyTorch's: copy the fused layer's parameters into the custom one.
  const auto custom_params = custom.named_parameters();
  REQUIRE(custom_params.size() == fused.named_parameters().size());
  for (const auto& entry : fused.named_parameters()) {  // (no structured binding: clang 14
    const std::string& name = entry.first;               // cannot capture one in a lambda)
    INFO(name);
    auto found = std::find_if(custom_params.begin(), custom_params.end(),
                              [&](const auto& p) { return p.first == name; });
    REQUIRE(found != custom_params.end());
    found->second.mutable_value<double>() = entry.second.value<double>();
  }
  const std::vector<std::size_t> lengths{5, 3, 4};
  auto run = [&](nn::RecurrentDriver& layer) {
    layer.train(true);
    layer.manual_seed(7);  // the same dropout masks: the same driver draws them
    const Tensor x = random64({3, 5, 3}, 1), h0 = random64({4, 3, 4}, 2),
                 c0 = random64({4, 3, 4}, 3);
    const nn::RecurrentOutput out = layer.forward(x, {h0, c0}, lengths);
    backward({weigh(out)});
    std::vector<Tensor> results{out.output, out.last, out.state.h, out.state.c,
                                x.grad_tensor(), h0.grad_tensor(), c0.grad_tensor()};
    for (const Tensor& p : layer.parameters()) results.push_back(p.grad_tensor());
    return results;
  };
  const std::vector<Tensor> a = run(fused), b = run(custom);
  REQUIRE(a.size() == b.size());
  for (std::size_t i = 0; i < a.size(); ++i) {
    INFO("result " << i << " (outputs, last, h_n, c_n, dx, dh0, dc0, then parameters)");
    CHECK(testing::max_abs_diff(a[i].to_vector(), b[i].to_vector()) < 1e-6);
  }
}

TEST_CASE("a custom cell is gradchecked through the driver with lengths and two directions",
          "[recurrent][custom][gradcheck]") {
  nn::RecurrentOptions o;
  o.input_size(2);
  o.hidden_size(3);
  o.num_layers(2);
  o.bidirectional(true);
  Generator gen(9);
  nn::CustomRecurrent layer(o, [](std::size_t in, Generator& g) {
    return std::make_shared<MinimalGatedCell>(in, 3, g);
  }, gen);
  layer.to(DType::Float64);
  CHECK(layer.named_parameters().front().first == "weight_ih_l0");
  const Tensor x = random64({4, 3, 2}, 11), h0 = random64({4, 3, 3}, 12);
  std::vector<Tensor> wrt = layer.parameters();
  wrt.push_back(x);
  wrt.push_back(h0);
  const GradcheckReport report = gradcheck(
      [&] {
        const nn::RecurrentOutput out = layer.forward(x, {h0, Tensor()}, {4, 2, 3});
        return sum(out.output * random64(out.output.shape(), 20, false)) +
               sum(out.state.h * random64(out.state.h.shape(), 21, false));
      },
      wrt);
  INFO(report.message());
  CHECK(report.ok);
  CHECK(report.elements_checked > 0);
}

// Not a check: the custom path's speed against the fused one, for the record
// (run: test_custom_recurrent "[.speed]").
TEST_CASE("custom LSTM cell vs fused LSTM: time per training step", "[.speed]") {
  for (std::size_t B : {1, 32}) {
    nn::RecurrentOptions o;
    o.input_size(128);
    o.hidden_size(128);
    Generator gen(1);
    nn::LSTM fused(o, gen);
    nn::CustomRecurrent custom(o, ops_lstm(128), gen);
    const Tensor x = Tensor::uniform({15, B, 128}, -1, 1, DType::Float32, gen);
    auto time = [&](nn::RecurrentDriver& layer) {
      double best = 1e30;
      for (int r = 0; r < 5; ++r) {
        const auto start = std::chrono::steady_clock::now();
        for (int i = 0; i < 20; ++i) backward({sum(layer.forward(x, {}).output)});
        const std::chrono::duration<double, std::milli> d = std::chrono::steady_clock::now() - start;
        best = std::min(best, d.count() / 20);
      }
      return best;
    };
    const double f = time(fused), c = time(custom);
    std::cout << "B=" << B << " H=128 T=15: fused " << f << " ms, custom " << c << " ms, ratio "
              << c / f << "\n";
  }
}
