// Recurrent cells written by users with tensor ops, run by the same driver as the fused layers.
//
// A cell is a small Module: it registers its parameters (PyTorch-style names such as
// "weight_hh"), says how wide its state is, and writes one step with ordinary ops. The layer
// gives it stacking, two directions, `lengths`, dropout between layers, batch_first and
// initial / final state. It is the flexible path: every op of every step is a node. The fused
// RNN, LSTM and GRU stay the fast path.
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

}  // namespace tg::nn
