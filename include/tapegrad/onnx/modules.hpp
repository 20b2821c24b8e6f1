// ONNX exporters of tapegrad's modules: each writes into a tg::onnx::Graph the nodes computing
// what the module's forward computes in evaluation mode (Dropout is the identity).
//
// Covered: Linear (MatMul, Add), Embedding (Gather), RNN / LSTM / GRU as ONNX's own RNN / LSTM /
// GRU operators (PyTorch's gate order converted to ONNX's: LSTM i,f,g,o -> i,o,f,c; GRU r,z,n ->
// z,r,h with linear_before_reset = 1; bidirectional; stacked layers; lengths as sequence_lens;
// initial states in and final states out), one step of a recurrent cell, LayerNorm
// (LayerNormalization), MultiheadAttention (MatMul / Softmax), Dropout, Identity, Tanh, ReLU,
// Sigmoid, and Sequential chains of these; the maximum and mean over a padded batch's steps. The
// element-wise, softmax, reduction and shape operators are in tapegrad/onnx/graph.hpp. Anything
// else (MGU, which has no ONNX operator, Conv1d, a custom cell, ...) is refused with a tg::Error
// of one line naming it.
#pragma once

#include <string>

#include "tapegrad/nn/nn.hpp"
#include "tapegrad/onnx/graph.hpp"

namespace tg::onnx {

// x [..., in] -> [..., out]. `name` prefixes the initializers ("fc" -> "fc.weight").
std::string export_linear(Graph& g, const nn::Linear& linear, const std::string& x,
                          const std::string& name);
// ids (int64, any shape) -> [..., embedding_dim].
std::string export_embedding(Graph& g, const nn::Embedding& embedding, const std::string& ids,
                             const std::string& name);
// x [..., *normalized_shape] -> same shape.
std::string export_layer_norm(Graph& g, const nn::LayerNorm& norm, const std::string& x,
                              const std::string& name);

// What a recurrent layer reads: x [T, B, in] ([B, T, in] with batch_first); lengths int64 [B]
// (empty: every sequence is T long); h0 and c0 [L*D, B, H] (empty: zeros; c0 for the LSTM only).
struct RecurrentInputs {
  std::string x;
  std::string lengths;
  std::string h0, c0;
};
// What it gives: output [T, B, D*H] ([B, T, D*H] with batch_first), zero at padded steps;
// last [B, D*H] as RecurrentOutput::last; h, c [L*D, B, H] (c only for the LSTM).
struct RecurrentValues {
  std::string output, last, h, c;
};
RecurrentValues export_recurrent(Graph& g, const nn::RecurrentLayer& layer,
                                 const RecurrentInputs& inputs, const std::string& name);

// One step of a recurrent cell: x [B, in], h and c [B, H] (empty: zeros) -> h' (and c').
struct CellValues {
  std::string h, c;
};
CellValues export_cell_step(Graph& g, const nn::RecurrentCell& cell, const std::string& x,
                            const std::string& h, const std::string& c, const std::string& name);

// query [L, B, E], key and value [S, B, E] ([B, L, E], [B, S, E] with batch_first) -> the
// attention output of the same layout as query. key_padding_mask: bool [B, S], true hides a key
// (empty: none). A query whose keys are all hidden gets NaN here where tapegrad gives zeros.
std::string export_attention(Graph& g, const nn::MultiheadAttention& attention,
                             const std::string& query, const std::string& key,
                             const std::string& value, const std::string& key_padding_mask,
                             const std::string& name);

// nn::max_over_steps and nn::mean_over_steps: x [T, B, F] ([B, T, F] with batch_first), lengths
// int64 [B] (empty: every sequence is T long) -> [B, F].
std::string export_max_over_steps(Graph& g, const std::string& x, const std::string& lengths,
                                  bool batch_first = false);
std::string export_mean_over_steps(Graph& g, const std::string& x, const std::string& lengths,
                                   bool batch_first = false);

// Any module of the list above through its forward(const Tensor&) (a recurrent layer from a zero
// state, returning output or last as its return_sequences says; attention as self-attention);
// Sequential in order. Throws tg::Error "onnx export: <type> ('<name>') is not supported: ..."
// for anything else.
std::string export_module(Graph& g, const nn::Module& module, const std::string& x,
                          const std::string& name);

}  // namespace tg::onnx
