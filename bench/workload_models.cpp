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

namespace {

// Python's str.strip() for the whitespace these files can hold.
std::string strip(const std::string& s) {
  const char* ws = " \t\r\n\v\f";
  const std::size_t begin = s.find_first_not_of(ws);
  if (begin == std::string::npos) return "";
  return s.substr(begin, s.find_last_not_of(ws) + 1 - begin);
}

std::uint64_t splitmix64(std::uint64_t& state) {
  state += 0x9E3779B97F4A7C15ull;
  std::uint64_t z = state;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

}  // namespace

NameData load_names(const std::string& folder) {
  namespace fs = std::filesystem;
  NameData data;
  std::error_code ec;
  if (!fs::is_directory(folder, ec)) return data;
  std::vector<fs::path> files;
  for (const auto& entry : fs::directory_iterator(folder))
    if (entry.path().extension() == ".txt") files.push_back(entry.path());
  std::sort(files.begin(), files.end());
  std::set<std::pair<std::string, std::size_t>> seen;
  for (std::size_t label = 0; label < files.size(); ++label) {
    data.languages.push_back(files[label].stem().string());
    std::ifstream in(files[label], std::ios::binary);
    std::stringstream text;
    text << in.rdbuf();
    std::string line;
    while (std::getline(text, line)) {
      const std::string name = strip(line);
      if (name.empty() || !seen.insert({name, label}).second) continue;
      std::string folded = examples::fold_to_ascii(name);
      if (!folded.empty()) data.pairs.push_back({std::move(folded), label});
    }
  }
  std::uint64_t state = 0;
  for (std::size_t i = data.pairs.size(); i-- > 1;)
    std::swap(data.pairs[i], data.pairs[splitmix64(state) % (i + 1)]);
  return data;
}

NameBatch names_batch(const std::vector<NamePair>& pairs, std::size_t begin, std::size_t end) {
  std::vector<NamePair> chunk(pairs.begin() + static_cast<long>(begin),
                              pairs.begin() + static_cast<long>(end));
  std::stable_sort(chunk.begin(), chunk.end(), [](const NamePair& a, const NamePair& b) {
    return a.name.size() > b.name.size();
  });
  const std::string& alphabet = examples::ascii_letters_vocabulary();
  const std::size_t steps = chunk.front().name.size(), batch = chunk.size(), k = alphabet.size();
  NameBatch out;
  out.x = Tensor::zeros({steps, batch, k});
  float* x = out.x.value().data();
  std::vector<std::int64_t> labels;
  for (std::size_t b = 0; b < batch; ++b) {
    const std::string& name = chunk[b].name;
    for (std::size_t t = 0; t < name.size(); ++t)
      x[(t * batch + b) * k + alphabet.find(name[t])] = 1.0f;
    out.lengths.push_back(name.size());
    labels.push_back(static_cast<std::int64_t>(chunk[b].label));
  }
  out.labels = Indices(labels);
  return out;
}

NameClassifier::NameClassifier(std::size_t labels) {
  Generator init(0);
  nn::RecurrentOptions o;
  o.input_size = examples::ascii_letters_vocabulary().size();
  o.hidden_size = 128;
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
