// The recurrent driver (layers, directions, lengths, dropout, state in and out) and the layers
// that plug into it: the fused RNN, LSTM and GRU, and cells written by users with tensor ops.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "tapegrad/autograd/gradcheck.hpp"
#include "tapegrad/autograd/random.hpp"
#include "tapegrad/nn/module.hpp"
#include "tapegrad/nn/options.hpp"
#include "tapegrad/nn/rnn_cells.hpp"
#include "tapegrad/nn/rnn_kinds.hpp"

namespace tg::nn {

class Workspace;
struct CellWeights;

using RowFlags = std::shared_ptr<const std::vector<std::uint8_t>>;

// How one layer-direction runs over its input.
struct SequenceRun {
  bool batch_first = false;  // x is [B, T, in] instead of [T, B, in]
  bool reverse = false;      // steps t = steps-1 down to 0
  // Steps run: [0, steps) of the T in x (0 means all), in either direction; later slices are
  // padding past every sequence's end.
  std::size_t steps = 0;
  // active[t] (null, or missing: every row) flags the rows that step at t; the others keep their
  // state and get no gradient.
  std::vector<RowFlags> active;
};

// nn::LSTM lstm(nn::LSTMOptions(32, 128).num_layers(2).bidirectional(true)).
class RecurrentOptions {
 public:
  RecurrentOptions(std::size_t input_size = 0, std::size_t hidden_size = 0)
      : input_size_(input_size), hidden_size_(hidden_size) {}
  TG_ARG(std::size_t, input_size);
  TG_ARG(std::size_t, hidden_size);
  TG_ARG(std::size_t, num_layers) = 1;
  TG_ARG(bool, bias) = true;
  // Input and output [B, T, F] instead of [T, B, F].
  TG_ARG(bool, batch_first) = false;
  TG_ARG(bool, bidirectional) = false;
  // On the outputs of every layer but the last, in training mode only.
  TG_ARG(double, dropout) = 0.0;
  // What forward(const Tensor&) returns: the outputs of all steps, or only `last` (Keras'
  // return_sequences), e.g. to put the layer in a Sequential before a classifier.
  TG_ARG(bool, return_sequences) = true;
};
using RNNOptions = RecurrentOptions;
using LSTMOptions = RecurrentOptions;
using GRUOptions = RecurrentOptions;
using MGUOptions = RecurrentOptions;

// Initial or final state: h [L*D, B, H] and, for the LSTM only, c [L*D, B, H]; row l*D + d is
// layer l, direction d (0 forward, 1 reverse), as PyTorch's h_n. Undefined means zeros.
struct RecurrentState {
  Tensor h;
  Tensor c;
};

struct RecurrentOutput {
  Tensor output;  // [T, B, D*H] (batch_first: [B, T, D*H]); zero at padded steps
  // [B, D*H]: each direction's final h of the last layer, side by side. Forward: the state at
  // the sequence's own last step (= output at step length-1); reverse: after reading back to step
  // 0. For one direction, the output of each sequence's last step.
  Tensor last;
  RecurrentState state;  // final h (and c), the state at each sequence's own last step
};

// The driver every recurrent layer shares. Per layer l and direction d it asks the layer to run
// one layer-direction (run_direction; a layer may run both directions of a layer at once,
// run_both_directions) and gets every step's state [T, B, W] back; it takes care
// of the input and state layouts, lengths, dropout between layers, the outputs and the final
// states. A state row is h (the first `hidden` columns, the layer's output) then, for cells that
// have one, c (the next `cell` columns).
class RecurrentDriver : public Module {
 public:
  // x [T, B, in] (batch_first: [B, T, in]). `lengths` (empty: all T) gives each sequence's
  // length, 1..T: steps past it are padding, which produce zero output, leave the state unchanged
  // and get no gradient; the reverse direction starts at each sequence's own last step.
  RecurrentOutput forward(const Tensor& x, const RecurrentState& state,
                          const std::vector<std::size_t>& lengths = {});
  // return_sequences ? output : last, from a zero state.
  Tensor forward(const Tensor& x) override;
  using Module::operator();
  RecurrentOutput operator()(const Tensor& x, const RecurrentState& state,
                             const std::vector<std::size_t>& lengths = {}) {
    return forward(x, state, lengths);
  }
  Shape output_shape(const Shape& input_shape) const override;

  const RecurrentOptions& options() const { return options_; }
  std::size_t num_directions() const { return options_.bidirectional() ? 2 : 1; }
  // The dropout between layers draws from the layer's own generator, seeded at construction from
  // the initialisation generator; reseed it to repeat masks.
  void manual_seed(std::uint64_t seed) { dropout_gen_.manual_seed(seed); }
  Generator& dropout_generator() { return dropout_gen_; }

 protected:
  // `hidden`: width of h (each direction's output); `cell`: width of c (0: no cell state).
  RecurrentDriver(const RecurrentOptions& options, std::size_t hidden, std::size_t cell);
  // The input width of layer l: input_size, or D * hidden above the first.
  std::size_t layer_input_size(std::size_t layer) const;
  // PyTorch's parameter suffix of layer-direction (l, reverse): "_l0", "_l1_reverse".
  static std::string suffix(std::size_t layer, bool reverse);
  // Seeds the dropout generator: a subclass calls it after drawing its parameters, so that
  // the initialisation order is PyTorch's.
  void seed_dropout(Generator& gen);
  // For layers that learn the width of c from their cells after construction.
  void set_cell_width(std::size_t cell) { cell_ = cell; }
  // Runs layer-direction k (index layer * D + direction) over `input` from `initial` ([B, W]
  // values, W = hidden + cell; undefined: zero) and returns every step's state [T, B, W], zero
  // at steps past run.steps.
  virtual Tensor run_direction(std::size_t k, const Tensor& input, const Tensor& initial,
                               const SequenceRun& run) = 0;
  // Runs both directions of layer `layer` at once and returns their states as one tensor
  // [2, T, B, W] (forward, then reverse), or an undefined tensor to have the driver call
  // run_direction for each (the default).
  virtual Tensor run_both_directions(std::size_t layer, const Tensor& input,
                                     const Tensor& initial_forward, const Tensor& initial_reverse,
                                     const SequenceRun& run);
  Workspace* workspace() const { return workspace_.get(); }

 private:
  RecurrentOptions options_;
  std::size_t hidden_, cell_;
  Generator dropout_gen_;
  std::shared_ptr<Workspace> workspace_;  // buffers recycled from one forward to the next
};

// The fused built-in layers: one class for every kind, named below. Parameters, per layer l and
// direction, are named as PyTorch's: weight_ih_l{l} [G*H, in], weight_hh_l{l} [G*H, H],
// bias_ih_l{l}, bias_hh_l{l} [G*H], then the same with the suffix _reverse; all drawn from
// U(-1/sqrt(H), 1/sqrt(H)) in that order. Each layer-direction is one node (the cell kind's
// sequence op) that owns its steps; its backward replays them (BPTT). A bidirectional layer runs
// its two directions side by side on two threads, as one node, when BLAS has two threads or more
// (set_directions_side_by_side below).
class RecurrentLayer : public RecurrentDriver {
 public:
  ~RecurrentLayer() override;  // out of line: CellWeights is internal (nn/rnn_ops.hpp)
  CellKind kind() const { return kind_; }
  std::string type_name() const override { return cell_spec(kind_).layer_name; }
  const Tensor& weight_ih(std::size_t layer, bool reverse = false) const;
  const Tensor& weight_hh(std::size_t layer, bool reverse = false) const;
  const Tensor& bias_ih(std::size_t layer, bool reverse = false) const;  // undefined: no bias
  const Tensor& bias_hh(std::size_t layer, bool reverse = false) const;

 protected:
  RecurrentLayer(CellKind kind, const RecurrentOptions& options, Generator& gen);
  Tensor run_direction(std::size_t k, const Tensor& input, const Tensor& initial,
                       const SequenceRun& run) override;
  // Side by side when directions_side_by_side() and BLAS has two threads or more.
  Tensor run_both_directions(std::size_t layer, const Tensor& input,
                             const Tensor& initial_forward, const Tensor& initial_reverse,
                             const SequenceRun& run) override;

 private:
  const CellWeights& weights(std::size_t layer, bool reverse) const;

  CellKind kind_;
  std::vector<CellWeights> weights_;  // index layer * D + direction
  // The reverse directions' buffers when they run on the side lane (a workspace is one thread's).
  std::shared_ptr<Workspace> reverse_workspace_;
};

// Whether the fused layers (LSTM, GRU, RNN, MGU) run the two directions of a bidirectional
// layer side by side, the reverse one on a second thread, when BLAS has two threads or more
// (blas::set_num_threads): on by default. Each direction's products then run on one thread, so
// the results are those of one BLAS thread: the same to the bit where every product is below
// BLAS's serial bound (blas.hpp), else to rounding (OpenBLAS's depends on how it splits a
// product). Process-wide; custom cells always run one direction at a time.
void set_directions_side_by_side(bool on);
bool directions_side_by_side();

// The fused layer of kind K; the kinds' layers below are its names.
template <CellKind K>
class FusedRecurrent : public RecurrentLayer {
 public:
  explicit FusedRecurrent(const RecurrentOptions& options, Generator& gen = default_generator())
      : RecurrentLayer(K, options, gen) {}
};

using LSTM = FusedRecurrent<CellKind::Lstm>;
using GRU = FusedRecurrent<CellKind::Gru>;
// The minimal gated unit (see CellKind::Mgu): weight_ih_l0 [2H, in], weight_hh_l0 [2H, H], gates
// f, n, PyTorch's naming and initialisation as for the GRU. No PyTorch counterpart.
using MGU = FusedRecurrent<CellKind::Mgu>;

// The plain RNN takes PyTorch's nonlinearity argument (the kind RnnTanh or RnnRelu).
class RNN : public RecurrentLayer {
 public:
  explicit RNN(const RecurrentOptions& options, Nonlinearity nonlinearity = Nonlinearity::Tanh,
               Generator& gen = default_generator());
  RNN(const RecurrentOptions& options, Generator& gen) : RNN(options, Nonlinearity::Tanh, gen) {}
  Nonlinearity nonlinearity() const;
};

// The fused layer of `kind` (an RNN for the two plain kinds).
std::shared_ptr<RecurrentLayer> make_recurrent_layer(CellKind kind, const RecurrentOptions& options,
                                                     Generator& gen = default_generator());

}  // namespace tg::nn
