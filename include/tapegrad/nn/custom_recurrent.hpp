// Recurrent cells written by users with tensor ops, run by the same driver as the fused layers.
//
// A cell is a small Module: it registers its parameters (PyTorch-style names such as
// "weight_hh"), says how wide its state is, and writes one step with ordinary ops. The layer
// gives it stacking, two directions, `lengths`, dropout between layers, batch_first and
// initial / final state. It is the flexible path: every op of every step is a node. The fused
// layers (nn::LSTM, ...) stay the fast path; nn::OpsCell is any of them written with ops.
#pragma once

#include <functional>
#include <memory>
#include <vector>

#include "tapegrad/nn/recurrent.hpp"

namespace tg::nn {

class CustomCell : public Module {
 public:
  virtual std::size_t hidden_size() const = 0;         // width of h, each step's output
  virtual std::size_t cell_size() const { return 0; }  // width of c after h in the state; 0: none
  // The input projection the driver computes for all steps as one product before the loop:
  // projected = x weight_ih^T + bias_ih, weight_ih [P, in], bias_ih [P] or undefined.
  virtual const Tensor& weight_ih() const = 0;
  virtual const Tensor& bias_ih() const = 0;
  // The next state [B, hidden + cell] (h then c) from the previous one and the step's projected
  // input [B, P], written with tensor ops.
  virtual Tensor step(const Tensor& state, const Tensor& projected) = 0;
};

// Makes the cell of one layer and direction for its input width.
using CellFactory =
    std::function<std::shared_ptr<CustomCell>(std::size_t input_size, Generator& gen)>;

// Layers of custom cells. Each cell's parameters become the layer's, named with PyTorch's
// suffixes: a cell's "weight_hh" in layer 1, reverse direction, is "weight_hh_l1_reverse". The
// cells are made layer by layer, forward direction first, as PyTorch draws its parameters.
class CustomRecurrent : public RecurrentDriver {
 public:
  CustomRecurrent(const RecurrentOptions& options, const CellFactory& make_cell,
                  Generator& gen = default_generator());
  std::string type_name() const override { return "CustomRecurrent"; }
  CustomCell& cell(std::size_t layer, bool reverse = false) const;

 protected:
  Tensor run_direction(std::size_t k, const Tensor& input, const Tensor& initial,
                       const SequenceRun& run) override;

 private:
  std::vector<std::shared_ptr<CustomCell>> cells_;  // index layer * D + direction
};

// A built-in kind's step written with ops (its description's step_ops) as a custom cell: the
// fused layer's parameters, names and initialisation, every op of every step a node, so it can
// be differentiated twice. `CustomRecurrent(options, ops_cells(kind, H))` is the op-built twin of
// `make_recurrent_layer(kind, options)`: the same generator gives both the same parameters.
class OpsCell : public CustomCell {
 public:
  OpsCell(CellKind kind, std::size_t input_size, std::size_t hidden_size, bool bias = true,
          Generator& gen = default_generator());
  std::string type_name() const override;  // "LSTMOpsCell", ...
  CellKind kind() const { return kind_; }
  std::size_t hidden_size() const override { return hidden_; }
  std::size_t cell_size() const override;
  const Tensor& weight_ih() const override { return w_ih_; }
  const Tensor& bias_ih() const override { return b_ih_; }
  Tensor step(const Tensor& state, const Tensor& projected) override;
  // Every step's activated gates pass through `tap` (empty: none).
  void set_gate_tap(GateTap tap) { tap_ = std::move(tap); }

 private:
  CellKind kind_;
  std::size_t hidden_;
  Tensor w_ih_, w_hh_, b_ih_, b_hh_;
  GateTap tap_;
};

// The cells of an op-built layer of `kind` for CustomRecurrent.
CellFactory ops_cells(CellKind kind, std::size_t hidden_size, bool bias = true);

}  // namespace tg::nn
