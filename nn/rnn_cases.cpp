// Gradcheck cases of the recurrent ops: cells alone, sequences of steps, projection and gather.
#include <algorithm>
#include <memory>

#include "nn/recurrent.hpp"
#include "nn/rnn_ops.hpp"

namespace tg::nn {

namespace {

using Inputs = std::vector<Tensor>;
constexpr std::size_t kIn = 2, kHidden = 3, kBatch = 3, kSteps = 4;

const char* kind_label(CellKind kind) {
  switch (kind) {
    case CellKind::RnnTanh: return "tanh";
    case CellKind::RnnRelu: return "relu";
    case CellKind::Lstm: return "lstm";
    default: return "gru";
  }
}

std::size_t gh(CellKind kind) { return gate_count(kind) * kHidden; }

// Input i of the case if it exists, else undefined.
Tensor opt(const Inputs& in, std::size_t i) { return i < in.size() ? in[i] : Tensor(); }

// A whole sequence through the ops, as the layer driver runs it: one projection, the steps in
// order (or reversed), every step's full state (h, and c for the LSTM) gathered into
// [T + 1, B, W] (padded rows masked) with the final state in the last row. Inputs: x, w_ih,
// w_hh, b_ih, b_hh and optionally the initial state [B, W].
Tensor run_sequence(CellKind kind, const Inputs& in, bool batch_first, bool reverse,
                    const std::vector<std::size_t>& lengths) {
  const Tensor &x = in[0], &w_ih = in[1], &w_hh = in[2], &b_ih = in[3], &b_hh = in[4];
  const std::size_t width = state_width(kind, kHidden), slice = kBatch * width;
  const Projection p = input_projection(kind, x, batch_first, w_ih, w_hh, b_ih, b_hh);
  std::vector<RowFlags> active(kSteps);
  std::size_t steps = kSteps;
  if (!lengths.empty()) {
    steps = *std::max_element(lengths.begin(), lengths.end());
    for (std::size_t t = 0; t < kSteps; ++t) {
      auto flags = std::make_shared<std::vector<std::uint8_t>>(kBatch);
      for (std::size_t b = 0; b < kBatch; ++b) (*flags)[b] = lengths[b] > t;
      active[t] = flags;
    }
  }
  const Tensor states = cell_steps(p, opt(in, 5), w_hh, b_hh, reverse, steps, active);
  std::vector<GatherPiece> pieces;
  for (std::size_t t = 0; t < steps; ++t)
    pieces.push_back({states, t * slice, width, t * slice, width, kBatch, width, active[t]});
  const std::size_t last = reverse ? 0 : steps - 1;
  pieces.push_back({states, last * slice, width, kSteps * slice, width, kBatch, width, nullptr});
  return gather_rows({kSteps + 1, kBatch, width}, pieces);
}

void add_cell_cases(std::vector<GradcheckCase>& cases, CellKind kind) {
  const char* op = cell_op_name(kind);
  const std::size_t g = gh(kind);
  const std::string k = kind_label(kind);
  const bool lstm = kind == CellKind::Lstm;
  // Inputs: x, w_ih, w_hh, b_ih, b_hh, h (, c).
  Shape x{kBatch, kIn}, wi{g, kIn}, wh{g, kHidden}, b{g}, st{kBatch, kHidden};
  auto full = [kind, lstm](const Inputs& in) {
    return cell(kind, in[0], in[5], lstm ? in[6] : Tensor(), in[1], in[2], in[3], in[4]);
  };
  std::vector<Shape> shapes{x, wi, wh, b, b, st};
  if (lstm) shapes.push_back(st);
  cases.push_back({op, k + " cell with state and biases", shapes, full});
  cases.push_back({op, k + " cell from a zero state", {x, wi, wh, b, b},
                   [kind](const Inputs& in) {
                     return cell(kind, in[0], Tensor(), Tensor(), in[1], in[2], in[3], in[4]);
                   }});
  std::vector<Shape> no_bias{x, wi, wh, st};
  if (lstm) no_bias.push_back(st);
  cases.push_back({op, k + " cell without biases", no_bias, [kind, lstm](const Inputs& in) {
                     return cell(kind, in[0], in[3], lstm ? in[4] : Tensor(), in[1], in[2],
                                 Tensor(), Tensor());
                   }});
}

void add_sequence_cases(std::vector<GradcheckCase>& cases, CellKind kind) {
  const char* op = cell_op_name(kind);
  const std::size_t g = gh(kind), width = state_width(kind, kHidden);
  const std::string k = kind_label(kind);
  const Shape x{kSteps, kBatch, kIn}, xb{kBatch, kSteps, kIn}, wi{g, kIn}, wh{g, kHidden}, b{g},
      s0{kBatch, width};
  const std::vector<std::size_t> lengths{3, 1, 2};  // the longest below T: a step not run
  cases.push_back({op, k + " steps over a sequence", {x, wi, wh, b, b},
                   [kind](const Inputs& in) { return run_sequence(kind, in, false, false, {}); }});
  cases.push_back({op, k + " steps with initial state, reversed", {x, wi, wh, b, b, s0},
                   [kind](const Inputs& in) { return run_sequence(kind, in, false, true, {}); }});
  cases.push_back({op, k + " steps with padding", {x, wi, wh, b, b, s0},
                   [kind, lengths](const Inputs& in) {
                     return run_sequence(kind, in, false, false, lengths);
                   }});
  cases.push_back({op, k + " steps with padding, reversed, batch-first input",
                   {xb, wi, wh, b, b, s0}, [kind, lengths](const Inputs& in) {
                     return run_sequence(kind, in, true, true, lengths);
                   }});
}

void add_projection_cases(std::vector<GradcheckCase>& cases) {
  for (CellKind kind : {CellKind::Lstm, CellKind::Gru}) {
    const std::size_t g = gh(kind);
    const std::string k = kind_label(kind);
    const Shape wi{g, kIn}, wh{g, kHidden}, b{g};
    for (bool batch_first : {false, true}) {
      const Shape x = batch_first ? Shape{kBatch, kSteps, kIn} : Shape{kSteps, kBatch, kIn};
      cases.push_back({"rnn_input_projection",
                       k + (batch_first ? " projection alone, batch-first" : " projection alone"),
                       {x, wi, wh, b, b}, [kind, batch_first](const Inputs& in) {
                         return input_projection(kind, in[0], batch_first, in[1], in[2], in[3],
                                                 in[4])
                             .gates;
                       }});
    }
  }
}

void add_gather_cases(std::vector<GradcheckCase>& cases) {
  cases.push_back({"rnn_gather", "two sources side by side, one row masked", {{3, 2}, {3, 4}},
                   [](const Inputs& in) {
                     auto flags = std::make_shared<std::vector<std::uint8_t>>(
                         std::vector<std::uint8_t>{1, 0, 1});
                     return gather_rows({3, 6}, {{in[0], 0, 2, 0, 6, 3, 2, flags},
                                                 {in[1], 0, 4, 2, 6, 3, 4, nullptr}});
                   }});
  cases.push_back({"rnn_gather", "one source read twice, strided", {{2, 6}},
                   [](const Inputs& in) {
                     return gather_rows({2, 2, 3}, {{in[0], 0, 6, 0, 3, 2, 3, nullptr},
                                                    {in[0], 2, 6, 6, 3, 2, 3, nullptr}});
                   }});
  cases.push_back({"rnn_gather", "state halves", {{3, 4}},
                   [](const Inputs& in) {
                     return gather_rows({3, 2}, {{in[0], 2, 4, 0, 2, 3, 2, nullptr}});
                   }});
}

}  // namespace

void add_rnn_op_cases(std::vector<GradcheckCase>& cases) {
  for (CellKind kind : {CellKind::RnnTanh, CellKind::RnnRelu, CellKind::Lstm, CellKind::Gru}) {
    add_cell_cases(cases, kind);
    add_sequence_cases(cases, kind);
  }
  add_projection_cases(cases);
  add_gather_cases(cases);
}

std::vector<GradcheckCase> recurrent_gradcheck_cases() {
  std::vector<GradcheckCase> cases;
  add_rnn_op_cases(cases);
  return cases;
}

}  // namespace tg::nn
