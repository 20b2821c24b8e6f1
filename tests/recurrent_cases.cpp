// Gradcheck cases of the recurrent ops: cells alone, fused sequences (one direction, or both side
// by side), and the row gather.
#include <algorithm>
#include <memory>

#include "tapegrad/nn/recurrent.hpp"
#include "nn/rnn_ops.hpp"
#include "op_cases.hpp"

namespace tg::nn {

namespace {

using Inputs = std::vector<Tensor>;
constexpr std::size_t kIn = 2, kHidden = 3, kBatch = 3, kSteps = 4;

const char* kind_label(CellKind kind) { return cell_spec(kind).label; }

std::size_t gh(CellKind kind) { return gate_count(kind) * kHidden; }

// Input i of the case if it exists, else undefined.
Tensor opt(const Inputs& in, std::size_t i) { return i < in.size() ? in[i] : Tensor(); }

// The run of kSteps steps of sequences of these lengths (empty: all kSteps, no flags).
SequenceRun run_of(const std::vector<std::size_t>& lengths, bool batch_first, bool reverse) {
  SequenceRun run;
  run.batch_first = batch_first;
  run.reverse = reverse;
  run.steps = kSteps;
  if (lengths.empty()) return run;
  run.steps = *std::max_element(lengths.begin(), lengths.end());
  for (std::size_t t = 0; t < kSteps; ++t) {
    auto flags = std::make_shared<std::vector<std::uint8_t>>(kBatch);
    for (std::size_t b = 0; b < kBatch; ++b) (*flags)[b] = lengths[b] > t;
    run.active.push_back(flags);
  }
  return run;
}

// A whole sequence through the fused op, as the layer driver runs it: the steps in order (or
// reversed), every step's full state (h, and c for the LSTM) gathered into
// [T + 1, B, W] (padded rows masked) with the final state in the last row. Inputs: x, w_ih,
// w_hh, b_ih, b_hh and optionally the initial state [B, W].
Tensor run_sequence(CellKind kind, const Inputs& in, bool batch_first, bool reverse,
                    const std::vector<std::size_t>& lengths) {
  const Tensor &x = in[0], &w_ih = in[1], &w_hh = in[2], &b_ih = in[3], &b_hh = in[4];
  const std::size_t width = state_width(kind, kHidden), slice = kBatch * width;
  const SequenceRun run = run_of(lengths, batch_first, reverse);
  const std::size_t steps = run.steps;
  std::vector<RowFlags> active = run.active;
  active.resize(kSteps);
  CellWeights w;
  w.w_ih = w_ih;
  w.w_hh = w_hh;
  w.b_ih = b_ih;
  w.b_hh = b_hh;
  const Tensor states = cell_sequence(kind, x, opt(in, 5), w, run);
  std::vector<GatherPiece> pieces;
  for (std::size_t t = 0; t < steps; ++t)
    pieces.push_back(
        GatherPiece::of(states, kBatch, width).from(t * slice, width).to(t * slice, width).only(active[t]));
  const std::size_t last = reverse ? 0 : steps - 1;
  pieces.push_back(
      GatherPiece::of(states, kBatch, width).from(last * slice, width).to(kSteps * slice, width));
  return gather_rows({kSteps + 1, kBatch, width}, pieces);
}

void add_cell_cases(std::vector<GradcheckCase>& cases, CellKind kind) {
  const char* op = cell_op_name(kind);
  const std::size_t g = gh(kind);
  const std::string k = kind_label(kind);
  const bool lstm = cell_spec(kind).has_cell_state;
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
  const char* op = cell_spec(kind).sequence_op;
  const std::size_t g = gh(kind), width = state_width(kind, kHidden);
  const std::string k = kind_label(kind);
  const Shape x{kSteps, kBatch, kIn}, xb{kBatch, kSteps, kIn}, wi{g, kIn}, wh{g, kHidden}, b{g},
      s0{kBatch, width};
  const std::vector<std::size_t> lengths{3, 1, 2};  // the longest below T: a step not run
  cases.push_back({op, k + " sequence", {x, wi, wh, b, b},
                   [kind](const Inputs& in) { return run_sequence(kind, in, false, false, {}); }});
  cases.push_back({op, k + " sequence with initial state, reversed", {x, wi, wh, b, b, s0},
                   [kind](const Inputs& in) { return run_sequence(kind, in, false, true, {}); }});
  cases.push_back({op, k + " sequence with padding", {x, wi, wh, b, b, s0},
                   [kind, lengths](const Inputs& in) {
                     return run_sequence(kind, in, false, false, lengths);
                   }});
  cases.push_back({op, k + " sequence with padding, reversed, batch-first input",
                   {xb, wi, wh, b, b, s0}, [kind, lengths](const Inputs& in) {
                     return run_sequence(kind, in, true, true, lengths);
                   }});
}

// Both directions side by side: the op's value [2, T, B, W] itself. Inputs: x, then the
// forward and the reverse direction's w_ih, w_hh, b_ih, b_hh, then optionally both initial
// states [B, W].
Tensor run_both_ways(CellKind kind, const Inputs& in, bool batch_first,
                     const std::vector<std::size_t>& lengths) {
  const SequenceRun run = run_of(lengths, batch_first, false);
  const CellWeights forward{in[1], in[2], in[3], in[4]}, reverse{in[5], in[6], in[7], in[8]};
  return cell_sequences_both_ways(kind, in[0], {opt(in, 9), opt(in, 10)}, {forward, reverse}, run);
}

void add_both_ways_cases(std::vector<GradcheckCase>& cases, CellKind kind) {
  const std::size_t g = gh(kind), width = state_width(kind, kHidden);
  const std::string k = kind_label(kind);
  const Shape x{kSteps, kBatch, kIn}, xb{kBatch, kSteps, kIn}, wi{g, kIn}, wh{g, kHidden}, b{g},
      s0{kBatch, width};
  const std::vector<std::size_t> lengths{3, 1, 2};
  cases.push_back({"rnn_both_ways", k + " both ways, initial states and padding",
                   {x, wi, wh, b, b, wi, wh, b, b, s0, s0}, [kind, lengths](const Inputs& in) {
                     return run_both_ways(kind, in, false, lengths);
                   }});
  cases.push_back({"rnn_both_ways", k + " both ways, batch-first input from zero",
                   {xb, wi, wh, b, b, wi, wh, b, b},
                   [kind](const Inputs& in) { return run_both_ways(kind, in, true, {}); }});
}

void add_gather_cases(std::vector<GradcheckCase>& cases) {
  cases.push_back({"rnn_gather", "two sources side by side, one row masked", {{3, 2}, {3, 4}},
                   [](const Inputs& in) {
                     auto flags = std::make_shared<std::vector<std::uint8_t>>(
                         std::vector<std::uint8_t>{1, 0, 1});
                     return gather_rows({3, 6}, {GatherPiece::of(in[0], 3, 2).from(0, 2).to(0, 6).only(flags),
                                                 GatherPiece::of(in[1], 3, 4).from(0, 4).to(2, 6)});
                   }});
  cases.push_back({"rnn_gather", "one source read twice, strided", {{2, 6}},
                   [](const Inputs& in) {
                     return gather_rows({2, 2, 3}, {GatherPiece::of(in[0], 2, 3).from(0, 6).to(0, 3),
                                                    GatherPiece::of(in[0], 2, 3).from(2, 6).to(6, 3)});
                   }});
  cases.push_back({"rnn_gather", "state halves", {{3, 4}},
                   [](const Inputs& in) {
                     return gather_rows({3, 2}, {GatherPiece::of(in[0], 3, 2).from(2, 4).to(0, 2)});
                   }});
}

}  // namespace

}  // namespace tg::nn

namespace tg::testing {

std::vector<GradcheckCase> recurrent_cases() {
  std::vector<GradcheckCase> cases;
  for (nn::CellKind kind : nn::kCellKinds) {
    nn::add_cell_cases(cases, kind);
    nn::add_sequence_cases(cases, kind);
    nn::add_both_ways_cases(cases, kind);
  }
  nn::add_gather_cases(cases);
  return cases;
}

}  // namespace tg::testing
