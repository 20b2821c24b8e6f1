// The built-in recurrent cell kinds and the one description of each that everything else reads.
//
// Adding a kind: a case in cell_spec() (nn/rnn_kinds.cpp), its row kernels in the switches of
// nn/rnn_kernels.cpp, and its layer class in tapegrad/nn/recurrent.hpp. Every switch on CellKind
// has no `default:` and tapegrad builds with -Werror=switch, so the compiler lists each place left.
#pragma once

#include <cstddef>

namespace tg::nn {

enum class CellKind { RnnTanh, RnnRelu, Lstm, Gru };

// Every kind, in a fixed order: the gradcheck cases and tests walk this list.
inline constexpr CellKind kCellKinds[] = {CellKind::RnnTanh, CellKind::RnnRelu, CellKind::Lstm,
                                          CellKind::Gru};

struct CellSpec {
  const char* layer_name;  // "LSTM": the layer's type name and its error messages
  const char* op_name;     // "lstm_cell": the node of one fused step (the cell modules)
  const char* sequence_op;  // "lstm_sequence": the node of one fused layer-direction
  const char* label;       // "lstm": how gradcheck cases name the kind
  std::size_t gate_count;  // G: weight_ih is [G*H, in], weight_hh [G*H, H]
  bool has_cell_state;     // the state is h|c side by side, [B, 2H] (LSTM)
  // The last gate's hidden-side part is kept apart from the input side (GRU: n = tanh(W_in x +
  // b_in + r * (W_hn h + b_hn))), so the hidden product and that part of b_hh are not added into
  // the gates, and backward has a separate hidden-side gate gradient.
  bool split_hidden_gate;
  bool relu;  // plain RNN with ReLU instead of tanh
};

const CellSpec& cell_spec(CellKind kind);

inline std::size_t gate_count(CellKind kind) { return cell_spec(kind).gate_count; }
inline const char* cell_op_name(CellKind kind) { return cell_spec(kind).op_name; }
// Width of the recurrent state a cell produces: H, or 2H with a cell state (h then c per row).
inline std::size_t state_width(CellKind kind, std::size_t hidden) {
  return cell_spec(kind).has_cell_state ? 2 * hidden : hidden;
}

}  // namespace tg::nn
