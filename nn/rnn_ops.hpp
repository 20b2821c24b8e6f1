// The recurrent ops recorded on the tape: a fused cell, the hoisted input projection, one step
// of a sequence, and the row gather that assembles outputs and states.
//
// A layer runs one direction of one layer as
//   p = input_projection(...)                     one node "rnn_input_projection": X W_ih^T + b
//   s_t = cell_step(p, t, s_{t-1}, ...)           one node per step, named as the cell
// and BPTT is the tape replayed backwards: each step writes its gate gradient into slice t of
// the projection's gradient, and the projection node, recorded before the steps and so replayed
// after all of them, turns the gate gradients of every step into the weight gradients with one
// product each (dW_ih = dG^T X, dW_hh = sum_t dG_t^T h_{t-1}).
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <vector>

#include "autograd/gradcheck.hpp"
#include "autograd/tensor.hpp"
#include "nn/rnn_kernels.hpp"

namespace tg::nn {

// One fused cell step from scratch, for the cell modules: x [B, in], h [B, H] (and c [B, H] for
// the LSTM; undefined means zero), weight_ih [G*H, in], weight_hh [G*H, H], biases [G*H] or
// undefined. Returns h' [B, H], or for the LSTM h' and c' side by side in one [B, 2H] tensor
// (split it with state_part). One node named cell_op_name(kind).
Tensor cell(CellKind kind, const Tensor& x, const Tensor& h, const Tensor& c,
            const Tensor& weight_ih, const Tensor& weight_hh, const Tensor& bias_ih,
            const Tensor& bias_hh);

// State shared by one sequence's projection node and its step nodes (buffers of h_{t-1} for
// dW_hh, the GRU's hidden-side gate gradients, and whether the steps' backward has written their
// slices).
struct Sequence;

class Workspace;

struct Projection {
  Tensor gates;  // [T, B, G*H]: X W_ih^T + b_ih (+ b_hh except the GRU's n part), time-major
  std::shared_ptr<Sequence> sequence;
};

// x is [T, B, in], or [B, T, in] when batch_first. weight_hh and bias_hh are inputs because
// their gradients are computed here, from all the steps' gate gradients at once. One node
// "rnn_input_projection" when anything requires grad. The gates' gradient must come either
// only from cell_steps (the layer) or only from elsewhere (a test of this op alone).
Projection input_projection(CellKind kind, const Tensor& x, bool batch_first,
                            const Tensor& weight_ih, const Tensor& weight_hh,
                            const Tensor& bias_ih, const Tensor& bias_hh,
                            Workspace* workspace = nullptr);

using RowFlags = std::shared_ptr<const std::vector<std::uint8_t>>;

// Runs the first `steps` steps of the sequence, in order or reversed (t = steps-1 down to 0),
// from `initial` ([B, W] values with W = state_width; undefined means zero), and returns every
// step's state in one tensor [T, B, W] (slices of steps not run are zero). Each step is one node
// named cell_op_name(kind) whose output is that tensor: step t reads slice t-1 (t+1 reversed) and
// writes slice t, so in backward each step finds its slice's gradient complete and adds into the
// previous one. active[t] (null, or an empty vector: every row) flags the rows that step; the
// others keep their state and get no gradient. The gates are overwritten by their activations
// (the projection's backward does not need them), so a projection runs its steps once.
Tensor cell_steps(const Projection& projection, const Tensor& initial, const Tensor& weight_hh,
                  const Tensor& bias_hh, bool reverse, std::size_t steps,
                  const std::vector<RowFlags>& active = {}, Workspace* workspace = nullptr);

// One block copy of gather_rows: `rows` rows of `width` values from source (starting at
// source_offset, rows source_stride apart) to the result (at offset, rows stride apart). Rows
// whose `active` flag is 0 are skipped (left zero) and get no gradient.
struct GatherPiece {
  Tensor source;
  std::size_t source_offset = 0;
  std::size_t source_stride = 0;
  std::size_t offset = 0;
  std::size_t stride = 0;
  std::size_t rows = 0;
  std::size_t width = 0;
  RowFlags active;
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

// Gradcheck cases of the ops above (cells, projection, steps, gather), in float64.
void add_rnn_op_cases(std::vector<GradcheckCase>& cases);

}  // namespace tg::nn
