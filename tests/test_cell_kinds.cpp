// Every cell kind against its own description: the fused layer (the row kernels) and its op-built
// twin (nn::OpsCell, the description's step written with ops) through the same driver, with
// two layers, both directions, lengths and batch_first; and the description's own consistency.
// A new kind is checked here by being listed in nn::kCellKinds.
#include <catch2/catch.hpp>

#include <map>
#include <set>
#include <string>
#include <vector>

#include "compare.hpp"
#include "tapegrad/autograd/gradcheck.hpp"
#include "tapegrad/autograd/ops.hpp"
#include "tapegrad/autograd/tape.hpp"
#include "tapegrad/nn/nn.hpp"

using namespace tg;
using nn::CellKind;

namespace {

constexpr std::size_t kSteps = 4, kBatch = 3, kInput = 5;
const std::vector<std::size_t> kLengths = {4, 2, 3};

nn::RecurrentOptions options(std::size_t hidden) {
  return nn::RecurrentOptions(kInput, hidden).num_layers(2).bidirectional(true).batch_first(true);
}

// Outputs and every gradient of one run, by name.
using Results = std::map<std::string, std::vector<double>>;

// One forward and backward of `layer` on fixed inputs in float64; the loss weighs every output
// element differently so that no error can cancel.
Results run(nn::RecurrentDriver& layer, CellKind kind, std::size_t hidden, DType dtype) {
  const bool has_c = nn::cell_spec(kind).has_cell_state;
  Generator gen(11);
  auto leaf = [&](const Shape& shape) {
    return Tensor::uniform(shape, -1, 1, DType::Float64, gen).to(dtype).set_requires_grad();
  };
  std::map<std::string, Tensor> leaves;
  for (const auto& [name, t] : layer.named_parameters()) leaves[name] = t;
  leaves["x"] = leaf({kBatch, kSteps, kInput});
  leaves["h0"] = leaf({4, kBatch, hidden});
  nn::RecurrentState state{leaves["h0"], Tensor()};
  if (has_c) state.c = leaves["c0"] = leaf({4, kBatch, hidden});
  const nn::RecurrentOutput out = layer.forward(leaves["x"], state, kLengths);
  Results r{{"output", out.output.to_vector()},
            {"last", out.last.to_vector()},
            {"h_n", out.state.h.to_vector()}};
  if (has_c) r["c_n"] = out.state.c.to_vector();
  Tensor loss;
  std::uint64_t seed = 100;
  for (const Tensor* t : {&out.output, &out.last, &out.state.h, &out.state.c}) {
    if (!t->defined()) continue;
    Generator g(seed++);
    const Tensor term = sum(*t * Tensor::uniform(t->shape(), -1, 1, DType::Float64, g).to(dtype));
    loss = loss.defined() ? loss + term : term;
  }
  loss.backward();
  for (const auto& [name, t] : leaves) {
    INFO(name << " has no gradient");
    REQUIRE(t.has_grad());
    r["grad " + name] = t.grad_tensor().to_vector();
  }
  return r;
}

// The largest relative norm error over the entries; NaN anywhere counts as infinite.
double worst_error(const Results& a, const Results& b, std::string& where) {
  REQUIRE(a.size() == b.size());
  double worst = 0.0;
  for (const auto& [name, values] : b) {
    REQUIRE(a.count(name) == 1);
    if (tg::testing::raise_to(worst, tg::testing::rel_norm_error(a.at(name), values)))
      where = name;
  }
  return worst;
}

// A layer of `kind` and its op-built twin, both drawn from the same generator seed.
struct Pair {
  std::shared_ptr<nn::RecurrentLayer> fused;
  std::shared_ptr<nn::CustomRecurrent> twin;
  Pair(CellKind kind, std::size_t hidden) {
    Generator a(3), b(3);
    fused = nn::make_recurrent_layer(kind, options(hidden), a);
    twin = std::make_shared<nn::CustomRecurrent>(options(hidden), nn::ops_cells(kind, hidden), b);
  }
};

}  // namespace

TEST_CASE("every cell kind's fused layer equals its op-built twin in float64",
          "[recurrent][kinds]") {
  for (CellKind kind : nn::kCellKinds) {
    for (std::size_t hidden : {3, 37}) {
      DYNAMIC_SECTION(nn::cell_spec(kind).label << " hidden " << hidden) {
        Pair p(kind, hidden);
        // Same names, same initialisation: the twin really is the same layer written with ops.
        const auto fused_state = p.fused->state_dict(), twin_state = p.twin->state_dict();
        REQUIRE(fused_state.size() == twin_state.size());
        for (const auto& [name, t] : fused_state) {
          INFO(name);
          REQUIRE(twin_state.count(name) == 1);
          CHECK(t.to_vector() == twin_state.at(name).to_vector());
        }
        p.fused->to(DType::Float64);
        p.twin->to(DType::Float64);
        std::string where;
        const double err = worst_error(run(*p.fused, kind, hidden, DType::Float64),
                                       run(*p.twin, kind, hidden, DType::Float64), where);
        INFO("fused vs op-built: " << err << " at " << where);
        CHECK(err <= 1e-10);
      }
    }
  }
}

TEST_CASE("every cell kind's float32 fused layer is within 2e-5 of its op-built twin",
          "[recurrent][kinds][float32]") {
  for (CellKind kind : nn::kCellKinds) {
    DYNAMIC_SECTION(nn::cell_spec(kind).label) {
      const std::size_t hidden = 37;  // two AVX-512 vectors of float and a tail
      Pair p(kind, hidden);
      p.twin->to(DType::Float64);
      std::string where;
      Results fused = run(*p.fused, kind, hidden, DType::Float32);
      const double err = worst_error(fused, run(*p.twin, kind, hidden, DType::Float64), where);
      INFO("float32 fused vs float64 op-built: " << err << " at " << where);
      CHECK(err <= 2e-5);
    }
  }
}

TEST_CASE("every cell kind's op-built twin has second derivatives", "[recurrent][kinds]") {
  for (CellKind kind : nn::kCellKinds) {
    DYNAMIC_SECTION(nn::cell_spec(kind).label) {
      Generator gen(5);
      nn::OpsCell cell(kind, 2, 3, true, gen);
      cell.to(DType::Float64);
      const std::size_t width = nn::state_width(kind, 3);
      Generator draw(6);
      const Tensor state = Tensor::uniform({2, width}, -1, 1, DType::Float64, draw)
                               .set_requires_grad();
      const Tensor projected = Tensor::uniform({2, nn::gate_count(kind) * 3}, -1, 1,
                                               DType::Float64, draw).set_requires_grad();
      std::vector<Tensor> wrt{state, projected};
      for (const auto& [name, t] : cell.named_parameters()) wrt.push_back(t);
      auto f = [&] { return cell.step(state, projected); };
      const GradcheckReport first = gradcheck(f, wrt);
      INFO(first.message());
      CHECK(first.ok);
      CHECK(first.formula_checked);
      const GradcheckReport second = gradgradcheck(f, wrt);
      INFO(second.message());
      CHECK(second.ok);
    }
  }
}

TEST_CASE("every cell kind's description is consistent", "[recurrent][kinds]") {
  std::set<std::string> labels, ops;
  for (CellKind kind : nn::kCellKinds) {
    const nn::CellSpec& s = nn::cell_spec(kind);
    INFO(s.label);
    CHECK(labels.insert(s.label).second);
    CHECK(nn::parse_cell_kind(s.label) == kind);
    CHECK(s.gate_count >= 1);
    CHECK(std::string(s.gate_names).size() > 0);
    std::size_t names = 1;
    for (char ch : std::string(s.gate_names)) names += ch == ',';
    CHECK(names == s.gate_count);
    CHECK(s.split_offset(10) == (s.gate_count - 1) * 10);
    CHECK((s.rows_f32.forward && s.rows_f32.backward && s.rows_f64.forward &&
           s.rows_f64.backward && s.step_ops));
    // Each kind records its own nodes, and an op-built cell names its kind.
    ops.insert(s.sequence_op);
    CHECK(nn::OpsCell(kind, 2, 3).type_name() == std::string(s.layer_name) + "OpsCell");
    CHECK(nn::make_recurrent_layer(kind, nn::RecurrentOptions(2, 3))->type_name() == s.layer_name);
  }
  CHECK(ops.size() == std::size(nn::kCellKinds) - 1);  // tanh and relu share rnn_sequence
  CHECK_THROWS_WITH(nn::parse_cell_kind("lstmm"),
                    Catch::Contains("unknown cell kind 'lstmm'") && Catch::Contains("mgu"));
}
