// What a LayerNorm LSTM cell costs against the fused LSTM: one training step's forward and
// backward of a 2-layer LSTM on [32 streams, 32 steps, 64], as baby_lm's stateful defaults.
//
//   OPENBLAS_NUM_THREADS=1 ./build/bench/bench_layernorm_cell [hidden, default 512]
//
// Three layers with the same sizes: nn::LSTM (fused kernels), the same LSTM op-built
// (nn::ops_cells) and a layer-normalised LSTM written as a custom cell (Ba et al. 2016: LayerNorm
// on the input and hidden projections and on the cell state before its tanh), each the median of
// 7 steps after 2 warm-ups, in two rounds, in float32 and (where the CPU has it) bf16 products;
// then the layer_norm op alone on the gates' shape.
#include <tapegrad.hpp>
#include <tapegrad/nn/custom_recurrent.hpp>

#include <cstdio>
#include <string>
#include <vector>

#include "bench_util.hpp"

namespace {

using namespace tg;

class LayerNormLSTMCell : public nn::CustomCell {
 public:
  LayerNormLSTMCell(std::size_t input_size, std::size_t hidden, Generator& gen) : hidden_(hidden) {
    w_ih_ = register_parameter("weight_ih",
                               nn::recurrent_init({4 * hidden, input_size}, hidden, gen));
    b_ih_ = register_parameter("bias_ih", nn::recurrent_init({4 * hidden}, hidden, gen));
    w_hh_ = register_parameter("weight_hh", nn::recurrent_init({4 * hidden, hidden}, hidden, gen));
    const char* names[] = {"ih", "hh", "c"};
    for (int i = 0; i < 3; ++i) {
      const std::size_t width = i < 2 ? 4 * hidden : hidden;
      norm_weight_[i] = register_parameter(std::string("norm_weight_") + names[i],
                                           Tensor::ones({width}, DType::Float32, true));
      norm_bias_[i] = register_parameter(std::string("norm_bias_") + names[i],
                                         Tensor::zeros({width}, DType::Float32, true));
    }
  }
  std::string type_name() const override { return "LayerNormLSTMCell"; }
  std::size_t hidden_size() const override { return hidden_; }
  std::size_t cell_size() const override { return hidden_; }
  const Tensor& weight_ih() const override { return w_ih_; }
  const Tensor& bias_ih() const override { return b_ih_; }

  Tensor step(const Tensor& state, const Tensor& projected) override {
    const long h = long(hidden_);
    const Tensor h_prev = slice(state, 1, 0, h), c_prev = slice(state, 1, h, 2 * h);
    const Tensor gates =
        norm(projected, 0) + norm(linear(h_prev, w_hh_), 1);  // i, f, g, o
    const std::vector<Tensor> g = chunk(gates, 4, 1);
    const Tensor c = sigmoid(g[1]) * c_prev + sigmoid(g[0]) * tanh(g[2]);
    return concat({sigmoid(g[3]) * tanh(norm(c, 2)), c}, 1);
  }

 private:
  Tensor norm(const Tensor& x, int i) const {
    return layer_norm(x, {x.shape().back()}, norm_weight_[i], norm_bias_[i]);
  }

  std::size_t hidden_;
  Tensor w_ih_, b_ih_, w_hh_;
  Tensor norm_weight_[3], norm_bias_[3];
};

double step_ms(nn::Module& layer, const Tensor& x) {
  const auto step = [&] { sum(layer.forward(x)).backward(); };
  step();
  step();
  return 1e3 * bench::median_seconds(7, step);
}

}  // namespace

int main(int argc, char** argv) {
  tune_malloc_for_training();  // as a training program does (tensor.hpp)
  const std::size_t hidden = argc > 1 ? std::stoul(argv[1]) : 512;
  Generator gen(1);
  const Tensor x = Tensor::uniform({32, 32, 64}, -1, 1, DType::Float32, gen);
  nn::RecurrentOptions options(64, hidden);
  options.num_layers(2).batch_first(true);
  nn::LSTM fused(options, gen);
  nn::CustomRecurrent op_built(options, nn::ops_cells(nn::CellKind::Lstm, hidden), gen);
  nn::CustomRecurrent layer_normed(
      options,
      [hidden](std::size_t input_size, Generator& g) {
        return std::make_shared<LayerNormLSTMCell>(input_size, hidden, g);
      },
      gen);
  std::vector<MatmulPrecision> precisions{MatmulPrecision::Float32};
  if (blas::bf16_supported()) precisions.push_back(MatmulPrecision::BFloat16);
  for (MatmulPrecision precision : precisions) {
    AutocastGuard guard(precision);
    for (int round = 1; round <= 2; ++round)
      std::printf("round %d, hidden %zu, %s: fused LSTM %.1f ms, op-built LSTM %.1f ms, LayerNorm "
                  "LSTM cell %.1f ms per step\n",
                  round, hidden, to_string(precision), step_ms(fused, x), step_ms(op_built, x),
                  step_ms(layer_normed, x));
  }
  const std::size_t width = 4 * hidden;
  const Tensor gates = Tensor::uniform({32, width}, -1, 1);
  gates.set_requires_grad();
  const Tensor weight = Tensor::ones({width}, DType::Float32, true);
  const Tensor bias = Tensor::zeros({width}, DType::Float32, true);
  const double ms = 1e3 * bench::median_seconds(21, [&] {
    sum(layer_norm(gates, {width}, weight, bias)).backward();
  });
  std::printf("layer_norm alone on [32, %zu], forward and backward: %.3f ms\n", width, ms);
}
