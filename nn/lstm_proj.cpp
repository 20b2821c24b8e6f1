// The LSTM-with-projections cell, written with tensor ops, and its layer.
#include "tapegrad/nn/lstm_proj.hpp"

#include <fmt/format.h>

#include "tapegrad/autograd/ops.hpp"
#include "tapegrad/nn/rnn_cells.hpp"

namespace tg::nn {

namespace {

Tensor columns(const Tensor& t, std::size_t begin, std::size_t width) {
  return slice(t, 1, static_cast<long>(begin), static_cast<long>(begin + width));
}

// State h|c: [B, P + H]. Gates i, f, g, o as the LSTM's, from the projected input and h W_hh^T.
class ProjectedLstmCell : public CustomCell {
 public:
  ProjectedLstmCell(std::size_t in, std::size_t hidden, std::size_t proj, bool bias,
                    Generator& gen)
      : hidden_(hidden), proj_(proj) {
    const std::size_t gh = 4 * hidden;
    w_ih_ = register_parameter("weight_ih", recurrent_init({gh, in}, hidden, gen));
    w_hh_ = register_parameter("weight_hh", recurrent_init({gh, proj}, hidden, gen));
    if (bias) {
      b_ih_ = register_parameter("bias_ih", recurrent_init({gh}, hidden, gen));
      b_hh_ = register_parameter("bias_hh", recurrent_init({gh}, hidden, gen));
    }
    w_hr_ = register_parameter("weight_hr", recurrent_init({proj, hidden}, hidden, gen));
  }
  std::string type_name() const override { return "LSTMProjCell"; }
  std::size_t hidden_size() const override { return proj_; }
  std::size_t cell_size() const override { return hidden_; }
  const Tensor& weight_ih() const override { return w_ih_; }
  const Tensor& bias_ih() const override { return b_ih_; }
  Tensor step(const Tensor& state, const Tensor& projected) override {
    const std::size_t H = hidden_;
    const Tensor gates = projected + linear(columns(state, 0, proj_), w_hh_, b_hh_);
    const Tensor i = sigmoid(columns(gates, 0, H)), f = sigmoid(columns(gates, H, H));
    const Tensor g = tanh(columns(gates, 2 * H, H)), o = sigmoid(columns(gates, 3 * H, H));
    const Tensor c = f * columns(state, proj_, H) + i * g;
    return concat({linear(o * tanh(c), w_hr_), c}, 1);
  }

 private:
  std::size_t hidden_, proj_;
  Tensor w_ih_, w_hh_, b_ih_, b_hh_, w_hr_;
};

// The driver's h is the projection: it sizes outputs and upper layers' inputs by P.
RecurrentOptions projected(RecurrentOptions o, std::size_t proj_size) {
  if (proj_size == 0 || proj_size >= o.hidden_size())
    throw Error(fmt::format("LSTM: proj_size {} must be in (0, hidden_size {})", proj_size,
                            o.hidden_size()));
  o.hidden_size(proj_size);
  return o;
}

}  // namespace

LSTMProj::LSTMProj(const RecurrentOptions& options, std::size_t proj_size, Generator& gen)
    : CustomRecurrent(projected(options, proj_size),
                      [H = options.hidden_size(), P = proj_size, bias = options.bias()](
                          std::size_t in, Generator& g) {
                        return std::make_shared<ProjectedLstmCell>(in, H, P, bias, g);
                      },
                      gen),
      proj_size_(proj_size), cell_hidden_(options.hidden_size()) {}

}  // namespace tg::nn
