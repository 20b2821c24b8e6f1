// The model-building API: optimizers from plain tensor lists, option builders, operator() for
// custom forward signatures, Shape overloads, printing tensors, summary() of any tree, freezing,
// and tg::data (pad_batch, seeded batches).
#include <catch2/catch.hpp>

#include <sstream>

#include "tapegrad/autograd/ops.hpp"
#include "tapegrad/nn/data.hpp"
#include "tapegrad/nn/nn.hpp"
#include "tapegrad/optim/optimizers.hpp"

using namespace tg;

namespace {

std::string printed(const Tensor& t) {
  std::ostringstream out;
  out << t;
  return out.str();
}

// A user model whose forward takes token ids, not a Tensor: Forwarding gives it operator().
class Classifier : public nn::Forwarding<Classifier> {
 public:
  Classifier() {
    embedding_ = register_module("embedding", std::make_shared<nn::Embedding>(nn::EmbeddingOptions(10, 4).padding_idx(0)));
    norm_ = register_module("norm", std::make_shared<nn::LayerNorm>(nn::LayerNormOptions({4})));
    head_ = register_module("head", std::make_shared<nn::Linear>(nn::LinearOptions(4, 3).bias(false)));
  }
  std::string type_name() const override { return "Classifier"; }
  Tensor forward(const Indices& ids) { return head_->forward(mean(norm_->forward(embedding_->forward(ids)), {0})); }
  using Module::forward;

 private:
  std::shared_ptr<nn::Embedding> embedding_;
  std::shared_ptr<nn::LayerNorm> norm_;
  std::shared_ptr<nn::Linear> head_;
};

}  // namespace

TEST_CASE("optimizers take a plain list of tensors", "[api][optim]") {
  const Tensor w = Tensor::ones({2}, DType::Float32, true);
  const Tensor b = Tensor::ones({1}, DType::Float32, true);
  optim::SGD sgd(std::vector<Tensor>{w, b}, optim::SGDOptions{0.5});
  sum(w * 2.0).backward();
  sgd.step();
  CHECK(w.to_vector() == std::vector<double>{0.0, 0.0});
  CHECK(b.to_vector() == std::vector<double>{1.0});  // no gradient: untouched
  optim::Adam adam({w, b});
  CHECK(adam.param_groups().at(0).params.at(1).first == "1");  // named by position
  Classifier model;
  optim::AdamW adamw(model.parameters());
  CHECK(adamw.param_groups().at(0).params.size() == model.parameters().size());
}

TEST_CASE("chaining option builders build every layer", "[api][nn]") {
  nn::LSTM lstm(nn::LSTMOptions(3, 5).num_layers(2).bidirectional(true).batch_first(true));
  CHECK(lstm.options().num_layers() == 2);
  CHECK(lstm.options().bidirectional());
  CHECK(lstm.options().batch_first());
  nn::RecurrentOptions set_one_by_one;
  set_one_by_one.input_size(3);
  set_one_by_one.hidden_size(2);
  CHECK(nn::GRU(set_one_by_one).options().hidden_size() == 2);
  CHECK(nn::Linear(nn::LinearOptions(4, 3).bias(false)).bias().defined() == false);
  CHECK(nn::Embedding(nn::EmbeddingOptions(5, 2).padding_idx(1)).padding_idx() == 1);
  nn::LayerNorm ln(nn::LayerNormOptions({4}).elementwise_affine(false).eps(1e-3));
  CHECK(ln.parameters().empty());
  CHECK(ln.options().eps() == 1e-3);
}

TEST_CASE("operator() forwards a custom forward signature and summary lists any tree", "[api][nn]") {
  Classifier model;
  const Tensor logits = model(Indices({1, 2, 3, 4, 5, 6}, {3, 2}));
  CHECK(logits.shape() == Shape{2, 3});
  // Not a chain (forward takes ids and averages over time): summary still lists every layer.
  const std::string table = model.summary();
  INFO(table);
  CHECK_THAT(table, Catch::Contains("embedding (Embedding)") && Catch::Contains("norm (LayerNorm)") &&
                        Catch::Contains("head (Linear)") && Catch::Contains("?") &&
                        Catch::Contains("Total params: 60"));
  // Two heads on one input are not a chain: the second head's shape is unknown, not an error.
  struct TwoHeads : nn::Module {
    TwoHeads() {
      register_module("a", std::make_shared<nn::Linear>(4, 8));
      register_module("b", std::make_shared<nn::Linear>(4, 2));
    }
    std::string type_name() const override { return "TwoHeads"; }
  };
  const std::string heads = TwoHeads().summary({1, 4});
  INFO(heads);
  CHECK_THAT(heads, Catch::Contains("[1,8]") && Catch::Contains("b (Linear)") && Catch::Contains("?"));
  // With an input shape, known shapes are shown as far as the chain goes.
  const std::string shaped = nn::Sequential({std::make_shared<nn::Linear>(4, 2), std::make_shared<nn::Tanh>()}).summary({8, 4});
  CHECK_THAT(shaped, Catch::Contains("[8,2]") && !Catch::Contains("?"));
}

TEST_CASE("set_requires_grad freezes a module tree", "[api][nn]") {
  Classifier model;
  model.set_requires_grad(false);
  CHECK(model.trainable_parameter_count() == 0);
  for (const Tensor& p : model.parameters()) CHECK_FALSE(p.requires_grad());
  CHECK_FALSE(model(Indices({1, 2}, {2, 1})).requires_grad());
  model.set_requires_grad(true);
  CHECK(model.trainable_parameter_count() == model.parameter_count());
}

TEST_CASE("reshape takes a Shape as well as a long list", "[api][ops]") {
  const Tensor x = Tensor::zeros({2, 6});
  const Shape target{3, 4};
  CHECK(reshape(x, target).shape() == target);
  CHECK(reshape(x, {4, -1}).shape() == Shape{4, 3});  // braced lists still pick the long overload
}

TEST_CASE("tensors print as PyTorch, abbreviated as NumPy", "[api][tensor]") {
  CHECK(printed(Tensor::from_vector({1, 2.5, -3, 4}, {2, 2})) ==
        "tensor([[1.0000, 2.5000],\n        [-3.0000, 4.0000]], dtype=float32)");
  CHECK(printed(Tensor::scalar(2, DType::Float64)) == "tensor(2.0000, dtype=float64)");
  CHECK(printed(Tensor::ones({2}, DType::Float32, true)) == "tensor([1.0000, 1.0000], dtype=float32, requires_grad=True)");
  const std::string big = printed(Tensor::zeros({1001}));
  CHECK(big == "tensor([0.0000, 0.0000, 0.0000, ..., 0.0000, 0.0000, 0.0000], shape=[1001], dtype=float32)");
  const std::string rows = printed(Tensor::zeros({100, 20}));
  CHECK(std::count(rows.begin(), rows.end(), '\n') == 6);  // 3 + 3 rows and the "..." line
  CHECK(printed(Tensor()) == "tensor(undefined)");
}

TEST_CASE("pad_batch gives ids, lengths and a padding mask", "[api][data]") {
  const data::PaddedBatch b = data::pad_batch({{5, 6, 7}, {8}, {}}, -1);
  CHECK(b.ids.shape == Shape{3, 3});  // time-major
  CHECK(b.ids.data == std::vector<std::int64_t>{5, 8, -1, 6, -1, -1, 7, -1, -1});
  CHECK(b.lengths == std::vector<std::size_t>{3, 1, 0});
  CHECK(b.mask.to_vector() == std::vector<double>{0, 0, 0, 0, 1, 1, 1, 1, 1});
  const data::PaddedBatch f = data::pad_batch({{1, 2}, {3}}, 0, true);
  CHECK(f.ids.data == std::vector<std::int64_t>{1, 2, 3, 0});
  CHECK_THROWS_WITH(data::pad_batch({}), Catch::Contains("no sequences"));
}

TEST_CASE("shuffled_batches are a seeded partition", "[api][data]") {
  Generator a(3), b(3);
  const auto batches = data::shuffled_batches(10, 4, a);
  CHECK(batches == data::shuffled_batches(10, 4, b));
  REQUIRE(batches.size() == 3);
  CHECK(batches[2].size() == 2);
  std::vector<std::size_t> all;
  for (const auto& batch : batches) all.insert(all.end(), batch.begin(), batch.end());
  std::sort(all.begin(), all.end());
  CHECK(all == std::vector<std::size_t>{0, 1, 2, 3, 4, 5, 6, 7, 8, 9});
  CHECK(data::shuffled_batches(10, 4, a, true).size() == 2);
  CHECK(data::shuffled_batches(10, 4, a) != batches);  // the next epoch differs
}
