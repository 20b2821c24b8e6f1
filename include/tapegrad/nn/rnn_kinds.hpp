// The built-in recurrent cell kinds and the one description of each that everything else reads.
//
// Adding a kind touches three library files: here its enumerator, its place in kCellKinds and the
// declaration of its description; its file nn/cells/<label>.cpp with the description (names,
// gates, layout, row kernels forward and backward, the same step written with ops); and its
// layer's name in tapegrad/nn/recurrent.hpp (`using MGU = FusedRecurrent<CellKind::Mgu>`).
// Generic code reads every size, offset and kernel from the description; tests/test_cell_kinds
// checks every kind's fused kernels against its op-built step (nn::MGU was added this way).
#pragma once

#include <cstddef>
#include <functional>
#include <string>

namespace tg {
class Tensor;
}

namespace tg::nn {

// Mgu: the minimal gated unit (Zhou et al. 2016) in the form PyTorch's GRU uses for its reset
// gate: f = sigmoid(W_if x + b_if + W_hf h + b_hf), n = tanh(W_in x + b_in + f * (W_hn h + b_hn)),
// h' = (1 - f) h + f n; gate order f, n.
enum class CellKind { RnnTanh, RnnRelu, Lstm, Gru, Mgu };

// Every kind, in the enum's order: tests and examples walk this list.
inline constexpr CellKind kCellKinds[] = {CellKind::RnnTanh, CellKind::RnnRelu, CellKind::Lstm,
                                          CellKind::Gru, CellKind::Mgu};

// One row (a batch element at one step) through a kind's element-wise part; the row types are
// internal (nn/rnn_kernels.hpp): a user reads a description, the library runs it.
template <class T>
struct CellRow;
template <class T>
struct CellRowGrads;
template <class T>
struct RowKernels {
  void (*forward)(const CellRow<T>&) = nullptr;
  void (*backward)(const CellRow<T>&, const CellRowGrads<T>&) = nullptr;
};

// Sees each activated gate of an op-built step (its index in gate_names, its value [B, H]) and
// returns what the cell goes on with: to record gate activations, or to perturb one in a test.
using GateTap = std::function<Tensor(std::size_t gate, const Tensor& value)>;

struct CellSpec {
  const char* layer_name;  // "LSTM": the layer's type name and its error messages
  const char* op_name;     // "lstm_cell": the node of one fused step (the cell modules)
  const char* sequence_op;  // "lstm_sequence": the node of one fused layer-direction
  const char* label;       // "lstm": its name on command lines and in test cases
  std::size_t gate_count;  // G: weight_ih is [G*H, in], weight_hh [G*H, H]
  bool has_cell_state;     // the state is h|c side by side, [B, 2H] (LSTM)
  // The last gate's hidden-side part is kept apart from the input side (GRU and MGU: n =
  // tanh(W_in x + b_in + r * (W_hn h + b_hn))), so the hidden product and that part of b_hh are
  // not added into the gates, and backward has a separate hidden-side gate gradient. Generic
  // code finds that part at split_offset(); only the last gate can be split.
  bool split_hidden_gate;
  bool relu;  // plain RNN with ReLU instead of tanh
  const char* gate_names;  // "r,z,n": the gates in their order in the weights (PyTorch's)

  // The fused kernels of one row, float32 and float64.
  RowKernels<float> rows_f32;
  RowKernels<double> rows_f64;

  // The same step with tensor ops: the next state [B, H] (or h|c, [B, 2H]) from the input side
  // gx = x W_ih^T + b_ih [B, G*H], the hidden side gh = h W_hh^T + b_hh [B, G*H] and the state.
  // nn::OpsCell runs it; it is differentiable to any order and the reference of the kernels.
  Tensor (*step_ops)(const Tensor& gx, const Tensor& gh, const Tensor& state, std::size_t hidden,
                     const GateTap& tap);

  // Where the split gate starts in a row of G*H gates: (G - 1) * H.
  std::size_t split_offset(std::size_t hidden) const { return (gate_count - 1) * hidden; }
  template <class T>
  const RowKernels<T>& row_kernels() const {
    if constexpr (sizeof(T) == sizeof(float)) return rows_f32; else return rows_f64;
  }
};

// The description of kind K, defined in its file under nn/cells/ (a kind without one does not
// link). Generic code asks cell_spec(kind).
template <CellKind K>
const CellSpec& describe_cell();
template <> const CellSpec& describe_cell<CellKind::RnnTanh>();
template <> const CellSpec& describe_cell<CellKind::RnnRelu>();
template <> const CellSpec& describe_cell<CellKind::Lstm>();
template <> const CellSpec& describe_cell<CellKind::Gru>();
template <> const CellSpec& describe_cell<CellKind::Mgu>();

const CellSpec& cell_spec(CellKind kind);

// The kind a name stands for: a CellSpec label ("tanh", "relu", "lstm", "gru", "mgu"), or "rnn"
// for "tanh". Throws tg::Error listing the names for anything else.
CellKind parse_cell_kind(const std::string& name);

inline std::size_t gate_count(CellKind kind) { return cell_spec(kind).gate_count; }
inline const char* cell_op_name(CellKind kind) { return cell_spec(kind).op_name; }
// Width of the recurrent state a cell produces: H, or 2H with a cell state (h then c per row).
inline std::size_t state_width(CellKind kind, std::size_t hidden) {
  return cell_spec(kind).has_cell_state ? 2 * hidden : hidden;
}

}  // namespace tg::nn
