// nn::Conv1d against PyTorch 1.13 (tests/fixtures/conv_fixtures.py: a torch.nn.Conv1d's
// state_dict, output and gradients), its float32 path, its initialisation, the formula against
// the raw backward, the pooling layers' shapes and tie rule, and the one-line argument errors.
#include <catch2/catch.hpp>

#include <fmt/format.h>

#include <cmath>
#include <fstream>
#include <map>

#include "tapegrad/autograd/ops.hpp"
#include "tapegrad/autograd/tape.hpp"
#include "tapegrad/nn/nn.hpp"
#include "tapegrad/nn/npz.hpp"
#include "compare.hpp"
#include "test_checks.hpp"

using namespace tg;

namespace {

const std::string kDir = std::string(TAPEGRAD_FIXTURES_DIR) + "/conv/";

std::vector<std::string> fixture_names() { return tg::testing::fixture_index(kDir); }

std::size_t integer(const nn::Archive& a, const std::string& key) {
  return static_cast<std::size_t>(a.integers.at(key).data.at(0));
}

nn::Conv1dOptions options_of(const nn::Archive& a) {
  nn::Conv1dOptions o(integer(a, "in_channels"), integer(a, "out_channels"),
                      integer(a, "kernel_size"));
  o.stride(integer(a, "stride")).dilation(integer(a, "dilation")).groups(integer(a, "groups"));
  o.bias(integer(a, "bias") != 0);
  const std::string mode = a.strings.at("padding_mode_str");
  if (mode == "same")
    o.padding(PaddingMode::Same);
  else if (mode == "valid")
    o.padding(PaddingMode::Valid);
  else
    o.padding(integer(a, "padding"));
  return o;
}

// The PyTorch state_dict (params/*) loaded into a new Conv1d, converted to `dtype`.
std::shared_ptr<nn::Conv1d> conv_from(const nn::Archive& a, DType dtype) {
  auto conv = std::make_shared<nn::Conv1d>(options_of(a));
  std::map<std::string, Tensor> state;
  for (const auto& [key, t] : a.tensors)
    if (key.rfind("params/", 0) == 0) state[key.substr(7)] = t;
  conv->to(dtype);
  conv->load_state_dict(state);
  return conv;
}

double rel_error(const Tensor& ours, const Tensor& theirs) {
  REQUIRE(ours.defined());
  REQUIRE(ours.shape() == theirs.shape());
  return tg::testing::max_rel_error(ours.to_vector(), theirs.to_vector(), 1e-6);
}

}  // namespace

TEST_CASE("Conv1d with a PyTorch state_dict gives PyTorch's output and gradients (float64)",
          "[conv][parity]") {
  const auto names = fixture_names();
  REQUIRE(names.size() >= 5);
  for (const auto& name : names) {
    SECTION(name) {
      const nn::Archive a = nn::load_npz(kDir + name + ".npz");
      auto conv = conv_from(a, DType::Float64);
      const Tensor x = a.tensors.at("input").to(DType::Float64).set_requires_grad();
      const Tensor y = (*conv)(x);
      CHECK(rel_error(y, a.tensors.at("output")) < 1e-10);
      sum(y * a.tensors.at("proj/output")).backward();
      CHECK(rel_error(x.grad_tensor(), a.tensors.at("grads/input")) < 1e-10);
      for (const auto& [pname, p] : conv->named_parameters()) {
        INFO(pname);
        CHECK(rel_error(p.grad_tensor(), a.tensors.at("grads/" + pname)) < 1e-10);
      }
      CHECK(conv->output_shape(x.shape()) == y.shape());
    }
  }
}

TEST_CASE("Conv1d in float32 matches the float64 reference to float precision", "[conv]") {
  for (const auto& name : fixture_names()) {
    SECTION(name) {
      const nn::Archive a = nn::load_npz(kDir + name + ".npz");
      auto conv = conv_from(a, DType::Float32);
      const Tensor x = a.tensors.at("input").to(DType::Float32).set_requires_grad();
      const Tensor y = (*conv)(x);
      CHECK(y.dtype() == DType::Float32);
      CHECK(tg::testing::max_abs_diff(y.to_vector(), a.tensors.at("output").to_vector()) < 1e-5);
      sum(y * a.tensors.at("proj/output").to(DType::Float32)).backward();
      CHECK(tg::testing::max_abs_diff(conv->weight().grad_tensor().to_vector(),
                                      a.tensors.at("grads/weight").to_vector()) < 1e-4);
      CHECK(tg::testing::max_abs_diff(x.grad_tensor().to_vector(),
                                      a.tensors.at("grads/input").to_vector()) < 1e-4);
    }
  }
}

TEST_CASE("conv1d's formula (create_graph) gives the raw kernel's gradients", "[conv]") {
  const Tensor x = Tensor::normal({3, 4, 9}, 0, 1, DType::Float64).set_requires_grad();
  const Tensor w = Tensor::normal({6, 2, 3}, 0, 1, DType::Float64).set_requires_grad();
  const Tensor b = Tensor::normal({6}, 0, 1, DType::Float64).set_requires_grad();
  const Tensor proj = Tensor::normal({3, 6, 5}, 0, 1, DType::Float64);
  auto loss = [&] { return sum(conv1d(x, w, b, 2, 2, 2, 2) * proj); };
  const std::vector<Tensor> raw = grad({loss()}, {x, w, b});
  const std::vector<Tensor> formula = grad({loss()}, {x, w, b}, {}, std::nullopt, true);
  for (std::size_t i = 0; i < 3; ++i) {
    INFO("input " << i);
    // Recorded, so it came from the formula (the bias's depends on the constant proj only).
    if (i < 2) CHECK(formula[i].requires_grad());
    CHECK(tg::testing::max_abs_diff(raw[i].to_vector(), formula[i].to_vector()) < 1e-12);
  }
}

TEST_CASE("conv1d takes an empty batch: empty output, zero gradients", "[conv]") {
  const Tensor x = Tensor::zeros({0, 3, 8}, DType::Float32, true);
  const Tensor w = Tensor::normal({4, 3, 3}).set_requires_grad();
  const Tensor b = Tensor::normal({4}).set_requires_grad();
  const Tensor y = conv1d(x, w, b, 1, 1);
  CHECK(y.shape() == Shape{0, 4, 8});
  sum(y).backward();
  CHECK(w.grad_tensor().to_vector() == std::vector<double>(36, 0.0));
  CHECK(b.grad_tensor().to_vector() == std::vector<double>(4, 0.0));
}

TEST_CASE("Conv1d's default initialisation is PyTorch's U(-1/sqrt(fan_in), 1/sqrt(fan_in))",
          "[conv]") {
  Generator gen(7);
  nn::Conv1d conv(nn::Conv1dOptions(8, 12, 5).groups(2), gen);
  CHECK(conv.weight().shape() == Shape{12, 4, 5});
  CHECK(conv.bias().shape() == Shape{12});
  const double bound = 1.0 / std::sqrt(4.0 * 5.0);  // fan_in = in / groups * K
  for (const Tensor& t : {conv.weight(), conv.bias()}) {
    double largest = 0;
    for (double v : t.to_vector()) largest = std::max(largest, std::abs(v));
    CHECK(largest <= bound);
    CHECK(largest > 0.8 * bound);
  }
  nn::Conv1d no_bias(nn::Conv1dOptions(3, 2, 1).bias(false));
  CHECK_FALSE(no_bias.bias().defined());
  CHECK(no_bias.named_parameters().size() == 1);
}

TEST_CASE("max_pool1d sends a tie's gradient to its first maximum, and lets NaN win",
          "[conv][pool]") {
  // PyTorch 1.13 gives the same: output [3, 3, 3], input gradient [0, 2, 1, 0].
  const Tensor x = Tensor::from_vector({1, 3, 3, 0}, {1, 1, 4}, DType::Float64, true);
  const Tensor y = max_pool1d(x, 2, 1);
  tg::testing::check_values(y, {3, 3, 3});
  sum(y).backward();
  tg::testing::check_values(x.grad_tensor(), {0, 2, 1, 0});
  const Tensor with_nan = Tensor::from_vector({1, NAN, 3, 0}, {1, 4}, DType::Float64);
  const std::vector<double> v = max_pool1d(with_nan, 2, 1).to_vector();
  CHECK(std::isnan(v[0]));
  CHECK(std::isnan(v[1]));
  CHECK(v[2] == 3.0);
}

TEST_CASE("conv and pooling layers chain in a Sequential, and summary() shows their shapes",
          "[conv]") {
  nn::Sequential model{
      std::make_shared<nn::Conv1d>(nn::Conv1dOptions(4, 8, 3).padding(PaddingMode::Same)),
      std::make_shared<nn::MaxPool1d>(nn::MaxPool1dOptions(3).stride(2).padding(1).ceil_mode(true)),
      std::make_shared<nn::Conv1d>(nn::Conv1dOptions(8, 6, 3).stride(2).dilation(2)),
      std::make_shared<nn::AvgPool1d>(nn::AvgPool1dOptions(2).count_include_pad(false))};
  const Tensor x = Tensor::normal({2, 4, 20});
  const Tensor y = model(x);
  CHECK(model.output_shape(x.shape()) == y.shape());
  CHECK(y.shape() == Shape{2, 6, 2});  // L: 20 (same) -> 11 (ceil) -> 4 -> 2
  const std::string table = model.summary(x.shape());
  CHECK_THAT(table, Catch::Contains("MaxPool1d") && Catch::Contains("AvgPool1d"));
  CHECK_THAT(table, !Catch::Contains("?"));
}

TEST_CASE("conv1d and pooling refuse bad arguments with one line naming the shapes",
          "[conv][errors]") {
  const Tensor x = Tensor::zeros({2, 4, 10});
  CHECK_THROWS_WITH(conv1d(x, Tensor::zeros({8, 3, 5})),
                    "conv1d: weight [8,3,5] needs input channels 3, got [2,4,10]");
  CHECK_THROWS_WITH(conv1d(x, Tensor::zeros({6, 2, 3}), Tensor(), 1, 0, 1, 3),
                    Catch::Contains("groups 3 must divide input channels 4"));
  CHECK_THROWS_WITH(conv1d(x, Tensor::zeros({6, 4, 13})),
                    Catch::Contains("kernel size 13 (dilated 13) is larger than the padded input "
                                    "length 10"));
  CHECK_THROWS_WITH(conv1d(x, Tensor::zeros({6, 4, 3}), Tensor(), 1, 1, 6),
                    Catch::Contains("kernel size 3 (dilated 13) is larger than the padded input "
                                    "length 12"));
  CHECK_THROWS_WITH(conv1d(x, Tensor::zeros({6, 4, 3}), Tensor::zeros({5})),
                    Catch::Contains("bias [5] does not match weight [6,4,3]"));
  CHECK_THROWS_WITH(conv1d(Tensor::zeros({10}), Tensor::zeros({6, 4, 3})),
                    Catch::Contains("expected input [N, C_in, L] or [C_in, L], got [10]"));
  CHECK_THROWS_WITH(conv1d(x, Tensor::zeros({6, 4, 3}), Tensor(), 2, PaddingMode::Same),
                    Catch::Contains("padding 'same' needs stride 1"));
  CHECK_THROWS_WITH(conv1d(Tensor::zeros({3, 10}), Tensor::zeros({6, 4, 3})),
                    "conv1d: weight [6,4,3] needs input channels 4, got [3,10]");
  CHECK_THROWS_WITH(nn::Conv1d(nn::Conv1dOptions(4, 6, 3).padding_mode("reflect")),
                    "Conv1d: padding_mode 'reflect' is not supported (only 'zeros')");
  CHECK_THROWS_WITH(nn::Conv1d(nn::Conv1dOptions(4, 6, 3).groups(4)),
                    Catch::Contains("groups 4 must divide in_channels 4 and out_channels 6"));
  CHECK_THROWS_WITH(max_pool1d(x, 3, 1, 2),
                    Catch::Contains("padding 2 must be at most half the kernel size 3"));
  CHECK_THROWS_WITH(avg_pool1d(x, 12), Catch::Contains("input [2,4,10] is too short for kernel "
                                                       "size 12"));
  CHECK_THROWS_WITH(nn::Conv1d(4, 6, 3).output_shape({2, 5, 10}),
                    Catch::Contains("input shape [2,5,10] is not [N, 4, L]"));
}
