// The README's "Writing your own model" snippets: they live here, between README-BEGIN and
// README-END markers, run as tests, and a test checks that README.md quotes each one verbatim.
// They see the library only through <tapegrad.hpp>, as a README reader's program would, and a
// test checks that every public header is reachable from it.
#include <catch2/catch.hpp>

#include <cmath>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <regex>
#include <set>
#include <sstream>

#include "compare.hpp"

#include "tapegrad.hpp"

// README-BEGIN custom-module
// A model is a Module with named children; Forwarding gives it operator() for its own forward.
class AttentionPool : public tg::nn::Forwarding<AttentionPool> {
 public:
  AttentionPool(std::size_t vocab, std::size_t dim, std::size_t classes) {
    embed_ = register_module("embed", std::make_shared<tg::nn::Embedding>(
                                          tg::nn::EmbeddingOptions(vocab, dim).padding_idx(0)));
    attn_ = register_module("attn", std::make_shared<tg::nn::MultiheadAttention>(
                                        tg::nn::MultiheadAttentionOptions(dim, 2).batch_first(true)));
    head_ = register_module("head", std::make_shared<tg::nn::Linear>(dim, classes));
  }
  std::string type_name() const override { return "AttentionPool"; }

  // ids [B, T] with padding 0 -> logits [B, classes]
  tg::Tensor forward(const tg::Indices& ids, const tg::Tensor& padding_mask) {
    const tg::Tensor x = embed_->forward(ids);
    tg::nn::AttentionArgs args;
    args.key_padding_mask = tg::BoolMask(padding_mask);  // hide where the mask is 1
    const tg::Tensor attended = attn_->forward(x, x, x, args).output;
    return head_->forward(tg::mean(attended, {1}));
  }

 private:
  std::shared_ptr<tg::nn::Embedding> embed_;
  std::shared_ptr<tg::nn::MultiheadAttention> attn_;
  std::shared_ptr<tg::nn::Linear> head_;
};
// README-END

// README-BEGIN custom-op
// An op: compute the value, then record its derivative as a formula over tensors, given the
// output's gradient, the inputs and the output. Written with ops, it is recorded under
// create_graph, so cube's gradient can be differentiated again. saves_inputs: the formula reads
// x, so writing x in place before backward is refused.
tg::Tensor cube(const tg::Tensor& x) {
  return tg::dispatch(x.dtype(), [&](auto s) {
    using T = decltype(s);
    const auto& v = x.value<T>();
    tg::Tensor y(xt::xarray<T>(v * v * v));
    if (tg::any_requires_grad(x))
      tg::record("cube", y, {x}, tg::saves_inputs,
                 [](const tg::Tensor& g, const tg::Inputs& in, const tg::Tensor&) -> tg::Grads {
                   return {g * 3.0 * in[0] * in[0]};
                 });
    return y;
  });
}
// README-END

TEST_CASE("README: a custom module trains with a plain parameter list", "[readme]") {
  // README-BEGIN train
  AttentionPool model(20, 8, 3);
  tg::optim::Adam adam(model.parameters(), tg::optim::AdamOptions{1e-2});
  const tg::data::PaddedBatch batch = tg::data::pad_batch({{3, 4, 5}, {6, 7}}, 0, /*batch_first=*/true);
  const tg::Indices labels({2, 0});
  for (int step = 0; step < 20; ++step) {
    adam.zero_grad();
    const tg::Tensor loss = tg::cross_entropy(model(batch.ids, batch.mask), labels);
    loss.backward();
    adam.step();
  }
  std::cout << model.summary() << model(batch.ids, batch.mask) << "\n";
  // README-END
  tg::NoGradGuard no_grad;
  const tg::Indices predicted = tg::argmax(model(batch.ids, batch.mask));
  CHECK(predicted.data == std::vector<std::int64_t>{2, 0});
}

// README-BEGIN modules
// A character language model from the library's layers: PyTorch's names, options and masks.
class CharTransformer : public tg::nn::Forwarding<CharTransformer> {
 public:
  CharTransformer(std::size_t vocab, std::size_t d_model, std::size_t layers) {
    embed_ = register_module("embed", std::make_shared<tg::nn::Embedding>(vocab, d_model));
    // Local features first: a 1-D convolution over time, batch-normalised, then GELU.
    auto conv = std::make_shared<tg::nn::Sequential>();
    conv->add(std::make_shared<tg::nn::Conv1d>(tg::nn::Conv1dOptions(d_model, d_model, 3).padding(1)));
    conv->add(std::make_shared<tg::nn::BatchNorm1d>(d_model));
    conv->add(std::make_shared<tg::nn::GELU>());
    conv_ = register_module("conv", conv);
    encoder_ = register_module("encoder", std::make_shared<tg::nn::TransformerEncoder>(
        tg::nn::TransformerLayerOptions(d_model, 4).dim_feedforward(4 * d_model).dropout(0.1)
            .activation(tg::nn::TransformerActivation::GELU).batch_first(true).norm_first(true),
        layers, /*final_norm=*/true));
    head_ = register_module("head", std::make_shared<tg::nn::Linear>(d_model, vocab));
  }

  // ids [B, T] -> logits [B, T, vocab]; position t sees positions 0..t only.
  tg::Tensor forward(const tg::Indices& ids) {
    const tg::Tensor x = embed_->forward(ids);                      // [B, T, E]
    const tg::Tensor local = tg::transpose(conv_->forward(tg::transpose(x, {0, 2, 1})), {0, 2, 1});
    const std::size_t steps = ids.shape[1];
    const tg::Tensor causal = tg::nn::generate_square_subsequent_mask(steps);  // -inf above the diagonal
    return head_->forward(encoder_->forward(x + local, causal));
  }

 private:
  std::shared_ptr<tg::nn::Embedding> embed_;
  std::shared_ptr<tg::nn::Sequential> conv_;
  std::shared_ptr<tg::nn::TransformerEncoder> encoder_;
  std::shared_ptr<tg::nn::Linear> head_;
};
// README-END

TEST_CASE("README: the character Transformer trains and its state_dict holds buffers", "[readme]") {
  tg::manual_seed(5);
  // README-BEGIN modules-train
  CharTransformer model(/*vocab=*/12, /*d_model=*/16, /*layers=*/2);
  tg::optim::AdamW adamw(model.parameters(), tg::optim::AdamWOptions{3e-3});
  const tg::Indices ids({1, 2, 3, 4, 5, 6, 2, 3, 4, 5, 6, 7}, {2, 6});
  const tg::Indices next({2, 3, 4, 5, 6, 7, 3, 4, 5, 6, 7, 8}, {2, 6});
  for (int step = 0; step < 30; ++step) {
    adamw.zero_grad();
    const tg::Tensor logits = model(ids);                        // [B, T, vocab]
    const tg::Tensor loss = tg::cross_entropy(tg::transpose(logits, {0, 2, 1}), next);  // [N, C, T]
    loss.backward();
    adamw.step();
  }
  // Running statistics are buffers: saved with the weights, never trained.
  std::cout << model.state_dict().count("conv.1.running_mean") << "\n";  // 1
  // README-END
  CHECK(model.state_dict().count("conv.1.running_mean") == 1);
  CHECK(model.state_dict().count("encoder.layers.1.self_attn.in_proj_weight") == 1);
  model.eval();
  const tg::Tensor logits = model(ids);
  const tg::Tensor loss = tg::cross_entropy(tg::transpose(logits, {0, 2, 1}), next);
  CHECK(loss.to_vector()[0] < 1.0);  // ln(12) = 2.48 at the start
}

TEST_CASE("README: the custom op passes gradcheck", "[readme]") {
  // README-BEGIN gradcheck
  const tg::Tensor x = tg::Tensor::uniform({3, 4}, -1, 1, tg::DType::Float64).set_requires_grad();
  const tg::GradcheckReport report = tg::gradcheck([&] { return cube(x); }, {x});
  std::cout << report.message() << "\n";  // "gradcheck passed: 12 elements, ..."
  // README-END
  CHECK(report.ok);
  const tg::Tensor y = cube(x);
  CHECK(y.to_vector() == (x * x * x).to_vector());
}

TEST_CASE("README: a Hessian-vector product and a gradient penalty", "[readme]") {
  // README-BEGIN higher-order
  // A Hessian-vector product: differentiate the gradient (kept on the tape by create_graph)
  // dotted with a direction v.
  const tg::Tensor w = tg::Tensor::uniform({3}, -1, 1, tg::DType::Float64).set_requires_grad();
  const tg::Tensor v = tg::Tensor::ones({3}, tg::DType::Float64);
  const tg::Tensor loss = tg::sum(tg::tanh(w) * w);
  const tg::Tensor g = tg::grad({loss}, {w}, {}, {}, /*create_graph=*/true)[0];
  const tg::Tensor hv = tg::grad({tg::sum(g * v)}, {w})[0];  // H v

  // A gradient penalty (WGAN-GP): the critic's input gradient, pushed towards norm 1.
  tg::nn::Sequential critic({std::make_shared<tg::nn::Linear>(2, 16),
                             std::make_shared<tg::nn::Tanh>(),
                             std::make_shared<tg::nn::Linear>(16, 1)});
  const tg::Tensor x = tg::Tensor::uniform({8, 2}, -1, 1).set_requires_grad();
  const tg::Tensor dx = tg::grad({tg::sum(critic(x))}, {x}, {}, {}, /*create_graph=*/true)[0];
  const tg::Tensor penalty = tg::mean(tg::pow(tg::sqrt(tg::sum(dx * dx, {1})) - 1.0, 2.0));
  (tg::mean(critic(x)) + 10.0 * penalty).backward();  // the penalty reaches the weights
  // README-END
  // tanh(w) w is separable: H is diagonal, h_ii = 2 sech^2(w) - 2 w tanh(w) sech^2(w).
  for (std::size_t i = 0; i < 3; ++i) {
    const double wi = w.value<double>()(i), t = std::tanh(wi), s = 1 - t * t;
    CHECK(hv.value<double>()(i) == Approx(2 * s - 2 * wi * t * s).epsilon(1e-12));
  }
  const tg::Tensor first = critic.named_parameters().front().second;
  CHECK(first.has_grad());
  // The penalty's share of the weights' gradient is not zero: without it they differ.
  const std::vector<double> with_penalty = first.grad_tensor().to_vector();
  first.zero_grad();
  tg::mean(critic(x)).backward();
  CHECK(tg::testing::max_abs_diff(with_penalty, first.grad_tensor().to_vector()) > 1e-6);
}

// README-BEGIN trainer
// Any classifier on (x, y) with a validation set, trained by tg::train::Trainer: a progress line;
// metrics.csv, curves.svg and the best weights (model.npz) in `run`; early stopping, a time
// budget, gradient clipping and a decaying learning rate; Ctrl-C saves, `resume` continues the
// run bit for bit; under mpirun every process trains on its share of each batch.
struct Dataset {
  tg::Tensor x;                  // [N, features]
  std::vector<std::int64_t> y;   // class ids
};

tg::train::FitResult fit_classifier(tg::nn::Module& model, const Dataset& train,
                                    const Dataset& val, const std::string& run, bool resume) {
  tg::Generator shuffle(1);
  tg::optim::Adam adam(model.parameters(), tg::optim::AdamOptions{1e-2});
  tg::optim::ExponentialLR decay(adam, 0.95);
  tg::train::Trainer trainer(model, adam, tg::train::TrainerOptions().max_epochs(30)
      .max_time(600).gradient_clip_val(1.0).run_dir(run).resume(resume).unit("points"));
  trainer.scheduler(decay).track("shuffle", shuffle)
      .callback(std::make_shared<tg::train::EarlyStopping>(
          tg::train::EarlyStoppingOptions("val_loss").patience(4)))
      .callback(std::make_shared<tg::train::ModelCheckpoint>("val_loss", tg::train::Mode::Min));
  return trainer.fit(
      [&](std::size_t /*epoch*/) { return tg::data::shuffled_batches(train.y.size(), 64, shuffle); },
      [&](const tg::train::Batch& batch) {
        std::vector<std::int64_t> rows(batch.items.begin(), batch.items.end()), labels;
        for (std::size_t i : batch.items) labels.push_back(train.y[i]);
        const tg::Tensor logits = model(tg::index_select(train.x, 0, tg::Indices(rows)));
        return tg::train::StepOutput{tg::cross_entropy(logits, tg::Indices(labels)), {}};
      },
      [&] { return tg::train::Logs{{"val_loss", tg::cross_entropy(model(val.x), val.y).item()}}; });
}
// README-END

namespace {

// Two interleaved spirals, n points, alternating classes.
Dataset spirals(std::size_t n, std::uint64_t seed) {
  tg::Generator gen(seed);
  const std::vector<double> radius = tg::Tensor::uniform({n}, 0.3, 3.0, tg::DType::Float64, gen).to_vector();
  std::vector<double> xy;
  Dataset d;
  for (std::size_t i = 0; i < n; ++i) {
    const double r = radius[i], sign = i % 2 ? -1.0 : 1.0;
    xy.push_back(sign * r * std::cos(2.5 * r));
    xy.push_back(sign * r * std::sin(2.5 * r));
    d.y.push_back(static_cast<std::int64_t>(i % 2));
  }
  d.x = tg::Tensor::from_vector(xy, {n, 2});
  return d;
}

// A small MLP that raises SIGINT in its `raise_at`-th forward (0: never), as Ctrl-C would.
class Mlp : public tg::nn::Module {
 public:
  explicit Mlp(std::size_t raise_at = 0) : raise_at_(raise_at) {
    tg::Generator gen(3);
    layers_ = register_module("layers", std::make_shared<tg::nn::Sequential>(
        std::initializer_list<std::shared_ptr<tg::nn::Module>>{
            std::make_shared<tg::nn::Linear>(tg::nn::LinearOptions(2, 32), gen),
            std::make_shared<tg::nn::Tanh>(),
            std::make_shared<tg::nn::Linear>(tg::nn::LinearOptions(32, 32), gen),
            std::make_shared<tg::nn::Tanh>(),
            std::make_shared<tg::nn::Linear>(tg::nn::LinearOptions(32, 2), gen)}));
  }
  tg::Tensor forward(const tg::Tensor& x) override {
    if (++calls_ == raise_at_) std::raise(SIGINT);
    return layers_->forward(x);
  }

 private:
  std::size_t raise_at_, calls_ = 0;
  std::shared_ptr<tg::nn::Sequential> layers_;
};

}  // namespace

TEST_CASE("README: the Trainer's run, interrupted by SIGINT and resumed, ends bit for bit as an "
          "uninterrupted one", "[readme][train]") {
  namespace fs = std::filesystem;
  const fs::path dir = fs::temp_directory_path() / ("tapegrad_readme_trainer_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  const Dataset train = spirals(2000, 11), val = spirals(400, 12);

  Mlp whole;
  const tg::train::FitResult full = fit_classifier(whole, train, val, (dir / "u").string(), false);
  REQUIRE(full.history.size() >= 5);
  INFO("first val_loss " << full.history.front().at("val_loss") << ", last "
                         << full.history.back().at("val_loss") << ", " << full.stop_reason);
  CHECK(full.history.back().at("val_loss") < 0.5 * full.history.front().at("val_loss"));
  for (const char* file : {"metrics.csv", "curves.svg", "model.npz", "resume.npz"})
    CHECK(fs::exists(dir / "u" / file));

  // Stopped by SIGINT in the 3rd epoch (32 batches of 64 an epoch), resumed by a new process's
  // worth of objects: a fresh model, optimizer and generator.
  Mlp stopped(2 * (32 + 1) + 10);  // (and a validation forward an epoch): batch 9 of epoch 3
  try {
    fit_classifier(stopped, train, val, (dir / "i").string(), false);
    FAIL("the run was not interrupted");
  } catch (const tg::train::Interrupted& e) {
    CHECK(e.signal() == SIGINT);
    CHECK_THAT(e.what(), Catch::Contains("SIGINT during epoch 3; the run is saved at batch 10 of epoch 3"));
  }
  Mlp resumed;
  const tg::train::FitResult rest = fit_classifier(resumed, train, val, (dir / "i").string(), true);
  CHECK(rest.stop_reason == full.stop_reason);
  CHECK(rest.steps == full.steps);
  REQUIRE(rest.history.size() == full.history.size());
  for (std::size_t k = 0; k < full.history.size(); ++k)
    CHECK(rest.history[k].at("val_loss") == full.history[k].at("val_loss"));
  const auto a = whole.state_dict(), b = resumed.state_dict();
  REQUIRE(a.size() == b.size());
  for (const auto& [name, t] : a) {
    INFO(name);
    CHECK(t.to_vector() == b.at(name).to_vector());  // bit for bit
  }
  // A finished run is not resumed again.
  Mlp again;
  CHECK_THROWS_WITH(fit_classifier(again, train, val, (dir / "i").string(), true),
                    Catch::Contains("has finished"));
  fs::remove_all(dir);
}

TEST_CASE("<tapegrad.hpp> reaches every public header", "[readme]") {
  namespace fs = std::filesystem;
  const fs::path include_dir = fs::path(TAPEGRAD_SOURCE_DIR) / "include";
  std::set<std::string> all, reached;
  for (const auto& entry : fs::recursive_directory_iterator(include_dir / "tapegrad"))
    if (entry.path().extension() == ".hpp") all.insert(fs::relative(entry.path(), include_dir).string());
  REQUIRE(all.size() > 30);
  // Follows the #include "tapegrad/..." lines from the umbrella header, transitively.
  const std::regex include_line(R"re(#include\s+"(tapegrad/[^"]+)")re");
  std::vector<std::string> pending{"tapegrad.hpp"};
  while (!pending.empty()) {
    const std::string header = pending.back();
    pending.pop_back();
    std::ifstream in(include_dir / header);
    REQUIRE(in);
    for (std::string line; std::getline(in, line);) {
      std::smatch m;
      if (std::regex_search(line, m, include_line) && reached.insert(m[1]).second) pending.push_back(m[1]);
    }
  }
  for (const std::string& header : all) {
    INFO(header << " is public but <tapegrad.hpp> does not include it");
    CHECK(reached.count(header) == 1);
  }
}

TEST_CASE("gradients and values print as tensors do", "[readme]") {
  const tg::Tensor x = tg::Tensor::from_vector({1, 2}, {2}).set_requires_grad();
  tg::sum(x * x).backward();
  std::ostringstream grad_text, value_text;
  grad_text << x.grad();
  const tg::Tensor d = tg::Tensor::from_vector({1, 2}, {2}, tg::DType::Float64);
  value_text << d.value<double>();
  CHECK(grad_text.str() == "tensor([2.0000, 4.0000], dtype=float32)");
  CHECK(value_text.str() == "tensor([1.0000, 2.0000], dtype=float64)");
}

TEST_CASE("README.md quotes every snippet of this file verbatim", "[readme]") {
  auto read = [](const std::string& path) {
    std::ifstream in(path);
    REQUIRE(in);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
  };
  const std::string readme = read(std::string(TAPEGRAD_SOURCE_DIR) + "/README.md");
  const std::string source = read(std::string(TAPEGRAD_SOURCE_DIR) + "/tests/test_readme.cpp");
  const std::string begin = "// README-" "BEGIN ", end = "// README-" "END";  // split: not markers
  std::size_t snippets = 0;
  for (std::size_t at = source.find(begin); at != std::string::npos; at = source.find(begin, at + 1)) {
    const std::size_t first = source.find('\n', at) + 1;
    std::size_t last = source.find(end, first);
    REQUIRE(last != std::string::npos);
    // Snippets inside a test case are indented by two: the README shows them flush left.
    last = source.rfind('\n', last) + 1;  // without the END marker's indentation
    std::string text = source.substr(first, last - first), flush;
    const bool indented = text.rfind("  ", 0) == 0;
    std::istringstream lines(text);
    for (std::string line; std::getline(lines, line);)
      flush += (indented && line.rfind("  ", 0) == 0 ? line.substr(2) : line) + "\n";
    INFO("snippet " << source.substr(at, first - at) << flush);
    CHECK(readme.find(flush) != std::string::npos);
    ++snippets;
  }
  CHECK(snippets == 8);
}
