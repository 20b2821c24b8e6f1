// baby_lm's training, the parts both modes share: set-up, checkpoints, samples, scores.
#include "baby_lm/train.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <sstream>

#include <fmt/format.h>

#include <tapegrad/train/parallel.hpp>
#include <tapegrad/train/resume.hpp>

#include "common/limits.hpp"
#include "common/text.hpp"

namespace tg::baby_lm {

namespace fs = std::filesystem;

FlagValues stateful_budget_defaults(double time_limit, bool bf16) {
  // Pairs of runs at one budget place the switches. In bf16 (AMD Zen 5): 256 and 512 units tie
  // at 150 s, and from 450 s the 512-unit model overfits a 1 MB text where 768 units with
  // dropout 0.4 do not. In float32 (AMD Zen 3, no bf16 units) the 512-unit model read 3,480
  // characters a second against bf16's 9,000-12,950 (one thread each), and 256 units beat it at
  // 300 s (2.21 against 2.34 bits/char), 128 units beat 256 at 60 s (2.55 against 2.79).
  const double scale = bf16 ? 1 : kFloat32Slowdown;
  if (time_limit > 0 && !bf16 && time_limit < kNarrowBudgetSeconds * scale)
    return {{"--units", "128"}};
  if (time_limit > 0 && time_limit < kShortBudgetSeconds * scale) return {{"--units", "256"}};
  if (time_limit >= kLongBudgetSeconds * scale) return {{"--units", "768"}, {"--dropout", "0.4"}};
  return {{"--units", "512"}};
}

FlagValues stateful_defaults(double time_limit, bool bf16) {
  FlagValues flags = stateful_budget_defaults(time_limit, bf16);
  flags.insert(flags.end(), {{"--embed", "64"},
                             {"--lr", "0.002"},
                             {"--schedule", "cosine"},
                             {"--warmup", "100"},
                             {"--precision", "auto"}});
  return flags;
}

int train(const TrainOptions& options) {
  Session s = start_session(options);
  return options.stateful ? train_stateful(s) : train_windows(s);
}

Session start_session(const TrainOptions& options) {
  Session s;
  s.options = options;
  s.corpus = load_corpus(options.corpus, options.max_vocab);
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
  s.info.extra["schedule"] = examples::describe(options.schedule);
  s.info.extra["weight_decay"] = fmt::format("{}", options.weight_decay);
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
  if (options.weight_decay > 0) {
    optim::AdamWOptions adamw;
    adamw.lr = options.lr;
    adamw.weight_decay = options.weight_decay;
    s.optimizer = std::make_unique<optim::AdamW>(s.model->named_parameters(), adamw);
  } else {
    optim::AdamOptions adam;
    adam.lr = options.lr;
    s.optimizer = std::make_unique<optim::Adam>(s.model->named_parameters(), adam);
  }
  return s;
}

tg::train::TrainerOptions trainer_options(Session& s) {
  const TrainOptions& o = s.options;
  tg::train::Fingerprint read;
  read.add(std::string_view(reinterpret_cast<const char*>(s.corpus.text.data()),
                            s.corpus.text.size() * sizeof(char32_t)));
  tg::train::TrainerOptions options =
      examples::trainer_options(o.run, kExampleName)
          .same_data(examples::data_facts(
              o.corpus.string(),
              fmt::format("{} lines, {} characters", s.corpus.lines, s.corpus.text.size()), read))
          .max_epochs(o.epochs)
          .metrics_file("")
          .curves_file("");
  s.run_dir = options.run_dir();
  std::printf("corpus: %s (%zu lines, %zu characters, vocabulary of %zu: %s)\n",
              o.corpus.string().c_str(), s.corpus.lines, s.corpus.text.size(),
              s.corpus.vocab.size(), vocabulary_summary(s.corpus.vocab).c_str());
  std::printf("run folder: %s\n", s.run_dir.string().c_str());
  const Shape input = o.stateful ? Shape{o.batch, o.bptt} : Shape{o.batch, o.window};
  std::printf("%s", s.model->summary(input).c_str());
  std::fflush(stdout);
  return options;
}

std::shared_ptr<tg::train::EarlyStopping> early_stopping(const Session& s,
                                                         const std::string& monitor) {
  return std::make_shared<tg::train::EarlyStopping>(
      tg::train::EarlyStoppingOptions(monitor).mode(tg::train::Mode::Min).patience(
          s.options.patience));
}

void save_session(Session& s) {
  if (!tg::train::parallel().is_root()) return;
  save_model((s.run_dir / "model.npz").string(), *s.model, s.optimizer.get(), &s.gen, s.info);
}

BestModel::BestModel(Session& session, const std::string& monitor, Facts facts)
    : s_(session), best_(monitor, tg::train::Mode::Min), facts_(std::move(facts)) {}

void BestModel::on_validation_end(tg::train::Trainer& trainer, const tg::train::Logs& logs) {
  const std::size_t epoch = trainer.epoch() + 1;
  s_.info.extra["epochs"] = std::to_string(epoch);
  improved_ = best_.improves(logs);
  if (!improved_) return;
  best_.take(logs, epoch);
  for (const auto& [key, value] : facts_(logs, epoch)) s_.info.extra[key] = value;
  save_session(s_);
}

// The run's facts so far go with the resume point: the final model.npz holds them.
void BestModel::save(const tg::train::Trainer&, tg::train::ResumeState& state,
                     const std::string& prefix) const {
  best_.save(state, prefix);
  std::string keys;
  for (const auto& [key, value] : s_.info.extra) {
    keys += key + "\n";
    state.put(prefix + "extra." + key, value);
  }
  state.put(prefix + "extra", keys);
}

void BestModel::load(tg::train::Trainer&, const tg::train::ResumeState& state,
                     const std::string& prefix) {
  best_.load(state, prefix);
  s_.info.extra.clear();
  std::istringstream keys(state.text(prefix + "extra"));
  for (std::string key; std::getline(keys, key);)
    s_.info.extra[key] = state.text(prefix + "extra." + key);
}

namespace {

std::vector<tg::train::CsvLogger::Column> same_names(const std::vector<std::string>& keys) {
  std::vector<tg::train::CsvLogger::Column> columns;
  for (const std::string& key : keys) columns.push_back({key, key});
  return columns;
}

}  // namespace

IntervalCsv::IntervalCsv(const std::vector<std::string>& columns, Derive derive)
    : CsvLogger("metrics.csv", same_names(columns)), derive_(std::move(derive)) {}

void IntervalCsv::on_validation_end(tg::train::Trainer& trainer, const tg::train::Logs& logs) {
  const auto& history = trainer.history();  // this point is its last row
  const tg::train::Logs* previous = history.size() >= 2 ? &history[history.size() - 2] : nullptr;
  tg::train::Logs row = logs;
  derive_(
      [previous](const std::string& key) {
        if (!previous) return 0.0;
        const auto it = previous->find(key);
        return it == previous->end() ? 0.0 : it->second;
      },
      row);
  CsvLogger::on_validation_end(trainer, row);
}

void track_common(tg::train::Trainer& trainer, Session& s,
                  std::shared_ptr<tg::train::EarlyStopping> stopping,
                  std::shared_ptr<BestModel> best) {
  const TrainOptions& o = s.options;
  std::printf("training: %s lr %g, schedule %s, dropout %g\n",
              o.weight_decay > 0 ? fmt::format("AdamW (weight decay {})", o.weight_decay).c_str()
                                 : "Adam",
              o.lr, examples::describe(o.schedule).c_str(), o.model.dropout);
  trainer.track("shuffle", s.gen)
      .track("dropout", s.model->dropout_generator())
      .callback(std::move(stopping))
      .callback(std::move(best));
  if (auto schedule = examples::budget_schedule(s.options.schedule)) trainer.callback(schedule);
}

void finish(Session& s, const tg::train::FitResult& result,
            const std::vector<std::string>& prompts) {
  if (result.stop_reason == "time limit")
    std::printf("time limit: training stopped after %.1f s (--time-limit %g); the best weights "
                "are kept\n",
                result.train_seconds, s.options.run.time_limit);
  save_session(s);
  tg::train::parallel().print_communication_share(result.train_seconds);
  std::printf("saved %s, %s, %s\n", (s.run_dir / "model.npz").string().c_str(),
              (s.run_dir / "metrics.csv").string().c_str(),
              (s.run_dir / "loss.svg").string().c_str());
  std::printf("samples:\n");
  print_samples(s, prompts, s.options.sample_length);
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
