// bench_recurrent's models and data: the baby_lm seed model (a, d) and the name classifier with
// its data pipeline (b), defined as in bench/pytorch_workloads.py.
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
