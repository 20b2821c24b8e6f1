// Fused element-wise gate kernels of the recurrent cells (forward and backward) over raw rows.
//
// The recorded ops (nn/rnn_ops.cpp, nn/rnn_cells.cpp) do the matrix products with BLAS and hand
// one block of rows (a batch at one time step) to cell_forward / cell_backward, which handle
// padding rows and give every other row to the kind's row kernels (its description's, written in
// nn/cells/<label>.cpp with the lanes of nn/cells/lanes.hpp): every gate non-linearity and the
// state update in one vectorized pass. Layouts and gate orders are PyTorch's.
#pragma once

#include <cstddef>
#include <cstdint>

#include "tapegrad/nn/rnn_kinds.hpp"

namespace tg::nn {

// One row through a kind's row kernels: pointers to H values (G*H for the gate rows).
template <class T>
struct CellRow {
  std::size_t hidden = 0;
  // In: pre-activations (input side + hidden side, biases included, except the split gate's
  // hidden part, which comes in hh). Out: the activated gates, which backward reads.
  T* gates = nullptr;
  const T* hh = nullptr;    // split gate: the row's W_hh h [G*H] without bias; null: zero
  const T* b_hn = nullptr;  // split gate: its part of b_hh [H]; null: no bias
  T* hn = nullptr;          // split gate: W_hn h + b_hn [H], written forward, read backward
  const T* h_prev = nullptr;  // null: zero state
  const T* c_prev = nullptr;  // cell state; null: zero
  T* h = nullptr;             // new state
  T* c = nullptr;
};

// The gradients of one row; dh_prev and dc_prev are accumulated (+=) and may be null.
template <class T>
struct CellRowGrads {
  const T* dh = nullptr;  // gradient of the new h
  const T* dc = nullptr;  // of the new c
  T* dgates = nullptr;    // [G*H] written: gradient of the input-side pre-activations
  T* dhh = nullptr;       // split gate: [G*H] written: of the hidden-side pre-activations
  T* dh_prev = nullptr;   // the state's direct paths that bypass the W_hh product
  T* dc_prev = nullptr;
};

// One block of rows through a cell's element-wise part. Pointers are row-major with the given
// leading dimensions; the gate blocks have leading dimension G*H.
template <class T>
struct CellRows {
  CellKind kind = CellKind::Lstm;
  std::size_t rows = 0;
  std::size_t hidden = 0;
  // In: pre-activations (input side + hidden side, biases included, except the GRU's n gate,
  // whose hidden part comes in hh). Out: the activated gates, which backward reads.
  T* gates = nullptr;
  // The split gate (GRU, MGU: the last, n): its hidden part is applied inside the cell.
  const T* hh = nullptr;    // [rows, G*H] h_prev W_hh^T without bias; null means zero
  const T* b_hn = nullptr;  // the n part of b_hh; null means no bias
  T* hn = nullptr;          // [rows, H] W_hn h_prev + b_hn, saved for backward
  const T* h_prev = nullptr;  // null: zero state
  std::size_t ld_h_prev = 0;
  const T* c_prev = nullptr;  // LSTM; null: zero state
  std::size_t ld_c_prev = 0;
  T* h = nullptr;  // new state
  T* c = nullptr;  // LSTM
  std::size_t ld_out = 0;
  // Null: every row steps. Otherwise rows whose flag is 0 are padding: they keep their state
  // (h = h_prev, c = c_prev) and their gates are left unused.
  const std::uint8_t* active = nullptr;
};

template <class T>
void cell_forward(const CellRows<T>& r);

// Gradients for cell_backward; `fwd` is the CellRows of the forward pass (gates now hold the
// activations, h and c the new state).
template <class T>
struct CellGrads {
  const T* dh = nullptr;  // gradient of the new h
  const T* dc = nullptr;  // LSTM: gradient of the new c
  std::size_t ld_dout = 0;
  T* dgates = nullptr;  // [rows, G*H] written: gradient of the input-side pre-activations
  T* dhh = nullptr;     // split gate: [rows, G*H] written: gradient of the hidden-side pre-activations
  // Accumulated (+=), may be null when not wanted: the direct paths of the state that bypass the
  // W_hh product (GRU z * dh, LSTM f * dc, padding rows passing their gradient through).
  T* dh_prev = nullptr;
  std::size_t ld_dh_prev = 0;
  T* dc_prev = nullptr;
  std::size_t ld_dc_prev = 0;
};

// For RNN and LSTM the hidden-side pre-activation gradient equals dgates (gates are one sum), so
// dhh is only written for a kind with a split gate. Padding rows get zero gate gradients.
template <class T>
void cell_backward(const CellRows<T>& fwd, const CellGrads<T>& g);

// y[j] = dot(w[j, :], x) for w [n, k] row-major (accumulate: y[j] +=): the x W^T product of a
// single row, where BLAS's gemm is slow (generation at batch 1).
template <class T>
void row_times_transposed(const T* x, const T* w, std::size_t n, std::size_t k, T* y,
                          bool accumulate);

// y[j] (+)= sum_q x[q] w[q, j] for w [k, n] with leading dimension ldw: the x W product of a
// single row (the state gradient of a batch-1 step), where BLAS's gemm packs all of W first.
template <class T>
void row_times(const T* x, const T* w, std::size_t k, std::size_t n, std::size_t ldw, T* y,
               bool accumulate);

}  // namespace tg::nn
