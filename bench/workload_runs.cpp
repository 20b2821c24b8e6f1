// bench_recurrent's timed workloads a (baby_lm step), b (name_language epoch), c (LSTM grid) and
// d (generation at batch 1), measured as bench/pytorch_workloads.py measures PyTorch.
#include <fmt/format.h>

#include <algorithm>

#include "tapegrad/autograd/ops.hpp"
#include "tapegrad/autograd/tape.hpp"
#include "baby_lm/sample.hpp"
#include "workloads.hpp"

namespace tg::bench {

namespace {

Fields extra_steps(std::size_t steps) { return {{"steps_per_repeat", json_number(steps)}}; }

template <class F>
std::vector<double> map(const std::vector<double>& xs, F f) {
  std::vector<double> out;
  for (double x : xs) out.push_back(f(x));
  return out;
}

}  // namespace

void run_a(const Options& o) {
  const Timing t = per_step_seconds(baby_lm_trainer(), o.repeats, o.min_time, o.warmup_time);
  const auto windows = map(t.samples, [](double s) { return kBabyBatch / s; });
  const Fields config{{"batch", json_number(kBabyBatch)},
                      {"window", json_number(kBabyWindow)},
                      {"threads", json_number(o.threads)}};
  emit_metric("a", config, "windows_per_s", windows, "windows/s", "median",
              extra_steps(t.steps_per_repeat));
  emit_metric("a", config, "chars_per_s", map(windows, [](double w) { return w * kBabyWindow; }),
              "chars/s", "median", extra_steps(t.steps_per_repeat));
}

void run_b(const Options& o) {
  const NameData data = load_names(o.names_dir);
  if (data.pairs.empty()) {
    emit_names_skipped("b", o.names_dir);
    return;
  }
  const std::size_t n = data.pairs.size();
  std::vector<NameBatch> batches;
  for (std::size_t i = 0; i < n; i += kNamesBatch)
    batches.push_back(names_batch(data.pairs, i, std::min(n, i + kNamesBatch)));
  log(fmt::format("names: {} pairs, {} languages, {} batches", n, data.languages.size(),
                  batches.size()));
  NameClassifier model(data.languages.size());
  const std::size_t warmup = std::max<std::size_t>(2, batches.size() / 10);
  for (std::size_t i = 0; i < warmup && i < batches.size(); ++i) model.step(batches[i]);
  std::vector<double> epochs;
  for (int r = 0; r < o.repeats; ++r) {
    const double t0 = now_seconds();
    for (const NameBatch& batch : batches) model.step(batch);
    epochs.push_back(now_seconds() - t0);
  }
  const Fields config{{"batch", json_number(kNamesBatch)},
                      {"names", json_number(static_cast<double>(n))},
                      {"threads", json_number(o.threads)}};
  emit_metric("b", config, "names_per_s",
              map(epochs, [n](double e) { return static_cast<double>(n) / e; }), "names/s");
  emit_metric("b", config, "epoch_s", epochs, "s");
}

namespace {

// Workload c's grid: every combination, batch outermost and layers innermost, as
// pytorch_workloads.py's GRID and QUICK_GRID.
struct Grid {
  std::vector<std::size_t> batches, hiddens, seqs, layer_counts;
};
const Grid kGrid{{1, 32, 256}, {128, 512}, {15, 64}, {1, 2}};
const Grid kQuickGrid{{1, 32}, {128, 512}, {15}, {1}};

double lstm_step_flops(std::size_t batch, std::size_t hidden, std::size_t seq,
                       std::size_t layers) {
  return 3.0 * 2.0 * batch * (hidden + hidden) * 4.0 * hidden * seq * layers;
}

std::function<void()> grid_trainer(std::size_t batch, std::size_t hidden, std::size_t seq,
                                   std::size_t layers, Generator& gen) {
  nn::RecurrentOptions ro;
  ro.input_size = hidden;
  ro.hidden_size = hidden;
  ro.num_layers = layers;
  auto lstm = std::make_shared<nn::LSTM>(ro, gen);
  auto opt = std::make_shared<optim::SGD>(lstm->named_parameters(), optim::SGDOptions{1e-3});
  const Tensor x = Tensor::uniform({seq, batch, hidden}, -1, 1, DType::Float32, gen);
  const Tensor proj = Tensor::uniform({seq, batch, hidden}, -1, 1, DType::Float32, gen);
  return [lstm, opt, x, proj] {
    opt->zero_grad();
    const nn::RecurrentOutput out = lstm->forward(x, {});
    sum(out.output * proj).backward();
    opt->step();
  };
}

}  // namespace

void run_c(const Options& o) {
  const auto peaks = sgemm_gflops(std::max(5, o.repeats));
  const double peak = *std::max_element(peaks.begin(), peaks.end());
  Grid grid = o.quick ? kQuickGrid : kGrid;
  if (!o.grid_point.empty()) {
    const auto& gp = o.grid_point;  // parse() checked it holds 4 values
    grid = Grid{{gp[0]}, {gp[1]}, {gp[2]}, {gp[3]}};
  }
  Generator gen(0);
  for (std::size_t batch : grid.batches)
    for (std::size_t hidden : grid.hiddens)
      for (std::size_t seq : grid.seqs)
        for (std::size_t layers : grid.layer_counts) {
          const Timing t = per_step_seconds(grid_trainer(batch, hidden, seq, layers, gen),
                                            o.repeats, o.min_time / 2, o.warmup_time / 2);
          const double flops = lstm_step_flops(batch, hidden, seq, layers);
          const auto gflops = map(t.samples, [flops](double s) { return flops / s / 1e9; });
          const Fields config{{"batch", json_number(batch)},   {"hidden", json_number(hidden)},
                              {"seq", json_number(seq)},       {"layers", json_number(layers)},
                              {"threads", json_number(o.threads)}};
          const Fields extra = extra_steps(t.steps_per_repeat);
          emit_metric("c", config, "step_ms", map(t.samples, [](double s) { return s * 1e3; }),
                      "ms", "median", extra);
          emit_metric("c", config, "gflops", gflops, "GFLOP/s", "median", extra);
          Fields with_peak = extra;
          with_peak.push_back({"peak_gflops", json_number(peak)});
          emit_metric("c", config, "peak_fraction",
                      map(gflops, [peak](double g) { return g / peak; }),
                      "fraction of sgemm peak", "median", with_peak);
        }
}

namespace {

constexpr const char* kBabyChars = "\n abcdefghijklmnopqrstuvwxyz";
constexpr const char* kPrompt = "me want ";
constexpr std::size_t kGenChars = 200;
// Plain softmax sampling (temperature 1, no top-k / top-p), as PyTorch's torch.multinomial side.
const baby_lm::SamplingOptions kSampling{1.0, 0, 1.0};

}  // namespace

void run_d(const Options& o) {
  Generator init(0);
  baby_lm::BabyLM model(baby_config(), init);
  model.eval();
  Generator gen(2);
  std::vector<std::int64_t> prompt_ids;
  for (const char* c = kPrompt; *c; ++c)
    prompt_ids.push_back(std::string(kBabyChars).find(*c));
  const Indices prompt(prompt_ids, {1, prompt_ids.size()});
  std::string text;
  auto generate = [&] {
    NoGradGuard no_grad;
    baby_lm::LmOutput out = model.forward(prompt, {}, false);
    text.clear();
    const double t0 = now_seconds();
    for (std::size_t i = 0; i < kGenChars; ++i) {
      const auto token = static_cast<std::int64_t>(baby_lm::sample_token(
          out.logits.value().data(), out.logits.size(), kSampling, gen));
      text += kBabyChars[token];
      out = model.forward(Indices({token}, {1, 1}), out.state, false);
    }
    return now_seconds() - t0;
  };
  generate();  // warm-up
  std::vector<double> samples;
  for (int r = 0; r < o.repeats; ++r) {
    double spent = 0;
    std::size_t chars = 0;
    const double start = now_seconds();
    while (chars == 0 || now_seconds() - start < o.min_time / 2) {
      spent += generate();
      chars += kGenChars;
    }
    samples.push_back(spent / static_cast<double>(chars) * 1e6);
  }
  emit_metric("d", {{"chars", json_number(kGenChars)}, {"threads", json_number(o.threads)}},
              "us_per_char", samples, "us/char");
}

}  // namespace tg::bench
