// The driver's generic path: a custom cell's steps as ordinary ops, one projection up front.
#include "tapegrad/nn/custom_recurrent.hpp"

#include <fmt/format.h>

#include "tapegrad/autograd/ops/linalg.hpp"
#include "tapegrad/autograd/ops/shape.hpp"
#include "tapegrad/nn/rnn_cells.hpp"
#include "nn/rnn_ops.hpp"

namespace tg::nn {

CustomRecurrent::CustomRecurrent(const RecurrentOptions& options, const CellFactory& make_cell,
                                 Generator& gen)
    : RecurrentDriver(options, options.hidden_size(), 0) {
  const RecurrentOptions& o = options;
  if (o.input_size() == 0 || o.hidden_size() == 0 || o.num_layers() == 0 || !make_cell)
    throw Error(fmt::format("CustomRecurrent: input_size {}, hidden_size {} and num_layers {} "
                            "must be positive, and a cell factory given",
                            o.input_size(), o.hidden_size(), o.num_layers()));
  if (!(o.dropout() >= 0.0 && o.dropout() < 1.0))
    throw Error(fmt::format("CustomRecurrent: dropout must be in [0, 1), got {}", o.dropout()));
  for (std::size_t l = 0; l < o.num_layers(); ++l)
    for (std::size_t d = 0; d < num_directions(); ++d) {
      std::shared_ptr<CustomCell> c = make_cell(layer_input_size(l), gen);
      if (!c || c->hidden_size() != o.hidden_size() || c->weight_ih().dim() != 2 ||
          c->weight_ih().size(1) != layer_input_size(l))
        throw Error(fmt::format("CustomRecurrent: the cell of layer {} must have hidden_size {} "
                                "and weight_ih [P, {}]",
                                l, o.hidden_size(), layer_input_size(l)));
      if (!cells_.empty() && c->cell_size() != cells_.front()->cell_size())
        throw Error("CustomRecurrent: every cell must have the same cell_size");
      for (const auto& [name, t] : c->named_parameters())
        register_parameter(name + suffix(l, d == 1), t);
      cells_.push_back(std::move(c));
    }
  set_cell_width(cells_.front()->cell_size());
  seed_dropout(gen);
}

CustomCell& CustomRecurrent::cell(std::size_t layer, bool reverse) const {
  if (layer >= options().num_layers() || (reverse && !options().bidirectional()))
    throw Error(fmt::format("CustomRecurrent: no layer {}{}", layer, reverse ? " in reverse" : ""));
  return *cells_[layer * num_directions() + (reverse ? 1 : 0)];
}

Tensor CustomRecurrent::run_direction(std::size_t k, const Tensor& input, const Tensor& initial,
                                      const SequenceRun& run) {
  CustomCell& c = *cells_[k];
  const Shape sx = input.shape();
  const int time_axis = run.batch_first ? 1 : 0;
  const std::size_t T = sx[time_axis], B = sx[1 - time_axis];
  const std::size_t W = c.hidden_size() + c.cell_size(), steps = run.steps == 0 ? T : run.steps;
  const long batch = static_cast<long>(B), width = static_cast<long>(W);
  // The projection of every step as one product, in the input's own layout.
  const Tensor projected = linear(input, c.weight_ih(), c.bias_ih());
  const long P = static_cast<long>(projected.size(-1));
  Tensor state = initial.defined() ? reshape(initial, {batch, width})
                                   : Tensor::zeros({B, W}, input.dtype());
  std::vector<GatherPiece> pieces;  // every step's state into [T, B, W]
  for (std::size_t i = 0; i < steps; ++i) {
    const std::size_t t = run.reverse ? steps - 1 - i : i;
    const long at = static_cast<long>(t);
    Tensor next = c.step(state, reshape(slice(projected, time_axis, at, at + 1), {batch, P}));
    if (next.shape() != Shape{B, W})
      throw Error(fmt::format("{}: step returned {} for a state [{}, {}]", type_name(),
                              shape_str(next.shape()), B, W));
    const RowFlags& flags = t < run.active.size() ? run.active[t] : nullptr;
    if (flags) {  // padded rows keep their state: new rows where active, old ones elsewhere
      auto idle = std::make_shared<std::vector<std::uint8_t>>(B);
      for (std::size_t b = 0; b < B; ++b) (*idle)[b] = !(*flags)[b];
      next = gather_rows({B, W}, {GatherPiece::of(next, B, W).from(0, W).to(0, W).only(flags),
                                  GatherPiece::of(state, B, W).from(0, W).to(0, W).only(idle)});
    }
    pieces.push_back(GatherPiece::of(next, B, W).from(0, W).to(t * B * W, W));
    state = next;
  }
  return gather_rows({T, B, W}, pieces, workspace());
}

OpsCell::OpsCell(CellKind kind, std::size_t input_size, std::size_t hidden_size, bool bias,
                 Generator& gen)
    : kind_(kind), hidden_(hidden_size) {
  const std::size_t gh = gate_count(kind) * hidden_size;
  w_ih_ = register_parameter("weight_ih", recurrent_init({gh, input_size}, hidden_size, gen));
  w_hh_ = register_parameter("weight_hh", recurrent_init({gh, hidden_size}, hidden_size, gen));
  if (bias) {
    b_ih_ = register_parameter("bias_ih", recurrent_init({gh}, hidden_size, gen));
    b_hh_ = register_parameter("bias_hh", recurrent_init({gh}, hidden_size, gen));
  }
}

std::string OpsCell::type_name() const {
  return std::string(cell_spec(kind_).layer_name) + "OpsCell";
}

std::size_t OpsCell::cell_size() const {
  return state_width(kind_, hidden_) - hidden_;
}

Tensor OpsCell::step(const Tensor& state, const Tensor& projected) {
  const long H = static_cast<long>(hidden_);
  const Tensor h = cell_size() ? slice(state, 1, 0, H) : state;
  return cell_spec(kind_).step_ops(projected, linear(h, w_hh_, b_hh_), state, hidden_, tap_);
}

CellFactory ops_cells(CellKind kind, std::size_t hidden_size, bool bias) {
  return [=](std::size_t input_size, Generator& gen) {
    return std::make_shared<OpsCell>(kind, input_size, hidden_size, bias, gen);
  };
}

}  // namespace tg::nn
