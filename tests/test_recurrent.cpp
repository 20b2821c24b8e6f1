// Recurrent cells and layers: gradchecks, names and shapes, padding invariance, stepping, models.
#include <catch2/catch.hpp>

#include <cmath>
#include <map>
#include <set>

#include "op_cases.hpp"
#include "tapegrad/autograd/blas.hpp"
#include "tapegrad/autograd/gradcheck.hpp"
#include "tapegrad/autograd/ops.hpp"
#include "tapegrad/autograd/tape.hpp"
#include "tapegrad/nn/nn.hpp"
#include "tapegrad/nn/rnn_kinds.hpp"
#include "nn/rnn_ops.hpp"
#include "compare.hpp"

using namespace tg;
using nn::CellKind;

namespace {

// Every kind the library describes: a new kind is tested without touching this file.
constexpr const auto& kKinds = nn::kCellKinds;

const char* kind_name(CellKind kind) { return nn::cell_spec(kind).label; }

std::shared_ptr<nn::RecurrentLayer> make_layer(CellKind kind, const nn::RecurrentOptions& o,
                                               std::uint64_t seed = 7) {
  Generator gen(seed);
  return nn::make_recurrent_layer(kind, o, gen);
}

Tensor random64(const Shape& shape, std::uint64_t seed, bool requires_grad = false) {
  Generator gen(seed);
  Tensor t = Tensor::uniform(shape, -1.0, 1.0, DType::Float64, gen);
  if (requires_grad) t.set_requires_grad();
  return t;
}

// All values of the tensors, one after the other, as one 1-D tensor (through rnn_gather, so
// gradients flow).
Tensor pack(const std::vector<Tensor>& tensors) {
  std::vector<nn::GatherPiece> pieces;
  std::size_t offset = 0;
  for (const Tensor& t : tensors) {
    if (!t.defined()) continue;
    pieces.push_back(nn::GatherPiece::of(t, 1, t.size()).from(0, t.size()).to(offset, t.size()));
    offset += t.size();
  }
  return nn::gather_rows({offset}, pieces);
}

// sum(a * r) as a recorded scalar.
Tensor project(const Tensor& a, const Tensor& r) { return sum(a * r); }

std::vector<double> grad_of(const Tensor& t) {
  return t.has_grad() ? Tensor(t.grad<double>()).to_vector() : std::vector<double>(t.size(), 0.0);
}

// +inf when any difference is NaN or infinite (tests/compare.hpp): a NaN never passes `< tol`.
using tg::testing::max_abs_diff;

struct LayerCase {
  nn::RecurrentOptions options;
  std::size_t steps = 4, batch = 3;
  std::vector<std::size_t> lengths;
  bool with_state = false;
};

// Gradcheck of a float64 layer's output, last, h_n (and c_n) with respect to every parameter,
// the input and the initial state.
void check_layer_gradients(CellKind kind, const LayerCase& c, bool training = false) {
  auto layer = make_layer(kind, c.options);
  layer->to(DType::Float64);
  layer->train(training);
  const auto& o = c.options;
  const std::size_t ld = o.num_layers() * (o.bidirectional() ? 2 : 1);
  const Shape xs = o.batch_first() ? Shape{c.batch, c.steps, o.input_size()}
                                 : Shape{c.steps, c.batch, o.input_size()};
  std::vector<Tensor> wrt = layer->parameters();
  const Tensor x = random64(xs, 11, true);
  wrt.push_back(x);
  nn::RecurrentState state;
  if (c.with_state) {
    state.h = random64({ld, c.batch, o.hidden_size()}, 12, true);
    wrt.push_back(state.h);
    if (nn::cell_spec(kind).has_cell_state) {
      state.c = random64({ld, c.batch, o.hidden_size()}, 13, true);
      wrt.push_back(state.c);
    }
  }
  const GradcheckReport report = gradcheck(
      [&] {
        layer->manual_seed(99);  // the same dropout masks on every evaluation
        const nn::RecurrentOutput out = layer->forward(x, state, c.lengths);
        return pack({out.output, out.last, out.state.h, out.state.c});
      },
      wrt);
  INFO(kind_name(kind) << ": " << report.message());
  CHECK(report.ok);
}

}  // namespace

TEST_CASE("every recurrent gradcheck case passes in float64", "[recurrent][gradcheck]") {
  const auto cases = tg::testing::recurrent_cases();
  std::set<std::string> ops;
  for (const GradcheckCase& c : cases) {
    ops.insert(c.op);
    DYNAMIC_SECTION(c.op << ": " << c.label) {
      const GradcheckReport report = run_gradcheck_case(c);
      INFO(report.message());
      CHECK(report.ok);
      CHECK(report.elements_checked > 0);
    }
  }
  std::set<std::string> expected{"rnn_gather", "rnn_both_ways"};
  for (CellKind kind : nn::kCellKinds) {
    expected.insert(nn::cell_spec(kind).op_name);
    expected.insert(nn::cell_spec(kind).sequence_op);
  }
  CHECK(ops == expected);
  CHECK(ops.count("mgu_cell") == 1);  // the list is the kinds', not a copy of it
}

TEST_CASE("every op a layer records is gradchecked, one node per layer and direction",
          "[recurrent][gradcheck]") {
  std::set<std::string> checked;
  for (const std::string& op : tg::testing::op_case_names()) checked.insert(op);
  for (const GradcheckCase& c : tg::testing::recurrent_cases()) checked.insert(c.op);
  const int threads = blas::num_threads();
  for (const bool side_by_side : {false, true}) {
    // Side by side needs two BLAS threads; one thread runs the directions one after the other.
    for (const int blas_threads : {1, 2}) {
      nn::set_directions_side_by_side(side_by_side);
      blas::set_num_threads(blas_threads);
      for (CellKind kind : kKinds) {
        auto o = nn::RecurrentOptions(2, 3).num_layers(2).bidirectional(true).dropout(0.5);
        auto layer = make_layer(kind, o);
        layer->to(DType::Float64);
        nn::RecurrentState state{random64({4, 3, 3}, 1, true),
                                 nn::cell_spec(kind).has_cell_state ? random64({4, 3, 3}, 2, true)
                                                                    : Tensor()};
        const auto out = layer->forward(random64({5, 3, 2}, 3, true), state, {5, 2, 4});
        std::map<std::string, std::size_t> counts;
        for (const auto& node : graph_nodes({out.output, out.state.h, out.state.c})) {
          INFO(kind_name(kind) << " recorded " << node->op);
          CHECK(checked.count(node->op) == 1);
          counts[node->op]++;
        }
        INFO(kind_name(kind) << (side_by_side ? ", side by side" : ", one by one") << ", "
                             << blas_threads << " BLAS threads");
        // 2 layers x 2 directions, each one node that owns its steps, or per layer one node of
        // both directions.
        if (side_by_side && blas_threads > 1) {
          CHECK(counts["rnn_both_ways"] == 2);
          CHECK(counts[nn::cell_spec(kind).sequence_op] == 0);
        } else {
          CHECK(counts["rnn_both_ways"] == 0);
          CHECK(counts[nn::cell_spec(kind).sequence_op] == 2 * 2);
        }
        CHECK(counts["dropout"] == 1);
      }
    }
  }
  nn::set_directions_side_by_side(true);
  blas::set_num_threads(threads);
}

TEST_CASE("cells: gradients of the cell modules against finite differences", "[recurrent]") {
  Generator gen(3);
  nn::RNNCell rnn(3, 4, true, nn::Nonlinearity::Tanh, gen);
  nn::LSTMCell lstm(3, 4, true, gen);
  nn::GRUCell gru(3, 4, false, gen);
  for (nn::Module* m : {static_cast<nn::Module*>(&rnn), static_cast<nn::Module*>(&lstm),
                        static_cast<nn::Module*>(&gru)})
    m->to(DType::Float64);
  const Tensor x = random64({2, 3}, 4, true), h = random64({2, 4}, 5, true),
               c = random64({2, 4}, 6, true);
  auto check = [&](nn::Module& m, const std::function<Tensor()>& f, std::vector<Tensor> extra) {
    std::vector<Tensor> wrt = m.parameters();
    wrt.insert(wrt.end(), extra.begin(), extra.end());
    const GradcheckReport report = gradcheck(f, wrt);
    INFO(m.type_name() << ": " << report.message());
    CHECK(report.ok);
  };
  check(rnn, [&] { return rnn.forward(x, h); }, {x, h});
  check(lstm, [&] {
    auto [h1, c1] = lstm.forward(x, h, c);
    return pack({h1, c1});
  }, {x, h, c});
  check(gru, [&] { return gru.forward(x, h); }, {x, h});
  check(gru, [&] { return gru.forward(x); }, {x});
}

TEST_CASE("layers: gradients against finite differences", "[recurrent]") {
  for (CellKind kind : kKinds) {
    DYNAMIC_SECTION(kind_name(kind)) {
      LayerCase one{nn::RecurrentOptions(2, 3), 4, 2, {}, false};
      check_layer_gradients(kind, one);
      LayerCase two{nn::RecurrentOptions(2, 3).num_layers(2), 3, 2, {}, true};
      check_layer_gradients(kind, two);
      LayerCase bidir{nn::RecurrentOptions(2, 3).bidirectional(true), 4, 3, {}, true};
      check_layer_gradients(kind, bidir);
      // Lengths whose maximum is below T, batch-first, two bidirectional layers.
      LayerCase padded{nn::RecurrentOptions(2, 3).num_layers(2).batch_first(true).bidirectional(true), 5, 3, {4, 1, 3}, true};
      check_layer_gradients(kind, padded);
      LayerCase no_bias{nn::RecurrentOptions(2, 3).bias(false), 3, 2, {3, 2}, false};
      check_layer_gradients(kind, no_bias);
      // A hidden size whose gate rows do not start on a vector boundary (20 doubles = 160
      // bytes): the row kernels must not use aligned stores there (they once crashed).
      LayerCase unaligned{nn::RecurrentOptions(2, 20), 2, 2, {}, true};
      check_layer_gradients(kind, unaligned);
    }
  }
  SECTION("dropout between layers, in evaluation and in training (masks reseeded)") {
    LayerCase c{nn::RecurrentOptions(2, 3).num_layers(2).bidirectional(true).dropout(0.4), 4, 2, {}, true};
    check_layer_gradients(CellKind::Lstm, c, false);
    check_layer_gradients(CellKind::Lstm, c, true);
  }
}

TEST_CASE("parameters are named, shaped and initialised as PyTorch's", "[recurrent]") {
  auto o = nn::RecurrentOptions(4, 3).num_layers(2).bidirectional(true);
  nn::LSTM lstm(o);
  std::vector<std::pair<std::string, Shape>> got;
  for (const auto& [name, t] : lstm.named_parameters()) got.push_back({name, t.shape()});
  std::vector<std::pair<std::string, Shape>> want;
  for (std::string l : {"0", "1"})
    for (std::string r : {"", "_reverse"}) {
      const std::size_t in = l == "0" ? 4 : 6;
      want.push_back({"weight_ih_l" + l + r, {12, in}});
      want.push_back({"weight_hh_l" + l + r, {12, 3}});
      want.push_back({"bias_ih_l" + l + r, {12}});
      want.push_back({"bias_hh_l" + l + r, {12}});
    }
  CHECK(got == want);
  for (const Tensor& p : lstm.parameters()) {
    CHECK(p.requires_grad());
    for (double v : p.to_vector()) CHECK(std::abs(v) <= 1.0 / std::sqrt(3.0));
  }

  nn::GRU gru(nn::RecurrentOptions(5, 4).bias(false));
  CHECK(gru.parameter_count() == 12 * 5 + 12 * 4);
  CHECK(gru.named_parameters().front().first == "weight_ih_l0");
  nn::GRUCell cell(5, 4);
  std::vector<std::string> names;
  for (const auto& [name, t] : cell.named_parameters()) names.push_back(name);
  CHECK(names == std::vector<std::string>{"weight_ih", "weight_hh", "bias_ih", "bias_hh"});
  CHECK(cell.weight_ih().shape() == Shape{12, 5});

  // The same generator seed gives the same weights.
  Generator a(5), b(5);
  CHECK(nn::LSTM(o, a).parameters()[3].to_vector() == nn::LSTM(o, b).parameters()[3].to_vector());

  // Shapes and summary.
  CHECK(lstm.output_shape({7, 2, 4}) == Shape{7, 2, 6});
  nn::RecurrentOptions last = o;
  last.return_sequences(false);
  last.batch_first(true);
  nn::LSTM classifier(last);
  CHECK(classifier.output_shape({2, 7, 4}) == Shape{2, 6});
  const std::string summary = classifier.summary({2, 7, 4});
  CHECK_THAT(summary, Catch::Contains("LSTM") && Catch::Contains("[2,6]"));
  const Tensor x = Tensor::uniform({2, 7, 4}, -1, 1);
  CHECK(classifier.forward(x).shape() == Shape{2, 6});
  const nn::RecurrentOutput out = lstm.forward(Tensor::uniform({7, 2, 4}, -1, 1), {});
  CHECK(out.output.shape() == Shape{7, 2, 6});
  CHECK(out.last.shape() == Shape{2, 6});
  CHECK(out.state.h.shape() == Shape{4, 2, 3});
  CHECK(out.state.c.shape() == Shape{4, 2, 3});
}

TEST_CASE("bad arguments are refused with messages naming the layer and shapes", "[recurrent]") {
  nn::LSTM lstm(nn::RecurrentOptions(4, 3));
  nn::GRU gru(nn::RecurrentOptions(4, 3));
  CHECK_THROWS_WITH(lstm.forward(Tensor::zeros({5, 2, 3})),
                    Catch::Contains("LSTM: input [5,2,3]") && Catch::Contains("[T, B, 4]"));
  CHECK_THROWS_WITH(lstm.forward(Tensor::zeros({5, 2, 4}), {Tensor::zeros({1, 3, 3})}),
                    Catch::Contains("initial state") && Catch::Contains("[1,3,3]"));
  CHECK_THROWS_WITH(lstm.forward(Tensor::zeros({5, 2, 4}), {}, {5, 6}),
                    Catch::Contains("length 6 outside [1, 5]"));
  CHECK_THROWS_WITH(lstm.forward(Tensor::zeros({5, 2, 4}), {}, {5}),
                    Catch::Contains("1 lengths for a batch of 2"));
  CHECK_THROWS_WITH(gru.forward(Tensor::zeros({5, 2, 4}), {Tensor(), Tensor::zeros({1, 2, 3})}),
                    Catch::Contains("only the LSTM"));
  CHECK_THROWS_WITH(lstm.forward(Tensor::zeros({5, 2, 4}, DType::Float64)),
                    Catch::Contains("float64") && Catch::Contains("float32"));
  CHECK_THROWS_WITH(nn::LSTM(nn::RecurrentOptions(4, 3).dropout(1.0)), Catch::Contains("dropout"));
  CHECK_THROWS_WITH(nn::lstm_cell(Tensor::zeros({2, 3}), {}, {}, lstm.weight_ih(0),
                                  lstm.weight_hh(0)),
                    Catch::Contains("lstm_cell: input [2,3] does not match weight_ih [12,4]"));
}

namespace {

// Values of x [T, B, F] (or [B, T, F]) at steps [0, len) of sequence b, as [len, 1, F] (or
// [1, len, F]).
Tensor one_sequence(const Tensor& x, bool batch_first, std::size_t b, std::size_t len) {
  const Shape s = x.shape();
  const std::size_t T = batch_first ? s[1] : s[0], B = batch_first ? s[0] : s[1], F = s[2];
  const std::vector<double> v = x.to_vector();
  std::vector<double> out;
  for (std::size_t t = 0; t < len; ++t) {
    const std::size_t row = batch_first ? b * T + t : t * B + b;
    out.insert(out.end(), v.begin() + row * F, v.begin() + (row + 1) * F);
  }
  return Tensor::from_vector(out, batch_first ? Shape{1, len, F} : Shape{len, 1, F},
                             DType::Float64, x.requires_grad());
}

// Column b of a state [L*D, B, H] as [L*D, 1, H].
Tensor state_column(const Tensor& s, std::size_t b) {
  const Shape sh = s.shape();
  const std::vector<double> v = s.to_vector();
  std::vector<double> out;
  for (std::size_t k = 0; k < sh[0]; ++k)
    out.insert(out.end(), v.begin() + (k * sh[1] + b) * sh[2],
               v.begin() + (k * sh[1] + b + 1) * sh[2]);
  return Tensor::from_vector(out, {sh[0], 1, sh[2]}, DType::Float64, s.requires_grad());
}

}  // namespace

TEST_CASE("padding: each sequence of a padded batch behaves as if run alone", "[recurrent]") {
  for (CellKind kind : kKinds) {
    for (bool batch_first : {false, true}) {
      DYNAMIC_SECTION(kind_name(kind) << (batch_first ? " batch-first" : " time-first")) {
        const auto o = nn::RecurrentOptions(2, 3).num_layers(2).batch_first(batch_first).bidirectional(true);
        auto layer = make_layer(kind, o);
        layer->to(DType::Float64);
        const std::size_t T = 5, B = 3, LD = 4;
        const std::vector<std::size_t> lengths{5, 2, 4};
        const bool lstm = nn::cell_spec(kind).has_cell_state;
        const Shape xs = batch_first ? Shape{B, T, 2} : Shape{T, B, 2};
        const Shape os = batch_first ? Shape{B, T, 6} : Shape{T, B, 6};
        // Random values everywhere, padding included: nothing there may leak into a result.
        const Tensor x = random64(xs, 21, true), h0 = random64({LD, B, 3}, 22, true),
                     c0 = random64({LD, B, 3}, 23, true);
        const Tensor ro = random64(os, 24), rh = random64({LD, B, 3}, 25),
                     rc = random64({LD, B, 3}, 26);
        nn::RecurrentState s0{h0, lstm ? c0 : Tensor()};
        const nn::RecurrentOutput out = layer->forward(x, s0, lengths);
        Tensor loss = project(out.output, ro) + project(out.state.h, rh);
        if (lstm) loss = loss + project(out.state.c, rc);
        layer->zero_grad();
        loss.backward();
        std::map<std::string, std::vector<double>> batched, alone;
        for (const auto& [name, p] : layer->named_parameters()) {
          batched[name] = grad_of(p);
          alone[name].assign(p.size(), 0.0);
        }
        const std::vector<double> dx = grad_of(x), dh0 = grad_of(h0), dc0 = grad_of(c0);
        const std::vector<double> ov = out.output.to_vector(), rov = ro.to_vector();
        const std::vector<double> hv = out.state.h.to_vector(), rhv = rh.to_vector();
        const std::vector<double> cv = lstm ? out.state.c.to_vector() : std::vector<double>();
        const std::vector<double> rcv = rc.to_vector();
        auto row = [&](std::size_t t, std::size_t b) { return batch_first ? b * T + t : t * B + b; };

        for (std::size_t b = 0; b < B; ++b) {
          const std::size_t len = lengths[b];
          // Padded steps: zero output, zero input gradient.
          for (std::size_t t = len; t < T; ++t)
            for (std::size_t j = 0; j < 6; ++j) CHECK(ov[row(t, b) * 6 + j] == 0.0);
          for (std::size_t t = len; t < T; ++t)
            for (std::size_t j = 0; j < 2; ++j) CHECK(dx[row(t, b) * 2 + j] == 0.0);

          const Tensor xb = one_sequence(x, batch_first, b, len);
          const Tensor hb = state_column(h0, b), cb = state_column(c0, b);
          const nn::RecurrentOutput ob = layer->forward(xb, {hb, lstm ? cb : Tensor()});
          Tensor lb = project(ob.output, one_sequence(ro, batch_first, b, len)) +
                      project(ob.state.h, state_column(rh, b));
          if (lstm) lb = lb + project(ob.state.c, state_column(rc, b));
          // This sequence's share of the batched loss.
          double share = 0.0;
          for (std::size_t t = 0; t < len; ++t)
            for (std::size_t j = 0; j < 6; ++j) share += ov[row(t, b) * 6 + j] * rov[row(t, b) * 6 + j];
          for (std::size_t k = 0; k < LD; ++k)
            for (std::size_t j = 0; j < 3; ++j) {
              const std::size_t i = (k * B + b) * 3 + j;
              share += hv[i] * rhv[i] + (lstm ? cv[i] * rcv[i] : 0.0);
            }
          CHECK(lb.item() == Approx(share).epsilon(1e-12));
          layer->zero_grad();
          lb.backward();
          for (const auto& [name, p] : layer->named_parameters()) {
            const std::vector<double> g = grad_of(p);
            for (std::size_t i = 0; i < g.size(); ++i) alone[name][i] += g[i];
          }
          const std::vector<double> dxb = grad_of(xb), dhb = grad_of(hb), dcb = grad_of(cb);
          for (std::size_t t = 0; t < len; ++t)
            for (std::size_t j = 0; j < 2; ++j)
              CHECK(dxb[t * 2 + j] == Approx(dx[row(t, b) * 2 + j]).margin(1e-12));
          for (std::size_t k = 0; k < LD; ++k)
            for (std::size_t j = 0; j < 3; ++j) {
              CHECK(dhb[k * 3 + j] == Approx(dh0[(k * B + b) * 3 + j]).margin(1e-12));
              if (lstm) CHECK(dcb[k * 3 + j] == Approx(dc0[(k * B + b) * 3 + j]).margin(1e-12));
            }
        }
        for (const auto& [name, g] : batched) {
          INFO(name);
          CHECK(max_abs_diff(g, alone[name]) < 1e-11);
        }
      }
    }
  }
}

TEST_CASE("stepping one step at a time with the state carried equals one call", "[recurrent]") {
  for (CellKind kind : kKinds) {
    for (bool batch_first : {false, true}) {
      DYNAMIC_SECTION(kind_name(kind) << (batch_first ? " batch-first" : " time-first")) {
        const auto o = nn::RecurrentOptions(3, 4).num_layers(2).batch_first(batch_first);
        auto layer = make_layer(kind, o);
        layer->to(DType::Float64);
        const std::size_t T = 6, B = 2;
        const Shape xs = batch_first ? Shape{B, T, 3} : Shape{T, B, 3};
        const Tensor x = random64(xs, 31, true);
        const Tensor r = random64(batch_first ? Shape{B, T, 4} : Shape{T, B, 4}, 32);
        const nn::RecurrentOutput full = layer->forward(x, {});
        layer->zero_grad();
        project(full.output, r).backward();
        std::vector<std::vector<double>> full_grads;
        for (const Tensor& p : layer->parameters()) full_grads.push_back(grad_of(p));
        const std::vector<double> full_dx = grad_of(x);

        // The same sequence as T calls of one step: inputs and projections cut per step.
        const std::vector<double> xv = x.to_vector(), rv = r.to_vector(), ov = full.output.to_vector();
        nn::RecurrentState state;
        std::vector<Tensor> xs_t;
        Tensor loss;
        for (std::size_t t = 0; t < T; ++t) {
          std::vector<double> xt, rt, ot;
          for (std::size_t b = 0; b < B; ++b) {
            const std::size_t rw = batch_first ? b * T + t : t * B + b;
            xt.insert(xt.end(), xv.begin() + rw * 3, xv.begin() + rw * 3 + 3);
            rt.insert(rt.end(), rv.begin() + rw * 4, rv.begin() + rw * 4 + 4);
            ot.insert(ot.end(), ov.begin() + rw * 4, ov.begin() + rw * 4 + 4);
          }
          const Shape s1 = batch_first ? Shape{B, 1, 3} : Shape{1, B, 3};
          xs_t.push_back(Tensor::from_vector(xt, s1, DType::Float64, true));
          const nn::RecurrentOutput step = layer->forward(xs_t.back(), state);
          CHECK(max_abs_diff(step.output.to_vector(), ot) < 1e-13);
          CHECK(max_abs_diff(step.last.to_vector(), ot) < 1e-13);
          const Tensor term = project(step.output, Tensor::from_vector(
              rt, batch_first ? Shape{B, 1, 4} : Shape{1, B, 4}, DType::Float64));
          loss = loss.defined() ? loss + term : term;
          state = step.state;
        }
        CHECK(max_abs_diff(state.h.to_vector(), full.state.h.to_vector()) < 1e-13);
        if (nn::cell_spec(kind).has_cell_state)
          CHECK(max_abs_diff(state.c.to_vector(), full.state.c.to_vector()) < 1e-13);
        layer->zero_grad();
        loss.backward();  // BPTT through the carried states, across the calls
        const auto params = layer->parameters();
        for (std::size_t i = 0; i < params.size(); ++i)
          CHECK(max_abs_diff(grad_of(params[i]), full_grads[i]) < 1e-12);
        for (std::size_t t = 0; t < T; ++t) {
          const std::vector<double> g = grad_of(xs_t[t]);
          for (std::size_t b = 0; b < B; ++b)
            for (std::size_t j = 0; j < 3; ++j) {
              const std::size_t rw = batch_first ? b * T + t : t * B + b;
              CHECK(g[b * 3 + j] == Approx(full_dx[rw * 3 + j]).margin(1e-12));
            }
        }
      }
    }
  }
}

TEST_CASE("a layer equals its cell applied step by step", "[recurrent]") {
  Generator gen(41);
  const Tensor x = random64({5, 2, 3}, 42);
  const Tensor h0 = random64({1, 2, 4}, 43), c0 = random64({1, 2, 4}, 44);
  auto step_by_cell = [&](nn::RecurrentCell& cell, nn::RecurrentLayer& layer, bool lstm) {
    cell.to(DType::Float64);
    layer.to(DType::Float64);
    std::map<std::string, Tensor> weights;
    for (const auto& [name, t] : cell.state_dict()) weights[name + "_l0"] = t;
    layer.load_state_dict(weights);
    const nn::RecurrentOutput out = layer.forward(x, {h0, lstm ? c0 : Tensor()});
    Tensor h = Tensor::from_vector(h0.to_vector(), {2, 4}, DType::Float64);
    Tensor c = Tensor::from_vector(c0.to_vector(), {2, 4}, DType::Float64);
    const std::vector<double> xv = x.to_vector(), ov = out.output.to_vector();
    for (std::size_t t = 0; t < 5; ++t) {
      const Tensor xt = Tensor::from_vector({xv.begin() + t * 6, xv.begin() + t * 6 + 6}, {2, 3},
                                            DType::Float64);
      if (lstm) {
        std::tie(h, c) = static_cast<nn::LSTMCell&>(cell).forward(xt, h, c);
      } else if (cell.kind() == CellKind::Gru) {
        h = static_cast<nn::GRUCell&>(cell).forward(xt, h);
      } else {
        h = static_cast<nn::RNNCell&>(cell).forward(xt, h);
      }
      CHECK(max_abs_diff(h.to_vector(), {ov.begin() + t * 8, ov.begin() + t * 8 + 8}) < 1e-14);
    }
    if (lstm) CHECK(max_abs_diff(c.to_vector(), out.state.c.to_vector()) < 1e-14);
  };
  nn::RNNCell rnn_cell(3, 4, true, nn::Nonlinearity::Relu, gen);
  nn::RNN rnn(nn::RecurrentOptions(3, 4), nn::Nonlinearity::Relu, gen);
  step_by_cell(rnn_cell, rnn, false);
  nn::LSTMCell lstm_cell(3, 4, true, gen);
  nn::LSTM lstm(nn::RecurrentOptions(3, 4), gen);
  step_by_cell(lstm_cell, lstm, true);
  nn::GRUCell gru_cell(3, 4, true, gen);
  nn::GRU gru(nn::RecurrentOptions(3, 4), gen);
  step_by_cell(gru_cell, gru, false);
}

TEST_CASE("no-grad forward records nothing and gives the same values", "[recurrent]") {
  for (CellKind kind : kKinds) {
    auto layer = make_layer(kind, nn::RecurrentOptions(3, 4).num_layers(2).bidirectional(true));
    const Tensor x = Tensor::uniform({4, 1, 3}, -1, 1);
    const nn::RecurrentOutput with_grad = layer->forward(x, {}, {});
    const std::size_t nodes_before = live_node_count();
    NoGradGuard guard;
    const nn::RecurrentOutput without = layer->forward(x, {});
    CHECK(live_node_count() == nodes_before);
    CHECK_FALSE(without.output.requires_grad());
    CHECK(without.output.to_vector() == with_grad.output.to_vector());
    CHECK(without.state.h.to_vector() == with_grad.state.h.to_vector());
  }
}

TEST_CASE("a whole model gradchecks: Embedding -> LSTM -> Linear -> cross_entropy",
          "[recurrent]") {
  Generator gen(51);
  nn::Embedding embedding(6, 3, -1, gen);
  nn::LSTM lstm(nn::RecurrentOptions(3, 4).num_layers(2).batch_first(true), gen);
  nn::Linear fc(4, 6, true, gen);
  for (nn::Module* m : {static_cast<nn::Module*>(&embedding), static_cast<nn::Module*>(&lstm),
                        static_cast<nn::Module*>(&fc)})
    m->to(DType::Float64);
  const Indices ids({1, 4, 2, 0, 5, 3, 3, 1}, {2, 4});
  const Indices targets({4, 2, 0, 5, 3, 3, 1, 2});
  std::vector<Tensor> wrt = embedding.parameters();
  for (const auto& m : {lstm.parameters(), fc.parameters()}) wrt.insert(wrt.end(), m.begin(), m.end());
  const GradcheckReport report = gradcheck(
      [&] {
        const Tensor h = lstm.forward(embedding.forward(ids), {}, {4, 3}).output;  // [2, 4, 4]
        return cross_entropy(fc.forward(reshape(h, {8, 4})), targets);
      },
      wrt);
  INFO(report.message());
  CHECK(report.ok);
  CHECK(report.elements_checked == 6 * 3 + lstm.parameter_count() + 4 * 6 + 6);
}

TEST_CASE("the layers' workspace takes back a dead tensor's arrays for the next forward",
          "[recurrent]") {
  auto ws = std::make_shared<nn::Workspace>();
  ws->recycle();
  const float* value = nullptr;
  {
    const Tensor t = ws->tensor({4, 5}, DType::Float32);
    value = t.value().data();
  }  // its arrays go back to the workspace, which holds no tensor
  ws->recycle();  // the next forward starts
  const Tensor again = ws->tensor({4, 5}, DType::Float32);
  CHECK(again.value().data() == value);
  const Tensor other = ws->tensor({4, 5}, DType::Float32);  // none left of that size: a new one
  CHECK(other.value().data() != value);
  ws->recycle();
  ws->recycle();  // spares that a whole forward did not take are dropped
  const Tensor fresh = ws->tensor({3, 3}, DType::Float64);
  CHECK(fresh.value<double>().size() == 9);
}
