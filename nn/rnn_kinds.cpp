// The description of each built-in cell kind (see tapegrad/nn/rnn_kinds.hpp).
#include "tapegrad/autograd/error.hpp"
#include "tapegrad/nn/rnn_kinds.hpp"

namespace tg::nn {

const CellSpec& cell_spec(CellKind kind) {
  // Named fields: a new field cannot silently shift the meaning of the others.
  static const CellSpec rnn_tanh = [] {
    CellSpec s{};
    s.layer_name = "RNN";
    s.op_name = "rnn_cell";
    s.sequence_op = "rnn_sequence";
    s.label = "tanh";
    s.gate_count = 1;
    s.gate_names = "h";
    return s;
  }();
  static const CellSpec rnn_relu = [] {
    CellSpec s = rnn_tanh;
    s.label = "relu";
    s.relu = true;
    return s;
  }();
  static const CellSpec lstm = [] {
    CellSpec s{};
    s.layer_name = "LSTM";
    s.op_name = "lstm_cell";
    s.sequence_op = "lstm_sequence";
    s.label = "lstm";
    s.gate_count = 4;
    s.has_cell_state = true;
    s.gate_names = "i,f,g,o";
    return s;
  }();
  static const CellSpec gru = [] {
    CellSpec s{};
    s.layer_name = "GRU";
    s.op_name = "gru_cell";
    s.sequence_op = "gru_sequence";
    s.label = "gru";
    s.gate_count = 3;
    s.split_hidden_gate = true;
    s.gate_names = "r,z,n";
    return s;
  }();
  static const CellSpec mgu = [] {
    CellSpec s{};
    s.layer_name = "MGU";
    s.op_name = "mgu_cell";
    s.sequence_op = "mgu_sequence";
    s.label = "mgu";
    s.gate_count = 2;
    s.split_hidden_gate = true;
    s.gate_names = "f,n";
    return s;
  }();
  switch (kind) {  // no default: -Werror=switch names this place for a new kind
    case CellKind::RnnTanh: return rnn_tanh;
    case CellKind::RnnRelu: return rnn_relu;
    case CellKind::Lstm: return lstm;
    case CellKind::Gru: return gru;
    case CellKind::Mgu: return mgu;
  }
  throw Error("cell_spec: not a CellKind");
}

CellKind parse_cell_kind(const std::string& name) {
  std::string names;
  for (CellKind kind : kCellKinds) {
    if (name == cell_spec(kind).label) return kind;
    names += std::string(names.empty() ? "" : ", ") + cell_spec(kind).label;
  }
  if (name == "rnn") return CellKind::RnnTanh;
  throw Error("unknown cell kind '" + name + "' (expected rnn, " + names + ")");
}

}  // namespace tg::nn
