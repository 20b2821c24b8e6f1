// The float32 path of the recurrent layers -- the one training uses, through the xsimd lanes of
// the fused cell kernels -- against the float64 path, forward and backward, at hidden sizes that
// fill several vector lanes and leave a tail (16, 37, 64 floats; 16 per AVX-512 vector).
//
// Every other recurrent gradient test converts to float64 first, at hidden sizes 2-5 where only
// the scalar tails run. float32 gradients cannot be finite-differenced reliably (STACK_NOTES.md),
// so instead the float32 layer is compared with the same layer in float64 (the float64 path is
// itself gradchecked in test_recurrent.cpp). The tolerance must be tight enough that a kernel
// with one gate's derivative 1% wrong fails it: the test proves that on deliberately wrong
// kernels, the kind's step written with ops (nn::OpsCell, an independent implementation of the
// same cell) with one gate perturbed through its gate tap, before trusting a pass.
#include <catch2/catch.hpp>

#include <algorithm>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "tapegrad/autograd/ops.hpp"
#include "compare.hpp"
#include "tapegrad/nn/nn.hpp"
#include "tapegrad/nn/rnn_kinds.hpp"

using namespace tg;
using nn::CellKind;

namespace {

// Measured here (AVX-512, run with -s to see them): float32 against float64, relative norm
// errors up to 3e-7; one gate's derivative 1% wrong, 1.0e-3 and more on the weight gradients;
// one gate's value 1% wrong, 3.7e-3 and more on the outputs. 2e-5 is near the geometric middle:
// ~70x above the float32 noise, ~50x below the smallest wrong-kernel error.
constexpr double kTolerance = 2e-5;

constexpr std::size_t kSteps = 5, kBatch = 3, kInput = 10;

const char* kind_name(CellKind kind) { return nn::cell_spec(kind).label; }

std::vector<std::string> gate_names(CellKind kind) {
  std::vector<std::string> names;
  std::string all = nn::cell_spec(kind).gate_names;
  for (std::size_t at = 0; at <= all.size();) {
    const std::size_t comma = std::min(all.find(',', at), all.size());
    names.push_back(all.substr(at, comma - at));
    at = comma + 1;
  }
  return names;
}

std::shared_ptr<nn::RecurrentLayer> make_layer(CellKind kind, std::size_t hidden) {
  Generator gen(42);
  const nn::RecurrentOptions o(kInput, hidden);
  return nn::make_recurrent_layer(kind, o, gen);
}

// The values every variant starts from: float32-representable, so that the float32 and float64
// runs see exactly the same numbers.
struct Problem {
  CellKind kind;
  std::size_t hidden;
  std::map<std::string, std::pair<std::vector<double>, Shape>> params;  // weight_ih_l0, ...
  std::vector<double> x, h0, c0;
  std::vector<double> r_out, r_h, r_c;  // fixed projections: the loss is sum(out * r) + ...

  Problem(CellKind k, std::size_t h) : kind(k), hidden(h) {
    for (const auto& [name, p] : make_layer(kind, hidden)->named_parameters())
      params[name] = {p.to_vector(), p.shape()};
    Generator gen(7);
    auto draw = [&](std::size_t n) {
      return Tensor::uniform({n}, -1, 1, DType::Float32, gen).to_vector();
    };
    x = draw(kSteps * kBatch * kInput);
    h0 = draw(kBatch * hidden);
    c0 = draw(kBatch * hidden);
    r_out = draw(kSteps * kBatch * hidden);
    r_h = draw(kBatch * hidden);
    r_c = draw(kBatch * hidden);
  }
};

// Outputs and gradients of one run, by name: "output", "h_n", "c_n", "grad x", "grad h0", ...
using Results = std::map<std::string, std::vector<double>>;

// A leaf of `dtype` holding `values`, requiring grad.
Tensor leaf(const std::vector<double>& values, const Shape& shape, DType dtype) {
  return Tensor::from_vector(values, shape, dtype, true);
}

// Loss of a run: every output is projected on fixed random weights, so that each element's
// gradient is distinct (a plain sum would hide errors that cancel).
Tensor loss_of(const Problem& p, DType dtype, const Tensor& out, const Tensor& h_n,
               const Tensor& c_n) {
  const std::size_t H = p.hidden;
  Tensor loss = sum(out * Tensor::from_vector(p.r_out, {kSteps, kBatch, H}, dtype)) +
                sum(h_n * Tensor::from_vector(p.r_h, {1, kBatch, H}, dtype));
  if (c_n.defined()) loss = loss + sum(c_n * Tensor::from_vector(p.r_c, {1, kBatch, H}, dtype));
  return loss;
}

void collect_grads(Results& r, const std::map<std::string, Tensor>& leaves) {
  for (const auto& [name, t] : leaves)
    r["grad " + name] = t.has_grad() ? t.grad_tensor().to_vector()
                                     : std::vector<double>(t.size(), 0.0);
}

// The library's layer in `dtype`.
Results run_layer(const Problem& p, DType dtype) {
  auto layer = make_layer(p.kind, p.hidden);
  layer->to(dtype);
  std::map<std::string, Tensor> leaves;
  for (const auto& [name, t] : layer->named_parameters()) leaves[name] = t;
  const std::size_t H = p.hidden;
  leaves["x"] = leaf(p.x, {kSteps, kBatch, kInput}, dtype);
  leaves["h0"] = leaf(p.h0, {1, kBatch, H}, dtype);
  nn::RecurrentState state{leaves["h0"], Tensor()};
  if (nn::cell_spec(p.kind).has_cell_state)
    state.c = leaves["c0"] = leaf(p.c0, {1, kBatch, H}, dtype);
  const nn::RecurrentOutput out = layer->forward(leaves["x"], state);
  loss_of(p, dtype, out.output, out.state.h, out.state.c).backward();
  Results r{{"output", out.output.to_vector()}, {"h_n", out.state.h.to_vector()}};
  if (out.state.c.defined()) r["c_n"] = out.state.c.to_vector();
  collect_grads(r, leaves);
  return r;
}

// The identity whose backward multiplies the gradient by `factor`: y*f - detach(y)*(f-1) has the
// value y (to a rounding of float64) and the derivative f.
Tensor scale_grad(const Tensor& y, double factor) {
  return factor == 1.0 ? y : y * factor - y.detach() * (factor - 1.0);
}

// What to get wrong, and by how much, in the reference below.
struct Fault {
  int gate = -1;             // index into gate_names(kind); -1: none
  double derivative = 1.0;   // the gate's derivative is multiplied by this
  double value = 1.0;        // the gate's value is multiplied by this (a forward error)
};

Tensor faulty(const Tensor& gate_value, int gate, const Fault& f) {
  if (gate != f.gate) return gate_value;
  return scale_grad(gate_value, f.derivative) * f.value;
}

// The kind's op-built twin (nn::OpsCell, its description's step written with ops) in float64,
// with an optional fault in one gate through the cell's gate tap. Without a fault it must agree
// with the float64 layer to rounding (checked): that makes the faulty versions fair stand-ins for
// a wrong fused kernel.
Results run_reference(const Problem& p, const Fault& fault) {
  const DType d = DType::Float64;
  nn::CustomRecurrent twin(nn::RecurrentOptions(kInput, p.hidden),
                           nn::ops_cells(p.kind, p.hidden));
  twin.to(d);
  std::map<std::string, Tensor> leaves;
  for (const auto& [name, values] : p.params) leaves[name] = leaf(values.first, values.second, d);
  twin.load_state_dict(leaves);
  leaves.clear();
  for (const auto& [name, t] : twin.named_parameters()) leaves[name] = t;
  static_cast<nn::OpsCell&>(twin.cell(0)).set_gate_tap(
      [&](std::size_t gate, const Tensor& value) {
        return faulty(value, static_cast<int>(gate), fault);
      });
  const std::size_t H = p.hidden;
  leaves["x"] = leaf(p.x, {kSteps, kBatch, kInput}, d);
  leaves["h0"] = leaf(p.h0, {1, kBatch, H}, d);
  nn::RecurrentState state{leaves["h0"], Tensor()};
  if (nn::cell_spec(p.kind).has_cell_state)
    state.c = leaves["c0"] = leaf(p.c0, {1, kBatch, H}, d);
  const nn::RecurrentOutput out = twin.forward(leaves["x"], state);
  loss_of(p, d, out.output, out.state.h, out.state.c).backward();
  Results r{{"output", out.output.to_vector()}, {"h_n", out.state.h.to_vector()}};
  if (out.state.c.defined()) r["c_n"] = out.state.c.to_vector();
  collect_grads(r, leaves);
  return r;
}

// The largest relative norm error over the entries of `a` against `b` (the float64 layer), and
// which entry it was. NaN-aware: a NaN anywhere is +inf.
std::pair<double, std::string> worst_error(const Results& a, const Results& b) {
  REQUIRE(a.size() == b.size());
  double worst = 0.0;
  std::string where;
  for (const auto& [name, values] : b) {
    REQUIRE(a.count(name) == 1);
    if (tg::testing::raise_to(worst, tg::testing::rel_norm_error(a.at(name), values)))
      where = name;
  }
  return {worst, where};
}

// Only the forward entries (a fault in a derivative must not be looked for there).
Results forward_only(const Results& r) {
  Results f;
  for (const auto& [name, v] : r)
    if (name.rfind("grad ", 0) != 0) f[name] = v;
  return f;
}

constexpr const auto& kKinds = nn::kCellKinds;

}  // namespace

TEST_CASE("float32 layers match float64 forward and backward at vector-filling hidden sizes",
          "[recurrent][float32]") {
  for (CellKind kind : kKinds) {
    for (std::size_t hidden : {16, 37, 64}) {
      DYNAMIC_SECTION(kind_name(kind) << " hidden " << hidden) {
        const Problem p(kind, hidden);
        const Results f64 = run_layer(p, DType::Float64);
        const Results f32 = run_layer(p, DType::Float32);

        // The reference without a fault is the float64 layer to rounding: a faulty reference
        // below is then the layer with exactly one thing wrong.
        const auto [ref_err, ref_where] = worst_error(run_reference(p, {}), f64);
        INFO("reference vs float64 layer: " << ref_err << " at " << ref_where);
        CHECK(ref_err < 1e-12);

        const auto [err, where] = worst_error(f32, f64);
        INFO("float32 vs float64: " << err << " at " << where);
        CHECK(err <= kTolerance);

        // The same comparison on kernels with one gate 1% wrong must fail: in the derivative
        // (backward), and in the value (forward alone).
        const std::vector<std::string> gates = gate_names(kind);
        for (int g = 0; g < static_cast<int>(gates.size()); ++g) {
          INFO("gate " << gates[g]);
          const auto [bad_d, bad_d_where] = worst_error(run_reference(p, {g, 1.01, 1.0}), f64);
          INFO("derivative 1% off: " << bad_d << " at " << bad_d_where);
          CHECK_FALSE(bad_d <= kTolerance);
          const auto [bad_v, bad_v_where] = worst_error(
              forward_only(run_reference(p, {g, 1.0, 1.01})), forward_only(f64));
          INFO("value 1% off: " << bad_v << " at " << bad_v_where);
          CHECK_FALSE(bad_v <= kTolerance);
          // Only the float32 run is allowed to be this close.
          CHECK(bad_d > 10 * err);
        }
      }
    }
  }
}
