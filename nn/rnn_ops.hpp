// The recurrent ops recorded on the tape: a fused cell, a fused layer-direction over a whole
// sequence, and the row gather that assembles outputs and states.
//
// A fused layer runs one direction of one layer as one node (named cell_spec(kind).sequence_op)
// that owns its steps (or both directions of a bidirectional layer, side by side on two
// threads, as one node "rnn_both_ways"): forward computes the input projection of all steps as one product, then
// the steps in order; backward replays the recorded steps in reverse (BPTT), each turning the
// state gradient into gate gradients and the previous state's gradient, and then makes the weight
// gradients with one product each (dW_ih = dG^T X, dW_hh = dG_hh^T H_prev). No state is shared
// between nodes: everything backward needs is in the node's closure.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <vector>

#include "tapegrad/autograd/gradcheck.hpp"
#include "tapegrad/autograd/tensor.hpp"
#include "tapegrad/nn/recurrent.hpp"
#include "nn/rnn_kernels.hpp"

namespace tg::nn {

// One fused cell step from scratch, for the cell modules: x [B, in], h [B, H] (and c [B, H] for
// the LSTM; undefined means zero), weight_ih [G*H, in], weight_hh [G*H, H], biases [G*H] or
// undefined. Returns h' [B, H], or for the LSTM h' and c' side by side in one [B, 2H] tensor
// (split it with state_part). One node named cell_op_name(kind).
Tensor cell(CellKind kind, const Tensor& x, const Tensor& h, const Tensor& c,
            const Tensor& weight_ih, const Tensor& weight_hh, const Tensor& bias_ih,
            const Tensor& bias_hh);


// The weights of one layer and direction, PyTorch's weight_ih_l{k}, weight_hh_l{k},
// bias_ih_l{k}, bias_hh_l{k}; biases may be undefined.
struct CellWeights {
  Tensor w_ih, w_hh, b_ih, b_hh;
};

// Runs `kind` over x ([T, B, in], or [B, T, in] when batch_first) from `initial` ([B, W] values
// with W = state_width; undefined means zero) and returns every step's state in one tensor
// [T, B, W] (slices of steps not run are zero). One node named cell_spec(kind).sequence_op.
Tensor cell_sequence(CellKind kind, const Tensor& x, const Tensor& initial,
                     const CellWeights& weights, const SequenceRun& run,
                     Workspace* workspace = nullptr);

// A value for each direction of a bidirectional layer.
template <class V>
struct BothWays {
  V forward, reverse;
};

// Both directions of one layer over x at once, the reverse one on the side lane (a second
// thread) with every product on one thread: one node "rnn_both_ways" whose value [2, T, B, W]
// holds cell_sequence's states of the forward run, then of the reverse one (`run` as for the
// forward direction). Each direction draws from its own workspace. Backward runs the two
// directions' BPTT side by side too and adds the reverse direction's input gradient last.
Tensor cell_sequences_both_ways(CellKind kind, const Tensor& x, const BothWays<Tensor>& initial,
                                const BothWays<CellWeights>& weights, const SequenceRun& run,
                                const BothWays<Workspace*>& workspaces = {nullptr, nullptr});

// One block copy of gather_rows: `rows` rows of `width` values from source (starting at
// source_offset, rows source_stride apart) to the result (at offset, rows stride apart). Rows
// whose `active` flag is 0 are skipped (left zero) and get no gradient. Built by name:
//   GatherPiece::of(source, rows, width).from(offset, stride).to(offset, stride).only(active)
struct GatherPiece {
  Tensor source;
  std::size_t source_offset = 0;
  std::size_t source_stride = 0;
  std::size_t offset = 0;
  std::size_t stride = 0;
  std::size_t rows = 0;
  std::size_t width = 0;
  RowFlags active;

  static GatherPiece of(const Tensor& source, std::size_t rows, std::size_t width) {
    GatherPiece p;
    p.source = source;
    p.rows = rows;
    p.width = width;
    return p;
  }
  GatherPiece from(std::size_t source_offset_, std::size_t source_stride_) const {
    GatherPiece p = *this;
    p.source_offset = source_offset_;
    p.source_stride = source_stride_;
    return p;
  }
  GatherPiece to(std::size_t offset_, std::size_t stride_) const {
    GatherPiece p = *this;
    p.offset = offset_;
    p.stride = stride_;
    return p;
  }
  GatherPiece only(RowFlags active_) const {
    GatherPiece p = *this;
    p.active = std::move(active_);
    return p;
  }
};

// A zero tensor of `shape` with the pieces copied in: stacks step outputs into a sequence
// (time- or batch-major, directions side by side), stacks final states, splits the LSTM's h|c.
// Backward adds each piece's gradient rows back into its source. One node "rnn_gather".
Tensor gather_rows(const Shape& shape, const std::vector<GatherPiece>& pieces,
                   Workspace* workspace = nullptr);

// Columns [begin, begin + width) of a [B, W] state: the h or c half of an LSTM state. One node
// "slice".
Tensor state_part(const Tensor& state, std::size_t begin, std::size_t width);

// Buffers that one layer reuses from one forward to the next. Allocating the same large arrays
// afresh on every training step costs more than the arithmetic on them (freshly allocated memory
// page-faults on first touch). The tensors and sequences this workspace makes give their arrays
// back to it when they die (after backward, or when an unguarded forward's results are dropped);
// the next forward draws its arrays from those of the same size. The workspace holds no tensor,
// so it never keeps a graph alive. Not thread-safe: one workspace per layer and thread.
class Workspace : public ArrayRecycler, public std::enable_shared_from_this<Workspace> {
 public:
  // At the start of a forward: drops the spares that the previous forward did not take, so the
  // workspace never holds more than one forward's worth (shapes that vary simply miss).
  void recycle();
  // A tensor of `shape` with an uninitialised value and a spare gradient buffer (has_grad false),
  // both recycled when possible; its arrays come back here when it dies.
  Tensor tensor(const Shape& shape, DType dtype);
  // A recycled array of `shape` (uninitialised), or a new one.
  template <class T>
  xt::xarray<T> array(const Shape& shape);
  template <class T>
  void give_back(xt::xarray<T>&& a);
  void take(TensorImpl& dying) override;

 private:
  // Spares by element count, with the generation (forward) in which they came back.
  template <class T>
  using Pool = std::multimap<std::size_t, std::pair<std::uint64_t, xt::xarray<T>>>;
  template <class T>
  Pool<T>& spare();

  std::uint64_t generation_ = 0;
  Pool<float> spare_float_;
  Pool<double> spare_double_;
};


}  // namespace tg::nn
