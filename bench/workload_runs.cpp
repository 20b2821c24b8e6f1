// bench_recurrent's timed workloads a (baby_lm step), b (name_language epoch), c (LSTM grid),
// d (generation at batch 1) and f (character Transformer step), measured as
// bench/pytorch_workloads.py measures PyTorch.
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

// A training step's matrix products: forward, and backward's two products per forward one.
double lstm_flops(std::size_t rows, std::size_t in, std::size_t hidden) {
  return 3.0 * 2.0 * rows * (in + hidden) * 4.0 * hidden;
}

double peak_of(const Options& o) {
  const auto peaks = sgemm_gflops(std::max(5, o.repeats));
  return *std::max_element(peaks.begin(), peaks.end());
}

}  // namespace

void emit_gflops(const std::string& workload, const Fields& config,
                 const std::vector<double>& seconds, double flops, double peak,
                 const Fields& extra) {
  const auto gflops = map(seconds, [flops](double s) { return flops / s / 1e9; });
  emit_metric(workload, config, "gflops", gflops, "GFLOP/s", "median", extra);
  Fields with_peak = extra;
  with_peak.push_back({"peak_gflops", json_number(peak)});
  emit_metric(workload, config, "peak_fraction", map(gflops, [peak](double g) { return g / peak; }),
              "fraction of sgemm peak", "median", with_peak);
}

void run_a(const Options& o) {
  const double peak = o.report_gflops ? peak_of(o) : 0;
  const Timing t = per_step_seconds(baby_lm_trainer(), o.repeats, o.min_time, o.warmup_time);
  const auto windows = map(t.samples, [](double s) { return kBabyBatch / s; });
  const Fields config{{"batch", json_number(kBabyBatch)},
                      {"window", json_number(kBabyWindow)},
                      {"threads", json_number(o.threads)}};
  emit_metric("a", config, "windows_per_s", windows, "windows/s", "median",
              extra_steps(t.steps_per_repeat));
  emit_metric("a", config, "chars_per_s", map(windows, [](double w) { return w * kBabyWindow; }),
              "chars/s", "median", extra_steps(t.steps_per_repeat));
  if (o.report_gflops) {  // the two LSTMs over every step, the Linear at the last
    const baby_lm::ModelConfig c = baby_config();
    const std::size_t rows = kBabyBatch * kBabyWindow;
    const double flops = lstm_flops(rows, c.embed, c.units) + lstm_flops(rows, c.units, c.units) +
                         3.0 * 2.0 * kBabyBatch * c.units * c.vocab;
    emit_gflops("a", config, t.samples, flops, peak, extra_steps(t.steps_per_repeat));
  }
}

void run_f(const Options& o) {
  const Timing t = per_step_seconds(char_transformer_trainer(), o.repeats, o.min_time, o.warmup_time);
  const Fields config{{"batch", json_number(kTfBatch)}, {"seq", json_number(kTfSeq)},
                      {"d_model", json_number(kTfDim)}, {"layers", json_number(kTfLayers)},
                      {"threads", json_number(o.threads)}};
  emit_metric("f", config, "step_ms", map(t.samples, [](double s) { return s * 1e3; }), "ms",
              "median", extra_steps(t.steps_per_repeat));
  emit_metric("f", config, "tokens_per_s",
              map(t.samples, [](double s) { return double(kTfBatch * kTfSeq) / s; }), "tokens/s",
              "median", extra_steps(t.steps_per_repeat));
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
  const double peak = o.report_gflops ? peak_of(o) : 0;
  double flops = 0;  // the LSTM over every padded step of every batch, the Linear once a batch
  for (const NameBatch& batch : batches) {
    const Shape s = batch.x.shape();  // [T, B, 57]
    flops += lstm_flops(s[0] * s[1], s[2], 128) + 3.0 * 2.0 * s[1] * 128 * data.languages.size();
  }
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
  if (o.report_gflops) emit_gflops("b", config, epochs, flops, peak);
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
  ro.input_size(hidden);
  ro.hidden_size(hidden);
  ro.num_layers(layers);
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
  const double peak = peak_of(o);
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
          const Fields config{{"batch", json_number(batch)},   {"hidden", json_number(hidden)},
                              {"seq", json_number(seq)},       {"layers", json_number(layers)},
                              {"threads", json_number(o.threads)}};
          Fields extra = extra_steps(t.steps_per_repeat);
          // For bench/onednn_breakdown.py, which divides oneDNN's timings by the steps run.
          extra.push_back({"steps_run", json_number(t.warmup_steps + t.samples.size() * t.steps_per_repeat)});
          emit_metric("c", config, "step_ms", map(t.samples, [](double s) { return s * 1e3; }),
                      "ms", "median", extra);
          emit_gflops("c", config, t.samples, flops, peak, extra);
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
