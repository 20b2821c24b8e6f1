// nn modules: naming, counts, modes, dtype conversion with gradcheck, state dicts, summary, layers.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>

#include "tapegrad/autograd/gradcheck.hpp"
#include "tapegrad/autograd/ops.hpp"
#include "tapegrad/nn/nn.hpp"

using namespace tg;

namespace {

// A two-level model: encoder.{embedding, proj} + fc, registered in that order.
class Encoder : public nn::Module {
 public:
  explicit Encoder(Generator& gen) {
    embedding = register_module("embedding", std::make_shared<nn::Embedding>(10, 4, 0, gen));
    proj = register_module("proj", std::make_shared<nn::Linear>(4, 6, true, gen));
  }
  std::string type_name() const override { return "Encoder"; }
  std::shared_ptr<nn::Embedding> embedding;
  std::shared_ptr<nn::Linear> proj;
};

class Model : public nn::Module {
 public:
  explicit Model(Generator& gen) {
    scale = register_parameter("scale", Tensor::ones({6}));
    encoder = register_module("encoder", std::make_shared<Encoder>(gen));
    fc = register_module("fc", std::make_shared<nn::Linear>(6, 3, true, gen));
  }
  std::string type_name() const override { return "Model"; }
  Tensor forward(const Indices& ids) {
    return (*fc)(encoder->proj->forward(encoder->embedding->forward(ids)) * scale);
  }
  Tensor scale;
  std::shared_ptr<Encoder> encoder;
  std::shared_ptr<nn::Linear> fc;
};

// Counts on_mode_change calls.
class ModeProbe : public nn::Module {
 public:
  std::string type_name() const override { return "ModeProbe"; }
  int changes = 0;

 protected:
  void on_mode_change() override { ++changes; }
};

std::vector<std::string> names_of(const nn::NamedTensors& named) {
  std::vector<std::string> names;
  for (const auto& entry : named) names.push_back(entry.first);
  return names;
}

std::shared_ptr<nn::Sequential> mlp(Generator& gen) {
  return std::make_shared<nn::Sequential>(std::initializer_list<std::shared_ptr<nn::Module>>{
      std::make_shared<nn::Linear>(4, 16, true, gen), std::make_shared<nn::Tanh>(),
      std::make_shared<nn::Linear>(16, 3, true, gen)});
}

Tensor input64(const Shape& shape, std::uint64_t seed) {
  Generator gen(seed);
  Tensor x = Tensor::normal(shape, 0.0, 1.0, DType::Float64, gen);
  x.set_requires_grad();
  return x;
}

}  // namespace

TEST_CASE("named_parameters follows PyTorch's hierarchical names", "[nn]") {
  Generator gen(1);
  Model model(gen);
  CHECK(names_of(model.named_parameters()) ==
        std::vector<std::string>{"scale", "encoder.embedding.weight", "encoder.proj.weight",
                                 "encoder.proj.bias", "fc.weight", "fc.bias"});
  // Tensors carry their full names into DOT graphs.
  CHECK(model.encoder->proj->weight().name() == "encoder.proj.weight");
  CHECK(model.fc->bias().name() == "fc.bias");
  for (const Tensor& t : model.parameters()) CHECK(t.requires_grad());

  auto seq = mlp(gen);
  CHECK(names_of(seq->named_parameters()) ==
        std::vector<std::string>{"0.weight", "0.bias", "2.weight", "2.bias"});
  nn::Sequential named;
  named.add("hidden", std::make_shared<nn::Linear>(2, 2));
  named.add(std::make_shared<nn::ReLU>());
  CHECK(names_of(named.named_parameters()) == std::vector<std::string>{"hidden.weight", "hidden.bias"});
  CHECK(named.children()[1].first == "1");
  CHECK_THROWS_WITH(named.add("hidden", std::make_shared<nn::ReLU>()),
                    Catch::Contains("name 'hidden' is already taken"));
  CHECK_THROWS_WITH(named.add("a.b", std::make_shared<nn::ReLU>()), Catch::Contains("invalid name 'a.b'"));
  CHECK_THROWS_WITH(named[5], "Sequential: index 5 out of range for 2 layers");
}

TEST_CASE("parameter counts, with shared tensors counted once", "[nn]") {
  Generator gen(2);
  CHECK(nn::Linear(64, 10).parameter_count() == 650);
  CHECK(nn::Linear(64, 10, false).parameter_count() == 640);
  CHECK(nn::Embedding(100, 16).parameter_count() == 1600);
  CHECK(mlp(gen)->parameter_count() == 4 * 16 + 16 + 16 * 3 + 3);
  Model model(gen);
  CHECK(model.parameter_count() == 6 + 40 + 30 + 21);

  // Weight tying: the same tensor in two layers appears once, under its first name.
  nn::Sequential tied;
  auto a = tied.add(std::make_shared<nn::Sequential>());
  auto lin = std::make_shared<nn::Linear>(3, 3);
  a->add(lin);
  tied.add(lin);
  CHECK(names_of(tied.named_parameters()) == std::vector<std::string>{"0.0.weight", "0.0.bias"});
  CHECK(tied.parameter_count() == 12);
  CHECK(tied.state_dict().size() == 4);  // the state dict keeps every name, as PyTorch's
}

TEST_CASE("train and eval propagate and notify on change", "[nn]") {
  nn::Sequential outer;
  auto probe = outer.add(std::make_shared<ModeProbe>());
  auto inner = outer.add(std::make_shared<nn::Sequential>());
  auto drop = inner->add(std::make_shared<nn::Dropout>(0.5));
  CHECK(outer.is_training());
  CHECK(drop->is_training());
  outer.eval();
  CHECK_FALSE(outer.is_training());
  CHECK_FALSE(inner->is_training());
  CHECK_FALSE(drop->is_training());
  CHECK(probe->changes == 1);
  outer.eval();
  CHECK(probe->changes == 1);
  outer.train();
  CHECK(drop->is_training());
  CHECK(probe->changes == 2);
}

TEST_CASE("zero_grad forgets every parameter's gradient", "[nn]") {
  Generator gen(3);
  auto seq = mlp(gen);
  sum((*seq)(Tensor::ones({2, 4}))).backward();
  for (const Tensor& t : seq->parameters()) CHECK(t.has_grad());
  seq->zero_grad();
  for (const Tensor& t : seq->parameters()) CHECK_FALSE(t.has_grad());
}

TEST_CASE("to(Float64) converts in place and Linear passes gradcheck", "[nn][gradcheck]") {
  Generator gen(4);
  nn::Linear lin(5, 3, true, gen);
  const Tensor held = lin.weight();  // as an optimizer would hold it
  const std::vector<double> before = held.to_vector();
  sum(lin(Tensor::ones({2, 5}))).backward();
  lin.to(DType::Float64);
  CHECK(held.dtype() == DType::Float64);
  CHECK(held.same(lin.parameters()[0]));
  CHECK(held.requires_grad());
  CHECK_FALSE(held.has_grad());
  CHECK(held.to_vector() == before);  // float -> double is exact

  const Tensor x = input64({4, 5}, 11);
  std::vector<Tensor> wrt = lin.parameters();
  wrt.push_back(x);
  const GradcheckReport report = gradcheck([&] { return lin(x); }, wrt);
  INFO(report.message());
  CHECK(report.ok);
  CHECK(report.elements_checked == 15 + 3 + 20);
}

TEST_CASE("Sequential(Linear, Dropout, Linear) passes gradcheck in float64", "[nn][gradcheck]") {
  Generator gen(5);
  nn::Sequential seq;
  seq.add(std::make_shared<nn::Linear>(4, 6, true, gen));
  auto drop = seq.add(std::make_shared<nn::Dropout>(0.3));
  seq.add(std::make_shared<nn::Linear>(6, 2, true, gen));
  seq.to(DType::Float64);
  const Tensor x = input64({3, 4}, 12);
  std::vector<Tensor> wrt = seq.parameters();
  wrt.push_back(x);

  SECTION("evaluation mode: dropout is the identity") {
    seq.eval();
    const GradcheckReport report = gradcheck([&] { return seq(x); }, wrt);
    INFO(report.message());
    CHECK(report.ok);
    CHECK(report.elements_checked == 24 + 6 + 12 + 2 + 12);
  }
  SECTION("training mode with the dropout mask fixed by reseeding") {
    const GradcheckReport report = gradcheck(
        [&] {
          drop->manual_seed(99);
          return seq(x);
        },
        wrt);
    INFO(report.message());
    CHECK(report.ok);
  }
}

TEST_CASE("Embedding: lookup, padding row zero and without gradient", "[nn]") {
  Generator gen(6);
  nn::Embedding emb(8, 3, 2, gen);
  const std::vector<double> table = emb.weight().to_vector();
  CHECK(std::all_of(table.begin() + 6, table.begin() + 9, [](double v) { return v == 0.0; }));
  const Indices ids({1, 2, 5, 2, 1, 0}, {2, 3});
  const Tensor out = emb(ids);
  CHECK(out.shape() == Shape{2, 3, 3});
  CHECK(emb.output_shape({2, 3}) == Shape{2, 3, 3});
  const std::vector<double> v = out.to_vector();
  CHECK(std::vector<double>(v.begin(), v.begin() + 3) ==
        std::vector<double>(table.begin() + 3, table.begin() + 6));

  sum(out * 2.0).backward();
  const std::vector<double> g = emb.weight().grad_tensor().to_vector();
  const auto row = [&](int r) { return std::vector<double>(g.begin() + 3 * r, g.begin() + 3 * r + 3); };
  CHECK(row(2) == std::vector<double>{0, 0, 0});  // padding, used twice
  CHECK(row(1) == std::vector<double>{4, 4, 4});  // used twice
  CHECK(row(5) == std::vector<double>{2, 2, 2});
  CHECK(row(3) == std::vector<double>{0, 0, 0});  // unused

  CHECK_THROWS_WITH(emb.forward(Tensor::zeros({2, 3})),
                    Catch::Contains("Embedding: forward needs tg::Indices"));
  CHECK_THROWS_WITH(nn::Embedding(4, 2, 4), Catch::Contains("padding_idx 4"));
}

TEST_CASE("state_dict round trip and load_state_dict errors", "[nn]") {
  Generator gen_a(7), gen_b(8);
  Model a(gen_a), b(gen_b);
  const Indices ids({1, 3, 4});
  std::map<std::string, Tensor> state = a.state_dict();
  CHECK(state.size() == 6);
  CHECK(state.at("fc.bias").shape() == Shape{3});
  CHECK_FALSE(state.at("fc.bias").same(a.fc->bias()));  // a copy
  CHECK(a.forward(ids).to_vector() != b.forward(ids).to_vector());
  const Tensor b_weight = b.fc->weight();
  b.load_state_dict(state);
  CHECK(a.forward(ids).to_vector() == b.forward(ids).to_vector());
  CHECK(b_weight.same(b.fc->weight()));

  SECTION("a float64 checkpoint is converted to the model's dtype") {
    std::map<std::string, Tensor> wide;
    for (const auto& [k, t] : state) wide.emplace(k, t.to(DType::Float64));
    b.load_state_dict(wide);
    CHECK(b.fc->weight().dtype() == DType::Float32);
    CHECK(b.fc->weight().to_vector() == a.fc->weight().to_vector());
  }
  SECTION("shape mismatch names the key and both shapes, and changes nothing") {
    const std::vector<double> before = b.encoder->embedding->weight().to_vector();
    state["encoder.embedding.weight"] = Tensor::zeros({10, 4});
    state["encoder.proj.weight"] = Tensor::zeros({6, 5});
    CHECK_THROWS_WITH(b.load_state_dict(state),
                      "load_state_dict: shape mismatch for encoder.proj.weight: checkpoint [6,5], "
                      "model [6,4]");
    CHECK(b.encoder->embedding->weight().to_vector() == before);
  }
  SECTION("missing and unexpected keys") {
    state.erase("fc.bias");
    state.erase("scale");
    CHECK_THROWS_WITH(b.load_state_dict(state),
                      "load_state_dict: missing keys: scale, fc.bias");
    state["decoder.weight"] = Tensor::zeros({1});
    CHECK_THROWS_WITH(b.load_state_dict(state),
                      "load_state_dict: missing keys: scale, fc.bias; unexpected keys: decoder.weight");
    CHECK_NOTHROW(b.load_state_dict(state, false));
    CHECK(b.fc->weight().to_vector() == a.fc->weight().to_vector());
  }
}

TEST_CASE("summary lists each layer with output shape and parameters", "[nn]") {
  Generator gen(9);
  nn::Sequential seq;
  seq.add(std::make_shared<nn::Linear>(4, 16, true, gen));
  seq.add(std::make_shared<nn::Tanh>());
  seq.add(std::make_shared<nn::Dropout>(0.1));
  seq.add("out", std::make_shared<nn::Linear>(16, 3, true, gen));
  seq[0]->parameters()[1].set_requires_grad(false);  // a frozen bias
  const std::string expected =
      "Model: \"Sequential\"\n"
      "_________________________________________\n"
      " Layer (type)   Output Shape   Param #\n"
      "=========================================\n"
      " 0 (Linear)     [32,16]        80\n"
      " 1 (Tanh)       [32,16]        0\n"
      " 2 (Dropout)    [32,16]        0\n"
      " out (Linear)   [32,3]         51\n"
      "=========================================\n"
      "Total params: 131\n"
      "Trainable params: 115\n"
      "Non-trainable params: 16\n"
      "_________________________________________\n";
  CHECK(seq.summary({32, 4}) == expected);
  CHECK_THROWS_WITH(seq(Tensor::zeros({2, 5})),
                    Catch::StartsWith("Sequential: layer 0 (Linear): linear") && Catch::Contains("[2,5]"));
  CHECK_THROWS_WITH(seq.summary({32, 5}),
                    "Linear: input shape [32,5] does not end with in_features 4");

  // Nested containers expand into one row per layer, with dotted names; counts use commas.
  nn::Sequential outer;
  outer.add("body", mlp(gen));
  outer.add("head", std::make_shared<nn::Linear>(3, 1000, true, gen));
  const std::string text = outer.summary({8, 4});
  CHECK_THAT(text, Catch::Contains(" body.0 (Linear) ") && Catch::Contains(" body.2 (Linear) ") &&
                       Catch::Contains("[8,1000]") && Catch::Contains("4,000\n") &&
                       Catch::Contains("Total params: 4,131\n"));

  // A custom model's own parameters get a row of their own, so the rows add up to the total.
  Model model(gen);
  const std::string custom = model.summary({5});
  CHECK_THAT(custom, Catch::Contains("\n Model ") && Catch::Contains(" encoder.embedding (Embedding) ") &&
                         Catch::Contains("[5,4]") && Catch::Contains(" fc (Linear) ") &&
                         Catch::Contains("[5,3]") && Catch::Contains("Total params: 97\n"));
}

TEST_CASE("Linear's default initialisation is U(-1/sqrt(in), 1/sqrt(in)) and seeded", "[nn]") {
  Generator gen(10);
  nn::Linear lin(256, 128, true, gen);
  const double bound = 1.0 / 16.0;
  for (const Tensor& t : {lin.weight(), lin.bias()}) {
    const std::vector<double> v = t.to_vector();
    const auto [lo, hi] = std::minmax_element(v.begin(), v.end());
    CHECK(*lo >= -bound);
    CHECK(*hi <= bound);
    CHECK(*lo < -0.9 * bound);
    CHECK(*hi > 0.9 * bound);
    double sq = 0;
    for (double x : v) sq += x * x;
    // A uniform on [-b, b] has standard deviation b / sqrt(3).
    CHECK(std::sqrt(sq / v.size()) == Approx(bound / std::sqrt(3.0)).epsilon(0.1));
  }
  CHECK(lin.output_shape({7, 2, 256}) == Shape{7, 2, 128});
  Generator g1(42), g2(42);
  CHECK(nn::Linear(8, 4, true, g1).weight().to_vector() ==
        nn::Linear(8, 4, true, g2).weight().to_vector());
}

TEST_CASE("Dropout: scaled mask in training, identity in evaluation", "[nn]") {
  manual_seed(123);
  nn::Dropout drop(0.25);
  const Tensor x = Tensor::ones({100, 100});
  const std::vector<double> y = drop(x).to_vector();
  const auto zeros = std::count(y.begin(), y.end(), 0.0);
  CHECK(zeros > 2200);
  CHECK(zeros < 2800);
  CHECK(std::all_of(y.begin(), y.end(), [](double v) { return v == 0.0 || std::abs(v - 4.0 / 3.0) < 1e-6; }));
  drop.manual_seed(5);
  const std::vector<double> first = drop(x).to_vector();
  drop.manual_seed(5);
  CHECK(drop(x).to_vector() == first);
  drop.eval();
  CHECK(drop(x).to_vector() == x.to_vector());
  CHECK_THROWS_WITH(nn::Dropout(1.0), "Dropout: p must be in [0, 1), got 1");
}

TEST_CASE("loss modules match their ops", "[nn]") {
  const Tensor logits = Tensor::from_vector({1, 2, 3, 0, 0, 0}, {2, 3});
  const Indices targets({2, 1});
  CHECK(nn::CrossEntropyLoss()(logits, targets).item() ==
        Approx(cross_entropy(logits, targets).item()));
  CrossEntropyOptions sum_opts;
  sum_opts.reduction(Reduction::Sum);
  const double ce_sum = nn::CrossEntropyLoss(sum_opts)(logits, targets).item();
  const double expected = (std::log(std::exp(1) + std::exp(2) + std::exp(3)) - 3) + std::log(3.0);
  CHECK(ce_sum == Approx(expected).epsilon(1e-6));
  CHECK(nn::NLLLoss()(log_softmax(logits), targets).item() == Approx(expected / 2).epsilon(1e-6));
  const Tensor p = Tensor::from_vector({1, 2, 3}, {3});
  const Tensor t = Tensor::from_vector({1, 0, 0}, {3});
  CHECK(nn::MSELoss()(p, t).item() == Approx(13.0 / 3.0));
  CHECK(nn::MSELoss(Reduction::Sum)(p, t).item() == Approx(13.0));
  nn::CrossEntropyLoss loss;
  nn::Module& as_module = loss;  // the one-tensor forward does not apply to a loss
  CHECK_THROWS_WITH(as_module.forward(logits),
                    "CrossEntropyLoss: forward(Tensor) is not supported by this module");
}
