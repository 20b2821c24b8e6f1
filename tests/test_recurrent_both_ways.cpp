// A bidirectional layer's two directions side by side on two threads (rnn_both_ways) against
// the same layer running them one after the other, and the side lane under them.
#include <catch2/catch.hpp>

#include <atomic>
#include <stdexcept>
#include <thread>

#include "tapegrad/autograd/blas.hpp"
#include "tapegrad/autograd/ops.hpp"
#include "tapegrad/autograd/tape.hpp"
#include "tapegrad/nn/nn.hpp"
#include "tapegrad/nn/rnn_kinds.hpp"
#include "nn/rnn_ops.hpp"
#include "nn/side_lane.hpp"
#include "compare.hpp"

using namespace tg;
using nn::CellKind;

extern "C" int openblas_get_num_threads(void);

// Run alone (ctest runs each case in its own process): nothing has set BLAS's threads yet.
TEST_CASE("a side-by-side scope leaves the threads asked for as they were",
          "[recurrent][both_ways]") {
  const int threads = openblas_get_num_threads();
  { blas::SerialProducts one_thread_each; }
  CHECK(blas::num_threads() == threads);
  { blas::SerialProducts one_thread_each; }
  CHECK(blas::num_threads() == threads);
}

namespace {

// Side by side (or not) with `threads` BLAS threads for one scope; then the defaults again.
struct Mode {
  Mode(bool side_by_side, int threads) : saved_threads(blas::num_threads()) {
    nn::set_directions_side_by_side(side_by_side);
    blas::set_num_threads(threads);
  }
  ~Mode() {
    nn::set_directions_side_by_side(true);
    blas::set_num_threads(saved_threads);
  }
  int saved_threads;
};

struct Run {
  std::vector<std::vector<double>> values;  // output, final h (and c), last
  std::vector<std::vector<double>> grads;   // of x, h0 (and c0), then every parameter
  std::size_t both_ways_nodes = 0;
};

struct Setup {
  CellKind kind;
  DType dtype;
  bool batch_first;
  std::size_t T, B, in, hidden, layers;
  std::vector<std::size_t> lengths;  // empty: no padding
  bool initial_state;
  bool exact_gradients;
};

Run run_layer(const Setup& s, bool side_by_side) {
  Mode mode(side_by_side, 2);
  Generator gen(11);
  auto options = nn::RecurrentOptions(s.in, s.hidden).num_layers(s.layers).bidirectional(true)
                     .batch_first(s.batch_first);
  auto layer = nn::make_recurrent_layer(s.kind, options, gen);
  layer->to(s.dtype);
  const Shape xs = s.batch_first ? Shape{s.B, s.T, s.in} : Shape{s.T, s.B, s.in};
  Tensor x = Tensor::uniform(xs, -1.0, 1.0, s.dtype, gen).set_requires_grad();
  const bool has_c = nn::cell_spec(s.kind).has_cell_state;
  nn::RecurrentState state;
  if (s.initial_state) {
    state.h = Tensor::uniform({2 * s.layers, s.B, s.hidden}, -1.0, 1.0, s.dtype, gen)
                  .set_requires_grad();
    if (has_c)
      state.c = Tensor::uniform({2 * s.layers, s.B, s.hidden}, -1.0, 1.0, s.dtype, gen)
                    .set_requires_grad();
  }
  const nn::RecurrentOutput out = layer->forward(x, state, s.lengths);
  // A loss that weighs every value of every result differently.
  Tensor loss;
  std::size_t k = 0;
  for (const Tensor& t : {out.output, out.state.h, out.state.c, out.last}) {
    if (!t.defined()) continue;
    const Tensor weights = Tensor::uniform(t.shape(), -1.0, 1.0, s.dtype, gen);
    const Tensor part = sum(mul(t, weights));
    loss = k++ == 0 ? part : add(loss, part);
  }
  Run r;
  for (const auto& node : graph_nodes({loss})) r.both_ways_nodes += node->op == std::string("rnn_both_ways");
  for (const Tensor& t : {out.output, out.state.h, out.state.c, out.last})
    if (t.defined()) r.values.push_back(t.to_vector());
  std::vector<Tensor> inputs{x};
  if (state.h.defined()) inputs.push_back(state.h);
  if (state.c.defined()) inputs.push_back(state.c);
  for (const Tensor& p : layer->parameters()) inputs.push_back(p);
  for (const Tensor& g : grad({loss}, inputs)) r.grads.push_back(g.to_vector());
  return r;
}

void check_agree(const Setup& s) {
  const Run one_by_one = run_layer(s, false), side_by_side = run_layer(s, true);
  CHECK(one_by_one.both_ways_nodes == 0);
  CHECK(side_by_side.both_ways_nodes == s.layers);
  // The same kernels and products on the same data: the values agree to the bit.
  REQUIRE(one_by_one.values.size() == side_by_side.values.size());
  for (std::size_t i = 0; i < one_by_one.values.size(); ++i) {
    INFO("result " << i);
    CHECK(testing::max_abs_diff(side_by_side.values[i], one_by_one.values[i]) == 0.0);
  }
  // Where every product is below BLAS's serial bound (blas.hpp) the gradients agree to the bit
  // too: the two directions' parts of the input's gradient are added in the same order. Larger
  // products run on two threads one after the other but on one side by side, and OpenBLAS's
  // rounding depends on the split: then they agree to rounding.
  const double tol = s.exact_gradients ? 0.0 : 1e-5;
  REQUIRE(one_by_one.grads.size() == side_by_side.grads.size());
  for (std::size_t i = 0; i < one_by_one.grads.size(); ++i) {
    INFO("gradient " << i);
    CHECK(testing::rel_norm_error(side_by_side.grads[i], one_by_one.grads[i]) <= tol);
  }
}

}  // namespace

TEST_CASE("side by side, the two directions give what one after the other gives",
          "[recurrent][both_ways]") {
  for (CellKind kind : nn::kCellKinds) {
    const std::string label = nn::cell_spec(kind).label;
    DYNAMIC_SECTION(label << ", float64, two layers, padded, with initial states") {
      check_agree({kind, DType::Float64, false, 6, 4, 3, 5, 2, {6, 2, 4, 1}, true, true});
    }
    DYNAMIC_SECTION(label << ", float64, batch-first, no padding, from zero") {
      check_agree({kind, DType::Float64, true, 5, 3, 2, 4, 1, {}, false, true});
    }
  }
  SECTION("GRU, float32, the sizes of name_language (batch 64, 128 units, names up to 12)") {
    std::vector<std::size_t> lengths;
    for (std::size_t b = 0; b < 64; ++b) lengths.push_back(3 + b % 10);
    check_agree({CellKind::Gru, DType::Float32, true, 12, 64, 64, 128, 1, lengths, false, false});
  }
  SECTION("LSTM, float32, two layers of 96 units") {
    check_agree({CellKind::Lstm, DType::Float32, false, 9, 16, 8, 96, 2, {}, true, false});
  }
}

TEST_CASE("side by side needs two BLAS threads and a fused kind", "[recurrent][both_ways]") {
  Generator gen(3);
  auto options = nn::RecurrentOptions(2, 3).bidirectional(true);
  auto layer = nn::make_recurrent_layer(CellKind::Gru, options, gen);
  Tensor x = Tensor::uniform({4, 2, 2}, -1.0, 1.0, DType::Float32, gen).set_requires_grad();
  auto count = [&] {
    std::size_t n = 0;
    for (const auto& node : graph_nodes({layer->forward(x, {}, {}).output}))
      n += node->op == std::string("rnn_both_ways");
    return n;
  };
  {
    Mode mode(true, 1);
    CHECK(count() == 0);
  }
  {
    Mode mode(true, 2);
    CHECK(count() == 1);
  }
  {
    Mode mode(false, 2);
    CHECK(count() == 0);
  }
}

TEST_CASE("rnn_both_ways refuses what would make its directions share a tensor",
          "[recurrent][both_ways]") {
  Generator gen(5);
  const CellKind kind = CellKind::Gru;
  auto w = [&] {
    nn::CellWeights c;
    c.w_ih = Tensor::uniform({9, 2}, -1.0, 1.0, DType::Float64, gen);
    c.w_hh = Tensor::uniform({9, 3}, -1.0, 1.0, DType::Float64, gen);
    return c;
  };
  const Tensor x = Tensor::uniform({4, 2, 2}, -1.0, 1.0, DType::Float64, gen);
  const Tensor h0 = Tensor::uniform({2, 3}, -1.0, 1.0, DType::Float64, gen);
  const nn::BothWays<nn::CellWeights> weights{w(), w()};
  nn::SequenceRun run;
  CHECK_NOTHROW(nn::cell_sequences_both_ways(kind, x, {h0, Tensor()}, weights, run));
  CHECK_THROWS_WITH(nn::cell_sequences_both_ways(kind, x, {h0, h0}, weights, run),
                    "rnn_both_ways: one tensor as both directions' initial state");
  auto ws = std::make_shared<nn::Workspace>();
  CHECK_THROWS_WITH(nn::cell_sequences_both_ways(kind, x, {}, weights, run, {ws.get(), ws.get()}),
                    "rnn_both_ways: one workspace for both directions");
  run.reverse = true;
  CHECK_THROWS_WITH(nn::cell_sequences_both_ways(kind, x, {}, weights, run),
                    "rnn_both_ways: run.reverse set; the op runs both ways");
  run.reverse = false;
  CHECK_THROWS_WITH(nn::cell_sequences_both_ways(kind, Tensor::zeros({4, 2, 3}, DType::Float64),
                                                 {}, weights, run),
                    Catch::Contains("gru_sequence: input [4,2,3] does not match weight_ih"));
}

TEST_CASE("the side lane runs beside the caller and hands back what either threw",
          "[recurrent][both_ways]") {
  using nn::detail::run_side_by_side;
  const std::thread::id caller = std::this_thread::get_id();
  std::thread::id side_thread;
  std::atomic<int> done{0};
  run_side_by_side([&] { ++done; }, [&] {
    side_thread = std::this_thread::get_id();
    ++done;
  });
  CHECK(done == 2);
  CHECK(side_thread != caller);

  // Either side's exception arrives after both have finished; the caller's wins.
  done = 0;
  CHECK_THROWS_WITH(run_side_by_side([&] { ++done; },
                                     [&] {
                                       ++done;
                                       throw std::runtime_error("side failed");
                                     }),
                    "side failed");
  CHECK(done == 2);
  done = 0;
  CHECK_THROWS_WITH(run_side_by_side(
                        [&] {
                          ++done;
                          throw std::runtime_error("here failed");
                        },
                        [&] {
                          std::this_thread::sleep_for(std::chrono::milliseconds(20));
                          ++done;
                          throw std::runtime_error("side failed too");
                        }),
                    "here failed");
  CHECK(done == 2);

  // Asked again from inside the lane (busy): both parts run there, one after the other.
  std::thread::id inner_here, inner_side;
  run_side_by_side([] {}, [&] {
    run_side_by_side([&] { inner_here = std::this_thread::get_id(); },
                     [&] { inner_side = std::this_thread::get_id(); });
  });
  CHECK(inner_here == side_thread);
  CHECK(inner_side == side_thread);
}
