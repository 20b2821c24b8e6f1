// baby_lm's training, the parts both modes share: set-up, checkpoints, samples, scores.
#include "baby_lm/train.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>

#include <fmt/format.h>

#include "common/limits.hpp"
#include "common/text.hpp"

namespace tg::baby_lm {

namespace fs = std::filesystem;

int train(const TrainOptions& options) {
  Session s = start_session(options);
  const tg::train::StopSignals signals;  // Ctrl-C stops at a batch boundary, state saved
  return options.stateful ? train_stateful(s) : train_windows(s);
}

tg::train::ResumeState resume_state(const Session& s) {
  tg::train::ResumeState state;
  state.set_run(kExampleName, s.options.started_args);
  state.put("model.", *s.model);
  state.put("optim.", *s.optimizer);
  state.put("rng.shuffle", s.gen);
  state.put("rng.dropout", const_cast<BabyLM&>(*s.model).dropout_generator());
  for (const auto& [key, value] : s.info.extra) state.put("extra." + key, value);
  return state;
}

void resume_session(Session& s, const tg::train::ResumeState& state) {
  state.get("model.", *s.model);
  state.get("optim.", *s.optimizer);
  state.get("rng.shuffle", s.gen);
  state.get("rng.dropout", s.model->dropout_generator());
  for (auto& [key, value] : s.info.extra)
    if (key != "seed" && key != "batch" && key != "lr" && key != "targets") value.clear();
  for (const char* key : {"epochs", "best_epoch", "best_loss", "best_val_bpc"}) {
    try {
      s.info.extra[key] = state.text(std::string("extra.") + key);
    } catch (const Error&) {
      s.info.extra.erase(key);  // not reached yet when the state was saved
    }
  }
}

Session start_session(const TrainOptions& options) {
  Session s;
  s.options = options;
  s.corpus = load_corpus(options.corpus);
  s.gen.manual_seed(options.seed);
  s.options.model.vocab = s.corpus.vocab.size();
  s.options.model.all_steps = options.stateful || !options.last_step_only;

  s.info.model = s.options.model;
  s.info.vocab = s.corpus.vocab;
  s.info.mode = options.stateful ? "stateful" : "window";
  s.info.window = options.window;
  s.info.bptt = options.bptt;
  s.info.corpus = options.corpus.string();
  s.info.extra["seed"] = std::to_string(options.seed);
  s.info.extra["batch"] = std::to_string(options.batch);
  s.info.extra["lr"] = fmt::format("{}", options.lr);
  if (!options.stateful)
    s.info.extra["targets"] = options.last_step_only ? "last step" : "every step";

  // Checks that need the corpus come before anything is created on disk.
  if (!options.stateful) window_count(s.corpus.ids.size(), options.window, options.corpus.string());
  else check_stateful(s.options, s.corpus);

  // Refused before anything is allocated: per batch the tape keeps about 6 floats per unit, layer
  // and step, and the logits twice.
  const double steps = double(options.stateful ? options.bptt : options.window);
  examples::check_training_memory(
      fmt::format("--units {} --layers {} --embed {}", options.model.units, options.model.layers,
                  options.model.embed),
      parameter_estimate(s.options.model),
      double(options.batch) * steps *
          (6.0 * double(options.model.units) * double(options.model.layers) +
           2.0 * double(s.options.model.vocab) + double(options.model.embed)));
  s.model = std::make_unique<BabyLM>(s.options.model, s.gen);
  optim::AdamOptions adam;
  adam.lr = options.lr;
  s.optimizer = std::make_unique<optim::Adam>(s.model->named_parameters(), adam);
  s.folder =
      tg::train::claim_run_dir(!options.resume.empty() ? options.resume
                               : options.out.empty()   ? tg::train::make_run_dir("runs/baby_lm")
                                                       : options.out,
                               !options.resume.empty() ? tg::train::RunDirUse::Resume
                               : options.overwrite     ? tg::train::RunDirUse::Overwrite
                                                       : tg::train::RunDirUse::New);
  s.run_dir = s.folder.path;
  tg::train::report_stale(s.folder);

  std::printf("corpus: %s (%zu lines, %zu characters, vocabulary of %zu: %s)\n",
              options.corpus.string().c_str(), s.corpus.lines, s.corpus.text.size(),
              s.corpus.vocab.size(), one_line(s.corpus.vocab.utf8()).c_str());
  std::printf("run folder: %s\n", s.run_dir.string().c_str());
  const Shape input = options.stateful ? Shape{options.batch, options.bptt}
                                       : Shape{options.batch, options.window};
  std::printf("%s", s.model->summary(input).c_str());
  std::fflush(stdout);
  return s;
}

void save_session(Session& s) {
  save_model((s.run_dir / "model.npz").string(), *s.model, s.optimizer.get(), &s.gen, s.info);
}

void print_samples(Session& s, const std::vector<std::string>& prompts, std::size_t length) {
  // A generator of its own: printing samples must not change the training's random stream.
  Generator gen(s.options.seed + 1);
  for (const std::string& prompt : prompts) {
    bool known = true;
    for (char32_t c : examples::decode_utf8(prompt)) known = known && s.corpus.vocab.contains(c);
    if (!known) {
      std::printf("(prompt \"%s\" skipped: it has characters outside the vocabulary)\n",
                  one_line(prompt).c_str());
      continue;
    }
    for (double temperature : {0.5, 1.0, 1.5}) {
      SamplingOptions o;
      o.temperature = temperature;
      const std::string text = generate(*s.model, s.corpus.vocab, prompt, length, o, gen);
      std::printf("  T=%.1f  %s\n", temperature, one_line(prompt + text).c_str());
    }
  }
  std::fflush(stdout);
}

double nats_to_bits(double nats) { return nats / std::log(2.0); }

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

LastStepScore score_last_steps(const Tensor& logits, const Indices& targets, std::size_t steps) {
  const Shape shape = logits.shape();
  const std::size_t rows = shape[0], v = shape[1];
  if (steps == 0 || rows % steps != 0 || targets.data.size() != rows)
    throw Error(fmt::format("score_last_steps: logits {} and {} targets for {} steps per window",
                            shape_str(shape), targets.data.size(), steps));
  const float* p = logits.value<float>().data();
  LastStepScore score;
  for (std::size_t r = steps - 1; r < rows; r += steps) {
    const float* row = p + r * v;
    const auto best = static_cast<std::size_t>(std::max_element(row, row + v) - row);
    double sum = 0;  // of exp(logit - max): the log-sum-exp without overflow
    for (std::size_t j = 0; j < v; ++j) sum += std::exp(double(row[j]) - row[best]);
    const auto target = static_cast<std::size_t>(targets.data[r]);
    if (target >= v) throw Error(fmt::format("score_last_steps: target {} of {} classes", target, v));
    score.loss_sum += std::log(sum) - (double(row[target]) - row[best]);
    score.correct += best == target;
    ++score.count;
  }
  return score;
}

}  // namespace tg::baby_lm
