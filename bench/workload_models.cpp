// bench_recurrent's models and data: the baby_lm seed model (a, d), the name classifier with
// its data pipeline (b) and the character Transformer (f), defined as in bench/pytorch_workloads.py.
#include <algorithm>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "tapegrad/autograd/ops.hpp"
#include "common/text.hpp"
#include "workloads.hpp"

namespace tg::bench {

// ---- baby_lm seed model ---------------------------------------------------------------------

baby_lm::ModelConfig baby_config() {
  baby_lm::ModelConfig c;
  c.vocab = kBabyVocab;
  c.embed = 32;
  c.units = 128;
  c.layers = 2;
  c.dropout = 0.2;
  return c;
}

std::function<void()> baby_lm_trainer() {
  Generator init(0);
  auto model = std::make_shared<baby_lm::BabyLM>(baby_config(), init);
  model->train();
  auto opt = std::make_shared<optim::Adam>(model->named_parameters(), optim::AdamOptions{1e-3});
  // A pool of 16 fixed pseudo-random batches: token values do not change the cost.
  Generator data(1);
  auto pool = std::make_shared<std::vector<std::pair<Indices, Indices>>>();
  for (int i = 0; i < 16; ++i) {
    std::vector<std::int64_t> x(kBabyBatch * kBabyWindow), y(kBabyBatch);
    for (auto& v : x) v = static_cast<std::int64_t>(data.below(kBabyVocab));
    for (auto& v : y) v = static_cast<std::int64_t>(data.below(kBabyVocab));
    pool->push_back({Indices(x, {kBabyBatch, kBabyWindow}), Indices(y)});
  }
  auto counter = std::make_shared<std::size_t>(0);
  return [model, opt, pool, counter] {
    const auto& [x, y] = (*pool)[(*counter)++ % pool->size()];
    opt->zero_grad();
    const Tensor loss = cross_entropy(model->forward(x, {}, false).logits, y);
    loss.backward();
    opt->step();
  };
}

// ---- character Transformer ------------------------------------------------------------------

namespace {

class CharTransformer : public nn::Module {
 public:
  explicit CharTransformer(Generator& gen) {
    emb_ = register_module("emb", std::make_shared<nn::Embedding>(kTfVocab, kTfDim, -1, gen));
    const nn::TransformerLayerOptions layer = nn::TransformerLayerOptions(kTfDim, kTfHeads)
                                                  .dim_feedforward(kTfFeedForward)
                                                  .dropout(0.1)
                                                  .batch_first(true)
                                                  .norm_first(true);
    encoder_ = register_module("encoder", std::make_shared<nn::TransformerEncoder>(
                                              layer, kTfLayers, /*final_norm=*/true, gen));
    head_ = register_module("head", std::make_shared<nn::Linear>(kTfDim, kTfVocab, true, gen));
  }
  std::string type_name() const override { return "CharTransformer"; }
  // ids [B, T] -> logits [B * T, vocab]
  Tensor forward(const Indices& ids) {
    const Tensor h = (*encoder_)(emb_->forward(ids), causal_);
    return reshape(head_->forward(h), {-1, static_cast<long>(kTfVocab)});
  }

 private:
  std::shared_ptr<nn::Embedding> emb_;
  std::shared_ptr<nn::TransformerEncoder> encoder_;
  std::shared_ptr<nn::Linear> head_;
  Tensor causal_ = nn::generate_square_subsequent_mask(kTfSeq);
};

}  // namespace

std::function<void()> char_transformer_trainer() {
  Generator init(0);
  auto model = std::make_shared<CharTransformer>(init);
  model->train();
  auto opt = std::make_shared<optim::Adam>(model->named_parameters(), optim::AdamOptions{1e-3});
  // A pool of 8 fixed pseudo-random batches of T + 1 tokens: input the first T, target the last T.
  Generator data(3);
  auto pool = std::make_shared<std::vector<std::pair<Indices, Indices>>>();
  for (int i = 0; i < 8; ++i) {
    std::vector<std::int64_t> x, y;
    for (std::size_t b = 0; b < kTfBatch; ++b) {
      std::vector<std::int64_t> row(kTfSeq + 1);
      for (auto& v : row) v = static_cast<std::int64_t>(data.below(kTfVocab));
      x.insert(x.end(), row.begin(), row.end() - 1);
      y.insert(y.end(), row.begin() + 1, row.end());
    }
    pool->push_back({Indices(x, {kTfBatch, kTfSeq}), Indices(y)});
  }
  auto counter = std::make_shared<std::size_t>(0);
  return [model, opt, pool, counter] {
    const auto& [x, y] = (*pool)[(*counter)++ % pool->size()];
    opt->zero_grad();
    const Tensor loss = cross_entropy(model->forward(x), y);
    loss.backward();
    opt->step();
  };
}

// ---- name_language --------------------------------------------------------------------------

NameBatch names_batch(const std::vector<NamePair>& pairs, std::size_t begin, std::size_t end) {
  const OneHotBatch b = one_hot_batch(pairs, begin, end);
  NameBatch out;
  out.x = Tensor::zeros({b.steps, b.batch, b.width});
  std::copy(b.x.begin(), b.x.end(), out.x.mutable_value().data());
  out.lengths = b.lengths;
  out.labels = Indices(b.labels);
  return out;
}

NameClassifier::NameClassifier(std::size_t labels) {
  Generator init(0);
  nn::RecurrentOptions o;
  o.input_size(examples::ascii_letters_vocabulary().size());
  o.hidden_size(128);
  lstm_ = std::make_shared<nn::LSTM>(o, init);
  fc_ = std::make_shared<nn::Linear>(128, labels, true, init);
  nn::NamedTensors params;
  for (const auto& [name, t] : lstm_->named_parameters()) params.push_back({"lstm." + name, t});
  for (const auto& [name, t] : fc_->named_parameters()) params.push_back({"fc." + name, t});
  opt_ = std::make_unique<optim::Adam>(params, optim::AdamOptions{1e-3});
}

void NameClassifier::step(const NameBatch& batch) {
  opt_->zero_grad();
  const nn::RecurrentOutput r = lstm_->forward(batch.x, {}, batch.lengths);
  const Tensor loss = cross_entropy(fc_->forward(r.last), batch.labels);
  loss.backward();
  opt_->step();
}

}  // namespace tg::bench
