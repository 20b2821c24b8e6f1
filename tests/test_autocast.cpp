// Mixed precision: tg::AutocastGuard's scope, bfloat16 products against float32 (LSTM, Linear,
// matmul), float32 and float64 results untouched without the guard, and oneDNN's float32
// products against OpenBLAS's.
#include <catch2/catch.hpp>

#include <cstdint>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include "tapegrad/autograd/autocast.hpp"
#include "tapegrad/autograd/blas.hpp"
#include "tapegrad/autograd/ops.hpp"
#include "compare.hpp"
#include "tapegrad/nn/nn.hpp"
#include "skip.hpp"
#include "autograd/parameter_cache.hpp"

using namespace tg;
using tg::testing::rel_norm_error;

namespace {

// Measured here (Sapphire Rapids, AMX; run with -s to see them): bf16 products against float32,
// relative norm errors 2e-3 to 5e-3 on the LSTM's outputs and parameter gradients; float32
// against itself through OpenBLAS vs oneDNN, under 1e-6. The bf16 tolerance (2e-2) leaves 4x
// room above the bf16 rounding, and the lower bound (1e-4) is 20x below it and 100x above the
// float32 noise: a bf16 run whose products stayed float32 fails it.
constexpr double kBf16Tolerance = 2e-2;
constexpr double kBf16Floor = 1e-4;
constexpr double kFloat32Tolerance = 1e-5;

constexpr std::size_t kSteps = 6, kBatch = 16, kInput = 24, kHidden = 40;

std::vector<double> values_of(const Tensor& t) { return t.to_vector(); }

// The share of a float32 array's values whose low 16 bits are all zero, i.e. that are exactly
// representable in bfloat16: ~1/65536 for float32 arithmetic, 1 for values rounded to bf16.
double bf16_exact_share(const xt::xarray<float>& a) {
  std::size_t exact = 0;
  for (float v : a) {
    std::uint32_t bits;
    std::memcpy(&bits, &v, sizeof bits);
    if ((bits & 0xffffu) == 0) ++exact;
  }
  return double(exact) / double(a.size());
}

struct Run {
  std::vector<double> output;
  std::vector<std::vector<double>> grads;  // per parameter, then the input's
  std::vector<xt::xarray<float>> grad_arrays;
};

// One training step's outputs and gradients of a 2-layer LSTM (fixed weights and data), with
// `forward_scope` around the forward and `backward_scope` around the backward.
Run lstm_step(DType dtype, const std::function<void(const std::function<void()>&)>& forward_scope,
              const std::function<void(const std::function<void()>&)>& backward_scope) {
  Generator gen(7);
  nn::RecurrentOptions o;
  o.input_size(kInput);
  o.hidden_size(kHidden);
  o.num_layers(2);
  nn::LSTM lstm(o, gen);
  lstm.to(dtype);
  const Tensor x = Tensor::uniform({kSteps, kBatch, kInput}, -1, 1, dtype, gen);
  x.set_requires_grad();
  const Tensor r = Tensor::uniform({kSteps, kBatch, kHidden}, -1, 1, dtype, gen);
  Tensor loss;
  Tensor out;
  forward_scope([&] {
    out = lstm.forward(x, {}).output;
    loss = sum(out * r);
  });
  backward_scope([&] { loss.backward(); });
  Run run;
  run.output = values_of(out);
  for (const auto& [name, p] : lstm.named_parameters()) {
    run.grads.push_back(values_of(p.grad_tensor()));
    if (dtype == DType::Float32) run.grad_arrays.push_back(p.grad<float>());
  }
  run.grads.push_back(values_of(x.grad_tensor()));
  return run;
}

void plain(const std::function<void()>& f) { f(); }
void in_bf16(const std::function<void()>& f) {
  AutocastGuard bf16;
  f();
}

double worst_grad_error(const Run& a, const Run& b) {
  double worst = 0;
  for (std::size_t i = 0; i < a.grads.size(); ++i)
    tg::testing::raise_to(worst, rel_norm_error(a.grads[i], b.grads[i]));
  return worst;
}

bool same_bits(const Run& a, const Run& b) {
  return a.output == b.output && a.grads == b.grads;
}

}  // namespace

TEST_CASE("AutocastGuard sets bf16 for its scope and restores on exit", "[autocast]") {
  REQUIRE(matmul_precision() == MatmulPrecision::Float32);
  {
    AutocastGuard bf16;
    CHECK(matmul_precision() == MatmulPrecision::BFloat16);
    {
      AutocastGuard off(false);
      CHECK(matmul_precision() == MatmulPrecision::Float32);
    }
    CHECK(matmul_precision() == MatmulPrecision::BFloat16);
  }
  CHECK(matmul_precision() == MatmulPrecision::Float32);
  try {
    AutocastGuard bf16;
    throw Error("leaving the scope by an exception");
  } catch (const Error&) {
  }
  CHECK(matmul_precision() == MatmulPrecision::Float32);
  CHECK(parse_matmul_precision("bf16") == MatmulPrecision::BFloat16);
  CHECK(parse_matmul_precision("float32") == MatmulPrecision::Float32);
  CHECK(parse_matmul_precision("auto") ==
        (blas::bf16_supported() ? MatmulPrecision::BFloat16 : MatmulPrecision::Float32));
  CHECK_THROWS_WITH(parse_matmul_precision("fp16"),
                    Catch::Contains("'fp16' is not one of auto, bf16, float32"));
}

TEST_CASE("the BLAS line names the bf16 kernel family", "[autocast]") {
  const std::string off = blas::describe();
  std::string on;
  {
    AutocastGuard bf16;
    on = blas::describe();
  }
  INFO(off << "\n" << on);
  CHECK(on.find("; bf16 products: " + blas::bf16_family()) != std::string::npos);
  if (blas::bf16_supported())
    CHECK(off.find("; bf16 products: available, off: " + blas::bf16_family()) !=
          std::string::npos);
  else
    CHECK(off == on);
}

TEST_CASE("bf16 LSTM step: outputs and gradients within tolerance of float32", "[autocast]") {
  if (!blas::bf16_supported()) TG_SKIP(tg::testing::kNeedsBf16, "no bf16 products here: " + blas::describe());
  const Run f32 = lstm_step(DType::Float32, plain, plain);
  const Run bf16 = lstm_step(DType::Float32, in_bf16, in_bf16);
  const double out_err = rel_norm_error(bf16.output, f32.output);
  const double grad_err = worst_grad_error(bf16, f32);
  WARN("bf16 vs float32: output " << out_err << ", worst gradient " << grad_err);
  CHECK(out_err <= kBf16Tolerance);
  CHECK(grad_err <= kBf16Tolerance);
  // bf16 was applied: float32 products would agree to ~1e-7.
  CHECK(out_err >= kBf16Floor);
  CHECK(grad_err >= kBf16Floor);
  // Parameter gradients are float32 sums, not values rounded to bf16.
  for (const auto& g : bf16.grad_arrays) CHECK(bf16_exact_share(g) < 0.01);
}

TEST_CASE("backward runs in the precision its forward ran in", "[autocast]") {
  if (!blas::bf16_supported()) TG_SKIP(tg::testing::kNeedsBf16, "no bf16 products here: " + blas::describe());
  const Run inside = lstm_step(DType::Float32, in_bf16, in_bf16);
  const Run backward_outside = lstm_step(DType::Float32, in_bf16, plain);
  CHECK(same_bits(inside, backward_outside));
  // And not the reverse: a float32 forward keeps float32 products in a bf16 backward.
  const Run f32 = lstm_step(DType::Float32, plain, plain);
  CHECK(same_bits(f32, lstm_step(DType::Float32, plain, in_bf16)));
}

TEST_CASE("float32 and float64 results are unchanged without the guard", "[autocast]") {
  const Run before = lstm_step(DType::Float32, plain, plain);
  { AutocastGuard bf16; }
  CHECK(same_bits(before, lstm_step(DType::Float32, plain, plain)));
  auto off_inside_bf16 = [](const std::function<void()>& f) {
    AutocastGuard bf16;
    AutocastGuard off(false);
    f();
  };
  CHECK(same_bits(before, lstm_step(DType::Float32, off_inside_bf16, off_inside_bf16)));
  // The float64 path (gradcheck's) ignores the guard.
  CHECK(same_bits(lstm_step(DType::Float64, plain, plain),
                  lstm_step(DType::Float64, in_bf16, in_bf16)));
}

TEST_CASE("bf16 Linear and matmul: within tolerance, float32 gradients", "[autocast]") {
  if (!blas::bf16_supported()) TG_SKIP(tg::testing::kNeedsBf16, "no bf16 products here: " + blas::describe());
  auto run = [](bool bf16) {
    Generator gen(3);
    const Tensor x = Tensor::uniform({2, 9, 33}, -1, 1, DType::Float32, gen).set_requires_grad();
    const Tensor w = Tensor::uniform({17, 33}, -1, 1, DType::Float32, gen).set_requires_grad();
    const Tensor b = Tensor::uniform({17}, -1, 1, DType::Float32, gen).set_requires_grad();
    const Tensor m = Tensor::uniform({17, 5}, -1, 1, DType::Float32, gen).set_requires_grad();
    Tensor y;
    {
      AutocastGuard guard(bf16);
      y = matmul(linear(x, w, b), m);
    }
    sum(y * y).backward();
    return std::vector<std::vector<double>>{y.to_vector(), x.grad_tensor().to_vector(),
                                            w.grad_tensor().to_vector(), b.grad_tensor().to_vector(),
                                            m.grad_tensor().to_vector()};
  };
  const auto f32 = run(false), bf16 = run(true);
  for (std::size_t i = 0; i < f32.size(); ++i) {
    const double err = rel_norm_error(bf16[i], f32[i]);
    INFO("value " << i << ": " << err);
    CHECK(err <= kBf16Tolerance);
    CHECK(err >= kBf16Floor);
  }
}

TEST_CASE("oneDNN float32 products agree with OpenBLAS", "[autocast]") {
  if (!blas::onednn_available()) TG_SKIP(tg::testing::kNeedsOneDnn, "no oneDNN here: " + blas::describe());
  blas::set_float32_provider(blas::Float32Provider::OpenBlas);
  const Run openblas = lstm_step(DType::Float32, plain, plain);
  blas::set_float32_provider(blas::Float32Provider::OneDnn);
  const Run onednn = lstm_step(DType::Float32, plain, plain);
  blas::set_float32_provider(blas::Float32Provider::Auto);
  const double out_err = rel_norm_error(onednn.output, openblas.output);
  const double grad_err = worst_grad_error(onednn, openblas);
  WARN("oneDNN vs OpenBLAS float32: output " << out_err << ", worst gradient " << grad_err);
  CHECK(out_err <= kFloat32Tolerance);
  CHECK(grad_err <= kFloat32Tolerance);
}

namespace {

// A user's model whose forward does its own product: set_matmul_precision reaches it through
// the precision_scope() its forward opens (as the built-in layers' do).
struct Scorer : nn::Forwarding<Scorer> {
  Tensor weight;
  explicit Scorer(Generator& gen)
      : weight(register_parameter("weight", Tensor::uniform({12, 5}, -1, 1, DType::Float32, gen))) {}
  std::string type_name() const override { return "Scorer"; }
  Tensor forward(const Tensor& x, double scale) {
    const AutocastGuard precision = precision_scope();
    return matmul(x, weight) * scale;
  }
};

// Values of the output then of every parameter's gradient after sum(y * y).backward().
std::vector<std::vector<double>> outputs_and_grads(nn::Module& model, const Tensor& y) {
  sum(y * y).backward();
  std::vector<std::vector<double>> all{y.to_vector()};
  for (const Tensor& p : model.parameters()) all.push_back(p.grad_tensor().to_vector());
  model.zero_grad();
  return all;
}

}  // namespace

TEST_CASE("a module's matmul precision holds in its forward whatever the scope", "[autocast]") {
  if (!blas::bf16_supported()) TG_SKIP(tg::testing::kNeedsBf16, "no bf16 products here: " + blas::describe());
  Generator gen(11);
  const Tensor x = Tensor::uniform({2, 6, 20}, -1, 1, DType::Float32, gen);
  nn::Sequential model;
  auto encoder = model.add(std::make_shared<nn::Linear>(20, 12, true, gen));
  auto head = model.add(std::make_shared<nn::Linear>(12, 5, true, gen));

  const auto float32 = outputs_and_grads(model, model(x));
  // The same model with every product in a bf16 scope, and with only the encoder's: the
  // references the per-module settings must reproduce bit for bit.
  auto all_bf16 = [&] {
    AutocastGuard bf16;
    return model(x);
  };
  auto encoder_bf16 = [&] {
    Tensor h;
    {
      AutocastGuard bf16;
      h = encoder->forward(x);
    }
    return head->forward(h);
  };
  auto head_bf16 = [&] {
    const Tensor h = encoder->forward(x);
    AutocastGuard bf16;
    return head->forward(h);
  };
  const auto reference_all = outputs_and_grads(model, all_bf16());
  const auto reference_head = outputs_and_grads(model, head_bf16());
  const auto reference_encoder = outputs_and_grads(model, encoder_bf16());
  CHECK(rel_norm_error(reference_encoder[0], float32[0]) >= kBf16Floor);
  CHECK(rel_norm_error(reference_all[0], reference_encoder[0]) >= kBf16Floor);
  CHECK(rel_norm_error(reference_head[0], reference_encoder[0]) >= kBf16Floor);

  encoder->set_matmul_precision(MatmulPrecision::BFloat16);
  CHECK(outputs_and_grads(model, model(x)) == reference_encoder);  // no scope: the encoder's own
  CHECK(outputs_and_grads(model, encoder_bf16()) == reference_encoder);
  {
    // A float32 setting holds inside a bf16 scope; the unset head follows the scope.
    AutocastGuard bf16;
    encoder->set_matmul_precision(MatmulPrecision::Float32);
    head->set_matmul_precision(std::nullopt);
    CHECK(outputs_and_grads(model, model(x)) == reference_head);
  }
  // Set on the container, it reaches every layer; unset, everything follows the scope again.
  model.set_matmul_precision(MatmulPrecision::BFloat16);
  CHECK(encoder->matmul_precision_setting() == MatmulPrecision::BFloat16);
  CHECK(outputs_and_grads(model, model(x)) == reference_all);
  model.set_matmul_precision(std::nullopt);
  CHECK(outputs_and_grads(model, model(x)) == float32);
  CHECK(outputs_and_grads(model, all_bf16()) == reference_all);

  // A recurrent layer, and a user's module whose forward has its own signature.
  nn::LSTM lstm(nn::LSTMOptions(20, 12), gen);
  auto lstm_run = [&] { return outputs_and_grads(lstm, lstm(x)); };
  const auto lstm_float32 = lstm_run();
  const auto lstm_bf16 = [&] {
    AutocastGuard bf16;
    return lstm_run();
  }();
  lstm.set_matmul_precision(MatmulPrecision::BFloat16);
  CHECK(lstm_run() == lstm_bf16);
  CHECK(rel_norm_error(lstm_bf16[0], lstm_float32[0]) >= kBf16Floor);

  Scorer scorer(gen);
  auto scorer_run = [&] { return outputs_and_grads(scorer, scorer(slice(x, 2, 0, 12), 0.5)); };
  const auto scorer_float32 = scorer_run();
  scorer.set_matmul_precision(MatmulPrecision::BFloat16);
  const auto scorer_bf16 = scorer_run();
  CHECK(rel_norm_error(scorer_bf16[0], scorer_float32[0]) >= kBf16Floor);
  CHECK(rel_norm_error(scorer_bf16[0], scorer_float32[0]) <= kBf16Tolerance);
}

TEST_CASE("a parameter's bf16 conversion is kept while its value is, and redone after a write",
          "[autocast]") {
  if (!blas::bf16_supported()) TG_SKIP(tg::testing::kNeedsBf16, "no bf16 products here: " + blas::describe());
  Generator gen(5);
  const Tensor x = Tensor::uniform({4, 24}, -1, 1, DType::Float32, gen).set_requires_grad();
  const Tensor w = Tensor::uniform({40, 24}, -1, 1, DType::Float32, gen).set_requires_grad();
  const Tensor seed = Tensor::uniform({4, 40}, -1, 1, DType::Float32, gen);
  // float32 products of the weight's current values, through a copy that is not a parameter.
  auto reference = [&] {
    AutocastGuard float32(false);
    const Tensor values = Tensor::from_vector(w.to_vector(), w.shape());
    const Tensor input = Tensor::from_vector(x.to_vector(), x.shape()).set_requires_grad();
    const Tensor y = linear(input, values);
    sum(y * seed).backward();
    return std::pair{y.to_vector(), input.grad_tensor().to_vector()};
  };
  auto within_bf16 = [](const std::vector<double>& got, const std::vector<double>& want) {
    const double err = rel_norm_error(got, want);
    INFO("relative error " << err);
    CHECK(err <= kBf16Tolerance);
    CHECK(err >= kBf16Floor);  // it did run in bf16
  };
  {
    AutocastGuard bf16;
    const Tensor y = linear(x, w);
    CHECK(parameter_cache::size() == 1);
    const Tensor again = linear(x, w);
    CHECK(parameter_cache::size() == 1);  // the same conversion, so the same bits
    CHECK(again.to_vector() == y.to_vector());
    within_bf16(y.to_vector(), reference().first);

    // A write (here as an optimizer's, through mutable_value) makes the kept conversion stale.
    w.mutable_value<float>() *= -0.5f;
    x.zero_grad();
    const Tensor after = linear(x, w);
    sum(after * seed).backward();  // dx = G W: a second product by w, also kept
    CHECK(parameter_cache::size() == 2);
    const auto [want_y, want_dx] = reference();
    within_bf16(after.to_vector(), want_y);
    within_bf16(x.grad_tensor().to_vector(), want_dx);
  }
  CHECK(parameter_cache::size() == 0);  // dropped with the outermost bf16 scope
  {
    // h @ W with W a parameter [in, out], as an RNN written from scratch multiplies.
    const Tensor v = Tensor::uniform({24, 40}, -1, 1, DType::Float32, gen).set_requires_grad();
    auto product_of_values = [&] {
      AutocastGuard float32(false);
      return matmul(x.detach(), Tensor::from_vector(v.to_vector(), v.shape())).to_vector();
    };
    AutocastGuard bf16;
    within_bf16(matmul(x, v).to_vector(), product_of_values());
    CHECK(parameter_cache::size() == 1);
    v.mutable_value<float>() += 1.0f;
    within_bf16(matmul(x, v).to_vector(), product_of_values());
  }
  // Not kept: inputs that are not parameters, and float32 products.
  AutocastGuard bf16;
  linear(x.detach(), Tensor::from_vector(w.to_vector(), w.shape()));
  {
    AutocastGuard off(false);
    linear(x, w);
  }
  CHECK(parameter_cache::size() == 0);
}
