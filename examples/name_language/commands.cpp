// name_language subcommands: what train, eval and predict do once their arguments are parsed.
#include "name_language/commands.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cstdlib>
#include <cstdio>
#include <filesystem>
#include <map>
#include <memory>
#include <numeric>
#include <optional>

#include "tapegrad/autograd/autocast.hpp"
#include "tapegrad/autograd/random.hpp"
#include "common/cli.hpp"
#include "common/run_flags.hpp"
#include "common/limits.hpp"
#include "common/text.hpp"
#include "name_language/evaluate.hpp"
#include "name_language/report.hpp"
#include "tapegrad/train/files.hpp"
#include "tapegrad/train/messages.hpp"
#include "tapegrad/train/parallel.hpp"
#include "tapegrad/train/progress.hpp"

namespace tg::examples::names {
namespace fs = std::filesystem;

namespace {

constexpr double kValidationFraction = 0.1;
constexpr double kTestFraction = 0.1;

void print_data_summary(const std::string& dir, const Dataset& data, SplitUnit unit,
                        const Split& split) {
  const LoadStats& s = data.stats;
  std::printf("data: %s: %zu languages, %zu names read, %zu (name, language) pairs after "
              "removing %zu duplicates%s%s\n",
              dir.c_str(), data.labels.size(), s.lines, data.examples.size(), s.duplicates,
              s.emptied ? fmt::format(" and {} names left empty by folding", s.emptied).c_str() : "",
              s.multi_label ? fmt::format("; {} names belong to several languages", s.multi_label).c_str()
                            : "");
  const std::vector<std::size_t> counts = data.class_counts();
  const std::size_t largest = std::max_element(counts.begin(), counts.end()) - counts.begin();
  const double share =
      static_cast<double>(counts[largest]) / static_cast<double>(data.examples.size());
  std::printf("split: %zu train / %zu validation / %zu test pairs (stratified, by %s); largest "
              "class %s (%s of the pairs)\n",
              split.train.size(), split.validation.size(), split.test.size(),
              unit == SplitUnit::Names ? "name" : "pair",
              data.labels[largest].c_str(), percent(share).c_str());
}

std::vector<std::string> names_of(const Dataset& data, const std::vector<std::size_t>& part) {
  std::vector<std::string> out;
  for (std::size_t i : part) out.push_back(data.examples[i].name);
  return out;
}

std::map<std::string, std::string> train_meta(const TrainArgs& a, const std::string& data_dir,
                                              const TrainOptions& o) {
  std::error_code ec;
  const fs::path absolute = fs::absolute(data_dir, ec);
  return {{"data", ec ? data_dir : absolute.lexically_normal().string()},
          {"seed", std::to_string(a.seed)},
          {"split", a.split},
          {"validation_fraction", fmt::format("{}", kValidationFraction)},
          {"test_fraction", fmt::format("{}", kTestFraction)},
          {"epochs", std::to_string(o.epochs)},
          {"batch", std::to_string(o.batch)},
          {"optimizer", o.optimizer},
          {"lr", fmt::format("{}", o.lr)},
          {"schedule", describe(o.schedule)},
          {"lr_decay", fmt::format("{}", o.lr_decay)},
          {"label_smoothing", fmt::format("{}", o.label_smoothing)},
          {"logit_adjustment", fmt::format("{}", o.logit_adjustment)},
          {"weight_decay", fmt::format("{}", o.weight_decay)},
          {"clip", fmt::format("{}", o.clip)},
          {"class_weights", to_string(o.weights)},
          {"sampling", to_string(o.sampling)}};
}

// split.csv in the run folder once the Trainer has claimed it (a new folder must be empty
// until then).
class SplitFile : public tg::train::Callback {
 public:
  SplitFile(const Dataset& data, const Split& split) : data_(data), split_(split) {}
  void on_fit_start(tg::train::Trainer& trainer) override {
    if (trainer.writes_files()) write_split(trainer.run_dir() / "split.csv", data_, split_);
  }

 private:
  const Dataset& data_;
  const Split& split_;
};

// Why training ended, as the closing line says it.
std::string stop_reason_text(const std::string& reason) {
  if (reason == "max_epochs") return "the last epoch (--epochs)";
  if (reason == "time limit") return "the time limit (--time-limit)";
  return reason;
}

}  // namespace

double default_lr(const std::string& optimizer) {
  if (optimizer == "sgd") return 0.05;
  if (optimizer == "rmsprop") return 1e-3;
  return 2e-3;
}

std::string resolve_data_dir(const std::string& given) {
  if (!given.empty()) return given;
  std::error_code ec;
  if (fs::is_directory("data/names", ec)) return "data/names";
#ifdef NAME_LANGUAGE_SOURCE_DATA
  if (fs::is_directory(NAME_LANGUAGE_SOURCE_DATA, ec)) return NAME_LANGUAGE_SOURCE_DATA;
#endif
  return "data/names";  // reported as missing by the loader
}

LoadedModel load_model(const std::string& path, std::optional<double> prior_shift) {
  const auto read_config = [&](const std::map<std::string, std::string>& meta,
                               const std::string& from) {
    ModelConfig config = config_from_meta(meta, from);
    if (prior_shift) {
      if (*prior_shift > 0 && config.class_counts.size() != config.labels.size())
        throw Error(from + ": the checkpoint has no training count per language, which "
                           "--prior-shift needs (it predates the option: train it again)");
      config.prior_shift = *prior_shift;
    }
    return config;
  };
  LoadedModel loaded;
  loaded.model = load_checkpoint_model<NameClassifier>(path, kExampleName, read_config,
                                                       parameter_estimate, &loaded.meta);
  return loaded;
}

int run_train(const TrainArgs& a) {
  // Training and its validation passes run on this thread, inside the guard.
  const AutocastGuard autocast(parse_matmul_precision(a.precision.c_str()));
  apply_threads(a.threads);  // after the guard: its line says whether bf16 runs
  TrainOptions o = a.train;
  o.lr = a.lr > 0 ? a.lr : default_lr(o.optimizer);
  o.weights = parse_class_weights(a.class_weights);
  o.sampling = parse_sampling(a.sampling);
  const Charset charset = parse_charset(a.charset);

  // Everything that can fail on the user's input fails before the run folder exists.
  const std::string data_dir = resolve_data_dir(a.data);
  const Dataset data = load_names(data_dir, charset);
  const SplitUnit unit = parse_split_unit(a.split);
  const Split split = stratified_split(data, a.seed, unit, kValidationFraction, kTestFraction);
  print_data_summary(data_dir, data, unit, split);
  if (split.validation.empty() || split.test.empty())
    throw Error(data_dir + ": too few names for a validation and a test part (a language needs at "
                           "least 3 names)");

  ModelConfig config;
  config.cell = a.model;
  config.hidden = a.hidden;
  config.layers = a.layers;
  config.bidirectional = a.bidirectional;
  config.embedding = a.embedding;
  config.dropout = a.dropout;
  config.input_dropout = a.input_dropout;
  config.pooling = parse_pooling(a.pooling);
  config.ngrams = a.ngrams;
  config.ngram_buckets = a.ngram_buckets;
  config.prior_shift = a.prior_shift;
  config.class_counts.assign(data.labels.size(), 0);
  for (std::size_t i : split.train) ++config.class_counts[data.examples[i].label];
  config.charset = charset;
  config.labels = data.labels;
  config.vocabulary = Vocabulary::for_charset(charset, names_of(data, split.train));
  if (a.ngrams > 0 && !ngram_codes_fit(config.vocabulary.size(), a.ngrams))
    throw Error(fmt::format("--ngrams {}: the codes of {}-grams over the {} characters of the "
                            "training names overflow 64 bits; give a shorter longest n-gram",
                            a.ngrams, a.ngrams, config.vocabulary.size()));
  // Refused before anything is allocated: the tape keeps, per batch, about (gates + 2) floats per
  // hidden unit, layer, direction and character (names are at most kMaxNameBytes long).
  const double gates = double(nn::gate_count(nn::parse_cell_kind(a.model)));
  check_training_memory(
      fmt::format("--hidden {} --layers {}{}", a.hidden, a.layers,
                  a.bidirectional ? " --bidirectional" : ""),
      parameter_estimate(config),
      double(o.batch) * double(kMaxNameBytes) *
          (double(a.layers) * (a.bidirectional ? 2 : 1) * double(a.hidden) * (gates + 2) +
           double(a.embedding ? a.embedding : config.vocabulary.size())));
  manual_seed(a.seed);  // the default generator seeds the dropout layers
  Generator gen(a.seed);
  NameClassifier model(config, gen);
  // Validate the optimizer settings before anything is written.
  make_optimizer(o.optimizer, model.named_parameters(), o);

  // After every check of the user's input: without --out this makes a new timestamped folder.
  const tg::train::TrainerOptions run_options = trainer_options(a.run, kExampleName);
  const fs::path run = run_options.run_dir();
  const tg::train::Parallel& job = tg::train::parallel();
  std::printf("model: %s, %zu parameters\n", describe(config).c_str(), model.parameter_count());
  const std::string schedule = o.schedule.schedule == kExponentialSchedule
                                   ? fmt::format("decay {} per epoch", o.lr_decay)
                                   : describe(o.schedule);
  std::printf("training: %s lr %g (%s), batch %zu, up to %zu epochs%s, class weights %s%s%s, "
              "sampling %s, dropout %g%s, weight decay %g, clip %g\n",
              // make_optimizer's choice: Adam with weight decay is AdamW (decoupled).
              o.optimizer == "adam" && o.weight_decay > 0 ? "adamw" : o.optimizer.c_str(), o.lr,
              schedule.c_str(), o.batch, o.epochs,
              a.run.time_limit > 0
                  ? fmt::format(" or {}", tg::train::format_duration(a.run.time_limit)).c_str()
                  : "",
              to_string(o.weights).c_str(),
              o.label_smoothing > 0 ? fmt::format(", label smoothing {}", o.label_smoothing).c_str()
                                    : "",
              o.logit_adjustment > 0
                  ? fmt::format(", logit adjustment {}", o.logit_adjustment).c_str()
                  : "",
              to_string(o.sampling).c_str(), config.dropout,
              config.input_dropout > 0
                  ? fmt::format(" (input {})", config.input_dropout).c_str()
                  : "",
              o.weight_decay, o.clip);
  if (job.size() > 1)
    std::printf("data-parallel: %d processes, global batch %zu\n", job.size(),
                o.batch * static_cast<std::size_t>(job.size()));
  std::printf("run folder: %s\n", run.string().c_str());
  std::fflush(stdout);

  const EncodedSet train = encode_examples(data, split.train, config.vocabulary);
  const EncodedSet validation = encode_examples(data, split.validation, config.vocabulary);
  const EncodedSet test = encode_examples(data, split.test, config.vocabulary);
  // model.npz's metadata: the model, how it was trained, and (added as training goes) its scores.
  std::map<std::string, std::string> meta = to_meta(config);
  for (const auto& [key, value] : train_meta(a, data_dir, o)) meta[key] = value;
  TrainRun settings;
  tg::train::Fingerprint read;
  for (const std::string& label : data.labels) read.add(label);
  for (const Example& example : data.examples)
    read.add(example.name).add(static_cast<std::int64_t>(example.label));
  settings.options = tg::train::TrainerOptions(run_options)
                         .same_data(data_facts(data_dir, fmt::format("{} names in {} languages",
                                                                     data.examples.size(),
                                                                     data.labels.size()),
                                               read));
  settings.checkpoint_meta = [&](const tg::train::Logs& logs) {
    std::map<std::string, std::string> best = meta;
    best["val_macro_accuracy"] = fmt::format("{}", logs.at("val_macro_accuracy"));
    return best;
  };
  settings.callbacks.push_back(std::make_shared<SplitFile>(data, split));
  const TrainResult result = train_model(model, train, validation, o, gen, settings);
  if (!job.is_root()) return 0;  // rank 0 evaluates and writes the results
  std::printf("\ntraining: %s (%s), stopped by %s; kept the weights of epoch %zu, the best "
              "validation accuracy %s (macro %s)\n",
              tg::train::format_duration(result.train_seconds).c_str(),
              tg::train::format_rate(result.names / std::max(result.train_seconds, 1e-9), "names")
                  .c_str(),
              stop_reason_text(result.stop_reason).c_str(), result.best_epoch,
              percent(result.best_val_accuracy).c_str(),
              percent(result.best_val_macro_accuracy).c_str());
  job.print_communication_share(result.train_seconds);

  const Evaluation e = evaluate(model, test);
  const std::string report = evaluation_report("test", e, config.labels);
  std::printf("\n%s", report.c_str());
  meta["epoch"] = std::to_string(result.best_epoch);
  meta["val_accuracy"] = fmt::format("{}", result.best_val_accuracy);
  meta["val_macro_accuracy"] = fmt::format("{}", result.best_val_macro_accuracy);
  meta["test_accuracy"] = fmt::format("{}", e.accuracy());
  meta["test_macro_accuracy"] = fmt::format("{}", e.macro_accuracy());
  meta["train_seconds"] = fmt::format("{:.1f}", result.train_seconds);
  const fs::path checkpoint = run / "model.npz";
  tg::train::save_checkpoint(checkpoint.string(), model, nullptr, nullptr, {kExampleName, meta});
  tg::train::write_file_atomic(run / "report.txt", report);
  write_confusion_picture(run / "confusion.svg", e, config.labels,
                          fmt::format("Test confusion, % of each true language (accuracy {}, macro {})",
                                      percent(e.accuracy()), percent(e.macro_accuracy())));
  std::printf("\nwrote %s (checkpoint), metrics.csv, curves.svg, confusion.svg, report.txt, "
              "split.csv\n",
              checkpoint.string().c_str());
  return 0;
}

int run_eval(const EvalArgs& a) {
  apply_threads(a.threads);
  LoadedModel loaded = load_model(a.checkpoint, a.prior_shift);
  const ModelConfig& config = loaded.model->config();
  const tg::train::MetaReader meta = meta_reader(loaded.meta.text, a.checkpoint);
  const std::string data_dir = a.data.empty() ? meta.text("data") : a.data;
  const Dataset data = load_names(data_dir, config.charset);
  if (data.labels != config.labels)
    throw Error(fmt::format("{}: its languages ({}) differ from the checkpoint's ({}); pass the "
                            "--data folder the model was trained on",
                            data_dir, data.labels.size(), config.labels.size()));
  // Checkpoints of the builds before the split by name record none: theirs was by pair.
  SplitUnit unit = SplitUnit::Pairs;
  if (const auto recorded = loaded.meta.text.find("split"); recorded != loaded.meta.text.end()) {
    try {
      unit = parse_split_unit(recorded->second);
    } catch (const Error&) {
      throw Error(fmt::format("{}: meta.split is '{}', not names or pairs", a.checkpoint,
                              recorded->second));
    }
  }
  const std::string& seed = meta.text("seed");
  if (seed.empty() || seed.size() > 20 || seed.find_first_not_of("0123456789") != std::string::npos)
    throw Error(fmt::format("{}: meta.seed is '{}', not a seed", a.checkpoint, seed));
  const Split split =
      stratified_split(data, std::strtoull(seed.c_str(), nullptr, 10), unit,
                       meta.number("validation_fraction", 0, std::nullopt, "a number"),
                       meta.number("test_fraction", 0, std::nullopt, "a number"));
  std::vector<std::size_t> part;
  if (a.part == "test") part = split.test;
  else if (a.part == "validation") part = split.validation;
  else if (a.part == "train") part = split.train;
  else {
    part.resize(data.examples.size());
    std::iota(part.begin(), part.end(), 0);
  }
  std::printf("model: %s\ndata: %s, %s part: %zu names\n", describe(config).c_str(),
              data_dir.c_str(), a.part.c_str(), part.size());
  if (part.empty()) throw Error(data_dir + ": the " + a.part + " part is empty");
  const EncodedSet set = encode_examples(data, part, config.vocabulary);
  std::size_t unknown = 0;
  for (const auto& ids : set.ids) unknown += std::count(ids.begin(), ids.end(), Vocabulary::kUnknown);
  if (unknown)
    tg::train::print_warning(
        fmt::format("{} characters of the {} part are not in the model's vocabulary; "
                    "they read as unknown",
                    unknown, a.part));
  const Evaluation e = evaluate(*loaded.model, set);
  std::printf("\n%s", evaluation_report(a.part, e, config.labels).c_str());
  return 0;
}

int run_predict(const PredictArgs& a) {
  // stdout holds only the predictions, stderr only warnings and errors: the kernel line is left
  // out, as a few names take microseconds whatever the kernel.
  apply_threads(a.threads, nullptr);
  LoadedModel loaded = load_model(a.checkpoint, a.prior_shift);
  const ModelConfig& config = loaded.model->config();
  const CommandLineTexts names = encode_command_line_texts(
      a.names, "name", "unknown", [&](const std::string& name) {
        return encode_for_prediction(name, config.charset, config.vocabulary);
      });
  if (names.ids.empty()) throw Error("predict: no names to classify");
  const auto probs = predict_probabilities(*loaded.model, names.ids);
  const std::size_t k = std::min(a.top, config.labels.size());
  for (std::size_t i = 0; i < names.ids.size(); ++i) {
    std::vector<std::size_t> order(config.labels.size());
    std::iota(order.begin(), order.end(), 0);
    std::partial_sort(order.begin(), order.begin() + static_cast<std::ptrdiff_t>(k), order.end(),
                      [&](std::size_t x, std::size_t y) { return probs[i][x] > probs[i][y]; });
    std::printf("%s\n", names.texts[i].c_str());
    for (std::size_t j = 0; j < k; ++j)
      std::printf("  %6.1f%%  %s\n", 100.0 * probs[i][order[j]], config.labels[order[j]].c_str());
  }
  return 0;
}

}  // namespace tg::examples::names
