// RNNCell, LSTMCell, GRUCell and the cell of any kind: one fused op per step, PyTorch's
// parameters and semantics.
#pragma once

#include <utility>

#include "tapegrad/autograd/random.hpp"
#include "tapegrad/nn/module.hpp"
#include "tapegrad/nn/rnn_kinds.hpp"

namespace tg::nn {

enum class Nonlinearity { Tanh, Relu };

// The cell kind of a plain RNN (RNNCell, RNN) with this non-linearity.
CellKind rnn_kind(Nonlinearity nonlinearity);

// Functional cells: x [B, in], states [B, H] (undefined: zero), weight_ih [G*H, in],
// weight_hh [G*H, H], biases [G*H] (undefined: none). Each records one fused node ("rnn_cell",
// "lstm_cell", "gru_cell"); the LSTM's h' and c' are then read out of its [B, 2H] result by two
// "slice" nodes.
Tensor rnn_cell(const Tensor& x, const Tensor& h, const Tensor& weight_ih,
                const Tensor& weight_hh, const Tensor& bias_ih = Tensor(),
                const Tensor& bias_hh = Tensor(), Nonlinearity nonlinearity = Nonlinearity::Tanh);
std::pair<Tensor, Tensor> lstm_cell(const Tensor& x, const Tensor& h, const Tensor& c,
                                    const Tensor& weight_ih, const Tensor& weight_hh,
                                    const Tensor& bias_ih = Tensor(),
                                    const Tensor& bias_hh = Tensor());
Tensor gru_cell(const Tensor& x, const Tensor& h, const Tensor& weight_ih,
                const Tensor& weight_hh, const Tensor& bias_ih = Tensor(),
                const Tensor& bias_hh = Tensor());

// What the three cell modules share: parameters weight_ih [G*H, in], weight_hh [G*H, H],
// bias_ih, bias_hh [G*H], all drawn from U(-1/sqrt(H), 1/sqrt(H)) in that order, as PyTorch.
class RecurrentCell : public Module {
 public:
  std::size_t input_size() const { return input_size_; }
  std::size_t hidden_size() const { return hidden_size_; }
  CellKind kind() const { return kind_; }
  const Tensor& weight_ih() const { return weight_ih_; }
  const Tensor& weight_hh() const { return weight_hh_; }
  const Tensor& bias_ih() const { return bias_ih_; }  // undefined without bias
  const Tensor& bias_hh() const { return bias_hh_; }
  // [B, in] -> [B, H]
  Shape output_shape(const Shape& input_shape) const override;
  // One fused step of the cell's kind, whatever it is: h' [B, H], or h'|c' [B, 2H] for a kind
  // with a cell state (cell_spec(kind()).has_cell_state); h, c undefined mean zeros.
  Tensor step(const Tensor& x, const Tensor& h, const Tensor& c = Tensor()) const;

 protected:
  RecurrentCell(CellKind kind, std::size_t input_size, std::size_t hidden_size, bool bias,
                Generator& gen);

 private:
  CellKind kind_;
  std::size_t input_size_, hidden_size_;
  Tensor weight_ih_, weight_hh_, bias_ih_, bias_hh_;
};

class RNNCell : public RecurrentCell {
 public:
  RNNCell(std::size_t input_size, std::size_t hidden_size, bool bias = true,
          Nonlinearity nonlinearity = Nonlinearity::Tanh, Generator& gen = default_generator());
  std::string type_name() const override { return "RNNCell"; }
  // h' = act(x W_ih^T + b_ih + h W_hh^T + b_hh); h undefined means zeros.
  Tensor forward(const Tensor& x, const Tensor& h);
  Tensor forward(const Tensor& x) override { return forward(x, Tensor()); }
  Nonlinearity nonlinearity() const { return nonlinearity_; }

 private:
  Nonlinearity nonlinearity_;
};

class LSTMCell : public RecurrentCell {
 public:
  LSTMCell(std::size_t input_size, std::size_t hidden_size, bool bias = true,
           Generator& gen = default_generator());
  std::string type_name() const override { return "LSTMCell"; }
  // (h', c'); undefined h or c means zeros.
  std::pair<Tensor, Tensor> forward(const Tensor& x, const Tensor& h, const Tensor& c);
  // h' from a zero state.
  Tensor forward(const Tensor& x) override { return forward(x, Tensor(), Tensor()).first; }
};

class GRUCell : public RecurrentCell {
 public:
  GRUCell(std::size_t input_size, std::size_t hidden_size, bool bias = true,
          Generator& gen = default_generator());
  std::string type_name() const override { return "GRUCell"; }
  Tensor forward(const Tensor& x, const Tensor& h);
  Tensor forward(const Tensor& x) override { return forward(x, Tensor()); }
};

// The cell of any kind (an MGU's, or one picked by name with parse_cell_kind): step() runs it;
// named "<layer>Cell" ("MGUCell"), with the parameters of the cells above.
class FusedCell : public RecurrentCell {
 public:
  FusedCell(CellKind kind, std::size_t input_size, std::size_t hidden_size, bool bias = true,
            Generator& gen = default_generator())
      : RecurrentCell(kind, input_size, hidden_size, bias, gen) {}
  std::string type_name() const override {
    return std::string(cell_spec(kind()).layer_name) + "Cell";
  }
  // h' from a zero state.
  Tensor forward(const Tensor& x) override;
};

// U(-1/sqrt(hidden), 1/sqrt(hidden)) in float32: PyTorch's initialisation of every recurrent
// parameter.
Tensor recurrent_init(const Shape& shape, std::size_t hidden_size, Generator& gen);

}  // namespace tg::nn
