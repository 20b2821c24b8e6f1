// libtorch_workloads: the libtorch C++ API's side of bench/compare_pytorch.py (workloads a-d, f and
// the peak, as bench/pytorch_workloads.py defines them; same flags and JSON lines, framework
// "libtorch"). Built only when CMake finds Torch; never needed by the tests.
//
// The thread count goes to at::set_num_threads; OpenBLAS (Debian's libtorch reaches it through
// libblas.so.3) and OpenMP read OPENBLAS_NUM_THREADS / OMP_NUM_THREADS when they load, so
// compare_pytorch.py sets those in the environment, as for PyTorch.
#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <stdexcept>
#include <string>

#include "bench_util.hpp"
#include "lines.hpp"
#include "names_data.hpp"

namespace tg::bench {
namespace {

constexpr const char* kBabyVocab = "\n abcdefghijklmnopqrstuvwxyz";
constexpr int64_t kVocab = 28, kBabyBatch = 32, kBabyWindow = 15, kNamesBatch = 64;
constexpr int64_t kPeakN = 2048, kGenChars = 200;

struct Args {
  std::string workload;
  int threads = 1;
  int repeats = 5;
  bool quick = false;
  std::string names_dir;
  double min_time = 1.0, warmup_time = 0.5;
};

// Workload (a)'s and (d)'s seed model.
struct BabyLMImpl : torch::nn::Module {
  torch::nn::Embedding emb{nullptr};
  torch::nn::LSTM lstm1{nullptr}, lstm2{nullptr};
  torch::nn::Dropout drop1{nullptr}, drop2{nullptr};
  torch::nn::Linear fc{nullptr};
  using State = std::tuple<torch::Tensor, torch::Tensor>;

  BabyLMImpl() {
    emb = register_module("emb", torch::nn::Embedding(kVocab, 32));
    lstm1 = register_module("lstm1", torch::nn::LSTM(torch::nn::LSTMOptions(32, 128).batch_first(true)));
    drop1 = register_module("drop1", torch::nn::Dropout(0.2));
    lstm2 = register_module("lstm2", torch::nn::LSTM(torch::nn::LSTMOptions(128, 128).batch_first(true)));
    drop2 = register_module("drop2", torch::nn::Dropout(0.2));
    fc = register_module("fc", torch::nn::Linear(128, kVocab));
  }
  // Logits of the last step, and both LSTMs' states.
  std::tuple<torch::Tensor, State, State> forward(const torch::Tensor& tokens,
                                                   torch::optional<State> s1 = {},
                                                   torch::optional<State> s2 = {}) {
    auto [seq1, state1] = lstm1->forward(emb->forward(tokens), s1);
    auto [seq2, state2] = lstm2->forward(drop1->forward(seq1), s2);
    const torch::Tensor last = seq2.select(1, seq2.size(1) - 1);
    return {fc->forward(drop2->forward(last)), state1, state2};
  }
};
TORCH_MODULE(BabyLM);

BabyLM make_baby_lm() {
  torch::manual_seed(0);
  return BabyLM();
}

void run_a(const Args& a) {
  BabyLM model = make_baby_lm();
  model->train();
  torch::optim::Adam opt(model->parameters(), torch::optim::AdamOptions(1e-3));
  auto gen = at::make_generator<at::CPUGeneratorImpl>(1);
  std::vector<std::pair<torch::Tensor, torch::Tensor>> pool;
  for (int i = 0; i < 16; ++i)
    pool.emplace_back(torch::randint(0, kVocab, {kBabyBatch, kBabyWindow}, gen, torch::kLong),
                      torch::randint(0, kVocab, {kBabyBatch}, gen, torch::kLong));
  std::size_t counter = 0;
  auto step = [&] {
    const auto& [x, y] = pool[counter++ % pool.size()];
    opt.zero_grad();
    const torch::Tensor loss = torch::nn::functional::cross_entropy(std::get<0>(model->forward(x)), y);
    loss.backward();
    opt.step();
  };
  const Timing t = per_step_seconds(step, a.repeats, a.min_time, a.warmup_time);
  std::vector<double> windows, chars;
  for (double s : t.samples) {
    windows.push_back(kBabyBatch / s);
    chars.push_back(kBabyBatch * kBabyWindow / s);
  }
  const Fields config{{"batch", json_number(kBabyBatch)}, {"window", json_number(kBabyWindow)},
                      {"threads", json_number(a.threads)}};
  const Fields extra{{"steps_per_repeat", json_number(double(t.steps_per_repeat))}};
  emit_metric("a", config, "windows_per_s", windows, "windows/s", "median", extra);
  emit_metric("a", config, "chars_per_s", chars, "chars/s", "median", extra);
}

struct NamesBatch {
  torch::Tensor x, lengths, labels;
};

void run_b(const Args& a) {
  const NameData data = load_names(a.names_dir);
  if (data.pairs.empty()) {
    emit_names_skipped("b", a.names_dir);
    return;
  }
  std::vector<NamesBatch> batches;
  const std::size_t n = data.pairs.size();
  for (std::size_t i = 0; i < n; i += kNamesBatch) {
    const OneHotBatch b = one_hot_batch(data.pairs, i, std::min<std::size_t>(n, i + kNamesBatch));
    std::vector<int64_t> lengths(b.lengths.begin(), b.lengths.end());
    std::vector<int64_t> labels(b.labels.begin(), b.labels.end());
    batches.push_back({torch::from_blob(const_cast<float*>(b.x.data()),
                                        {int64_t(b.steps), int64_t(b.batch), int64_t(b.width)})
                           .clone(),
                       torch::tensor(lengths, torch::kLong), torch::tensor(labels, torch::kLong)});
  }
  log("names: " + std::to_string(n) + " pairs, " + std::to_string(data.languages.size()) +
      " languages, " + std::to_string(batches.size()) + " batches");
  torch::manual_seed(0);
  torch::nn::LSTM lstm(torch::nn::LSTMOptions(int64_t(kNameAlphabetSize), 128));
  torch::nn::Linear fc(128, int64_t(data.languages.size()));
  std::vector<torch::Tensor> params = lstm->parameters();
  for (const auto& p : fc->parameters()) params.push_back(p);
  torch::optim::Adam opt(params, torch::optim::AdamOptions(1e-3));
  auto step = [&](const NamesBatch& b) {
    opt.zero_grad();
    const auto packed = torch::nn::utils::rnn::pack_padded_sequence(b.x, b.lengths);
    const auto out = lstm->forward_with_packed_input(packed);
    const torch::Tensor h = std::get<0>(std::get<1>(out));
    const torch::Tensor loss = torch::nn::functional::cross_entropy(fc->forward(h[-1]), b.labels);
    loss.backward();
    opt.step();
  };
  for (std::size_t i = 0; i < std::max<std::size_t>(2, batches.size() / 10); ++i) step(batches[i]);
  std::vector<double> epochs, rates;
  for (int r = 0; r < a.repeats; ++r) {
    const double t0 = now_seconds();
    for (const NamesBatch& b : batches) step(b);
    epochs.push_back(now_seconds() - t0);
    rates.push_back(double(n) / epochs.back());
  }
  const Fields config{{"batch", json_number(kNamesBatch)}, {"names", json_number(double(n))},
                      {"threads", json_number(a.threads)}};
  emit_metric("b", config, "names_per_s", rates, "names/s");
  emit_metric("b", config, "epoch_s", epochs, "s");
}

std::vector<double> peak_gflops(int samples) {
  const torch::Tensor x = torch::rand({kPeakN, kPeakN}) - 0.5, y = torch::rand({kPeakN, kPeakN}) - 0.5;
  torch::Tensor out = torch::mm(x, y);
  std::vector<double> result;
  for (int s = 0; s < samples; ++s) {
    const double t0 = now_seconds();
    torch::mm_out(out, x, y);
    result.push_back(2.0 * kPeakN * kPeakN * kPeakN / (now_seconds() - t0) / 1e9);
  }
  return result;
}

void run_c(const Args& a) {
  const auto peaks = peak_gflops(std::max(5, a.repeats));
  const double peak = *std::max_element(peaks.begin(), peaks.end());
  const std::vector<int64_t> batches = a.quick ? std::vector<int64_t>{1, 32}
                                               : std::vector<int64_t>{1, 32, 256};
  const std::vector<int64_t> seqs = a.quick ? std::vector<int64_t>{15} : std::vector<int64_t>{15, 64};
  const std::vector<int64_t> layer_counts = a.quick ? std::vector<int64_t>{1}
                                                    : std::vector<int64_t>{1, 2};
  torch::manual_seed(0);
  for (int64_t batch : batches)
    for (int64_t hidden : {128, 512})
      for (int64_t seq : seqs)
        for (int64_t layers : layer_counts) {
          torch::nn::LSTM lstm(torch::nn::LSTMOptions(hidden, hidden).num_layers(layers));
          torch::optim::SGD opt(lstm->parameters(), torch::optim::SGDOptions(1e-3));
          const torch::Tensor x = torch::rand({seq, batch, hidden}) * 2 - 1;
          const torch::Tensor proj = torch::rand({seq, batch, hidden}) * 2 - 1;
          auto step = [&] {
            opt.zero_grad();
            const torch::Tensor out = std::get<0>(lstm->forward(x));
            (out * proj).sum().backward();
            opt.step();
          };
          const Timing t = per_step_seconds(step, a.repeats, a.min_time / 2, a.warmup_time / 2);
          const double flops = 3.0 * 2.0 * batch * (hidden + hidden) * 4.0 * hidden * seq * layers;
          std::vector<double> ms, gflops, fraction;
          for (double s : t.samples) {
            ms.push_back(s * 1e3);
            gflops.push_back(flops / s / 1e9);
            fraction.push_back(gflops.back() / peak);
          }
          const Fields config{{"batch", json_number(double(batch))},
                              {"hidden", json_number(double(hidden))},
                              {"seq", json_number(double(seq))},
                              {"layers", json_number(double(layers))},
                              {"threads", json_number(a.threads)}};
          const Fields extra{{"steps_per_repeat", json_number(double(t.steps_per_repeat))}};
          emit_metric("c", config, "step_ms", ms, "ms", "median", extra);
          emit_metric("c", config, "gflops", gflops, "GFLOP/s", "median", extra);
          Fields with_peak = extra;
          with_peak.push_back({"peak_gflops", json_number(peak)});
          emit_metric("c", config, "peak_fraction", fraction, "fraction of sgemm peak", "median",
                      with_peak);
        }
}

void run_d(const Args& a) {
  BabyLM model = make_baby_lm();
  model->eval();
  auto gen = at::make_generator<at::CPUGeneratorImpl>(2);
  std::vector<int64_t> ids;
  for (const char* c = "me want "; *c; ++c) ids.push_back(std::string(kBabyVocab).find(*c));
  const torch::Tensor prompt = torch::tensor(ids, torch::kLong).unsqueeze(0);
  auto generate = [&] {
    torch::NoGradGuard no_grad;
    auto [logits, s1, s2] = model->forward(prompt);
    std::string text;
    const double t0 = now_seconds();
    for (int64_t i = 0; i < kGenChars; ++i) {
      const torch::Tensor token = torch::multinomial(torch::softmax(logits, -1), 1, false, gen);
      text += kBabyVocab[token.item<int64_t>()];
      std::tie(logits, s1, s2) = model->forward(token, s1, s2);
    }
    return now_seconds() - t0;
  };
  generate();  // warm-up
  std::vector<double> samples;
  for (int r = 0; r < a.repeats; ++r) {
    double spent = 0;
    int64_t chars = 0;
    const double start = now_seconds();
    while (chars == 0 || now_seconds() - start < a.min_time / 2) {
      spent += generate();
      chars += kGenChars;
    }
    samples.push_back(spent / double(chars) * 1e6);
  }
  emit_metric("d", {{"chars", json_number(kGenChars)}, {"threads", json_number(a.threads)}},
              "us_per_char", samples, "us/char");
}

// Workload (f): the character Transformer of pytorch_workloads.py.
constexpr int64_t kTfVocab = 64, kTfBatch = 32, kTfSeq = 64, kTfDim = 128, kTfHeads = 4,
                  kTfFeedForward = 512, kTfLayers = 2;

// One pre-LN TransformerEncoderLayer (PyTorch's norm_first=True), sequence first.
struct PreLNImpl : torch::nn::Module {
  torch::nn::MultiheadAttention self_attn{nullptr};
  torch::nn::Linear linear1{nullptr}, linear2{nullptr};
  torch::nn::LayerNorm norm1{nullptr}, norm2{nullptr};
  torch::nn::Dropout dropout{nullptr}, dropout1{nullptr}, dropout2{nullptr};
  PreLNImpl() {
    self_attn = register_module("self_attn", torch::nn::MultiheadAttention(
        torch::nn::MultiheadAttentionOptions(kTfDim, kTfHeads).dropout(0.1)));
    linear1 = register_module("linear1", torch::nn::Linear(kTfDim, kTfFeedForward));
    linear2 = register_module("linear2", torch::nn::Linear(kTfFeedForward, kTfDim));
    norm1 = register_module("norm1", torch::nn::LayerNorm(torch::nn::LayerNormOptions({kTfDim})));
    norm2 = register_module("norm2", torch::nn::LayerNorm(torch::nn::LayerNormOptions({kTfDim})));
    dropout = register_module("dropout", torch::nn::Dropout(0.1));
    dropout1 = register_module("dropout1", torch::nn::Dropout(0.1));
    dropout2 = register_module("dropout2", torch::nn::Dropout(0.1));
  }
  // x [T, B, E] (libtorch's MultiheadAttention is sequence-first).
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& mask) {
    const torch::Tensor y = norm1->forward(x);
    torch::Tensor h = x + dropout1->forward(std::get<0>(self_attn->forward(
                              y, y, y, /*key_padding_mask=*/{}, /*need_weights=*/false, mask)));
    return h + dropout2->forward(linear2->forward(
                   dropout->forward(torch::relu(linear1->forward(norm2->forward(h))))));
  }
};
TORCH_MODULE(PreLN);

struct CharTransformerImpl : torch::nn::Module {
  torch::nn::Embedding emb{nullptr};
  torch::nn::Linear head{nullptr};
  torch::Tensor causal;

  CharTransformerImpl() {
    emb = register_module("emb", torch::nn::Embedding(kTfVocab, kTfDim));
    // libtorch 1.13's TransformerEncoderLayer has no norm_first (it is post-LN): the pre-LN
    // layer is written out from its modules, as PyTorch's forward does.
    for (int64_t i = 0; i < kTfLayers; ++i) {
      layers.push_back(register_module("layer" + std::to_string(i), PreLN()));
    }
    norm = register_module("norm", torch::nn::LayerNorm(torch::nn::LayerNormOptions({kTfDim})));
    head = register_module("head", torch::nn::Linear(kTfDim, kTfVocab));
    causal = register_buffer("causal", torch::triu(torch::full({kTfSeq, kTfSeq}, -INFINITY), 1));
  }
  std::vector<PreLN> layers;
  torch::nn::LayerNorm norm{nullptr};

  // ids [B, T] -> logits [B * T, vocab]
  torch::Tensor forward(const torch::Tensor& ids) {
    torch::Tensor x = emb->forward(ids).transpose(0, 1);  // [T, B, E]
    for (auto& layer : layers) x = layer->forward(x, causal);
    return head->forward(norm->forward(x).transpose(0, 1)).reshape({-1, kTfVocab});
  }
};
TORCH_MODULE(CharTransformer);

void run_f(const Args& a) {
  torch::manual_seed(0);
  CharTransformer model;
  model->train();
  torch::optim::Adam opt(model->parameters(), torch::optim::AdamOptions(1e-3));
  auto gen = at::make_generator<at::CPUGeneratorImpl>(3);
  std::vector<torch::Tensor> pool;
  for (int i = 0; i < 8; ++i)
    pool.push_back(torch::randint(0, kTfVocab, {kTfBatch, kTfSeq + 1}, gen, torch::kLong));
  std::size_t counter = 0;
  auto step = [&] {
    const torch::Tensor& ids = pool[counter++ % pool.size()];
    opt.zero_grad();
    const torch::Tensor logits = model->forward(ids.slice(1, 0, kTfSeq));
    const torch::Tensor loss =
        torch::nn::functional::cross_entropy(logits, ids.slice(1, 1).reshape({-1}));
    loss.backward();
    opt.step();
  };
  const Timing t = per_step_seconds(step, a.repeats, a.min_time, a.warmup_time);
  std::vector<double> ms, tokens;
  for (double s : t.samples) {
    ms.push_back(s * 1e3);
    tokens.push_back(double(kTfBatch * kTfSeq) / s);
  }
  const Fields config{{"batch", json_number(kTfBatch)}, {"seq", json_number(kTfSeq)},
                      {"d_model", json_number(kTfDim)}, {"layers", json_number(kTfLayers)},
                      {"threads", json_number(a.threads)}};
  const Fields extra{{"steps_per_repeat", json_number(double(t.steps_per_repeat))}};
  emit_metric("f", config, "step_ms", ms, "ms", "median", extra);
  emit_metric("f", config, "tokens_per_s", tokens, "tokens/s", "median", extra);
}

void run_peak(const Args& a) {
  emit_metric("peak", {{"n", json_number(kPeakN)}, {"threads", json_number(a.threads)}},
              "sgemm_gflops", peak_gflops(std::max(5, a.repeats)), "GFLOP/s", "max");
}

Args parse(int argc, char** argv) {
  Args a;
  a.names_dir = TAPEGRAD_SOURCE_DIR "/../shared/data/names";
  int repeats = -1;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) throw std::invalid_argument(arg + " needs a value");
      return argv[++i];
    };
    if (arg == "--workload") a.workload = value();
    else if (arg == "--threads") a.threads = std::stoi(value());
    else if (arg == "--repeats") repeats = std::stoi(value());
    else if (arg == "--quick") a.quick = true;
    else if (arg == "--names-dir") a.names_dir = value();
    else throw std::invalid_argument("unknown argument " + arg);
  }
  if (a.workload != "a" && a.workload != "b" && a.workload != "c" && a.workload != "d" &&
      a.workload != "f" && a.workload != "peak")
    throw std::invalid_argument("--workload must be one of a, b, c, d, f, peak");
  if (a.threads < 1) throw std::invalid_argument("--threads must be at least 1");
  const RunLength length = run_length(repeats, a.quick);
  a.repeats = length.repeats;
  a.min_time = length.min_time;
  a.warmup_time = length.warmup_time;
  return a;
}

}  // namespace
}  // namespace tg::bench

int main(int argc, char** argv) {
  using namespace tg::bench;
  set_framework("libtorch");
  try {
    const Args a = parse(argc, argv);
    at::set_num_threads(a.threads);
    emit({{"framework", json_string("libtorch")},
          {"info", json_object({{"workload", json_string(a.workload)},
                                {"threads", json_number(a.threads)},
                                {"torch", json_string(TORCH_VERSION)},
                                {"parallel", json_string(at::get_parallel_info())}})}});
    if (a.workload == "a") run_a(a);
    else if (a.workload == "b") run_b(a);
    else if (a.workload == "c") run_c(a);
    else if (a.workload == "d") run_d(a);
    else if (a.workload == "f") run_f(a);
    else run_peak(a);
  } catch (const std::invalid_argument& e) {
    std::fprintf(stderr, "libtorch_workloads: %s\nusage: libtorch_workloads --workload "
                         "a|b|c|d|f|peak [--threads N] [--repeats N] [--quick] [--names-dir DIR]\n",
                 e.what());
    return 2;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "libtorch_workloads: error: %s\n", e.what());
    return 1;
  }
  return 0;
}
