// The built-in recurrent cell kinds and the one description of each that everything else reads.
//
// Adding a kind: its enumerator and place in kCellKinds here, its description in cell_spec()
// (nn/rnn_kinds.cpp), its row kernels in nn/rnn_kernels.cpp (the compiler lists the switches
// left: no `default:`, -Werror=switch), and its layer in make_recurrent_layer. Generic code reads
// every size and offset from the description (nn::MGU was added this way).
#pragma once

#include <cstddef>
#include <string>

namespace tg::nn {

// Mgu: the minimal gated unit (Zhou et al. 2016) in the form PyTorch's GRU uses for its reset
// gate: f = sigmoid(W_if x + b_if + W_hf h + b_hf), n = tanh(W_in x + b_in + f * (W_hn h + b_hn)),
// h' = (1 - f) h + f n; gate order f, n.
enum class CellKind { RnnTanh, RnnRelu, Lstm, Gru, Mgu };

// Every kind, in a fixed order: the gradcheck cases and tests walk this list.
inline constexpr CellKind kCellKinds[] = {CellKind::RnnTanh, CellKind::RnnRelu, CellKind::Lstm,
                                          CellKind::Gru, CellKind::Mgu};

struct CellSpec {
  const char* layer_name;  // "LSTM": the layer's type name and its error messages
  const char* op_name;     // "lstm_cell": the node of one fused step (the cell modules)
  const char* sequence_op;  // "lstm_sequence": the node of one fused layer-direction
  const char* label;       // "lstm": how gradcheck cases name the kind
  std::size_t gate_count;  // G: weight_ih is [G*H, in], weight_hh [G*H, H]
  bool has_cell_state;     // the state is h|c side by side, [B, 2H] (LSTM)
  // The last gate's hidden-side part is kept apart from the input side (GRU and MGU: n =
  // tanh(W_in x + b_in + r * (W_hn h + b_hn))), so the hidden product and that part of b_hh are
  // not added into the gates, and backward has a separate hidden-side gate gradient. Generic
  // code finds that part at split_offset(); only the last gate can be split.
  bool split_hidden_gate;
  bool relu;  // plain RNN with ReLU instead of tanh
  const char* gate_names;  // "r,z,n": the gates in their order in the weights (PyTorch's)

  // Where the split gate starts in a row of G*H gates: (G - 1) * H.
  std::size_t split_offset(std::size_t hidden) const { return (gate_count - 1) * hidden; }
};

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
