// seq2seq subcommands: what train, eval and translate do once their arguments are parsed.
#include "seq2seq/commands.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <optional>

#include "common/cli.hpp"
#include "common/job.hpp"
#include "common/limits.hpp"
#include "common/text.hpp"
#include "tapegrad/train/checkpoint.hpp"
#include "tapegrad/train/files.hpp"
#include "tapegrad/train/messages.hpp"
#include "tapegrad/train/progress.hpp"

namespace tg::examples::seq2seq {
namespace fs = std::filesystem;

namespace {

constexpr double kValidationFraction = 0.1;
constexpr double kTestFraction = 0.1;
constexpr std::size_t kAttentionMaps = 4;

std::vector<std::string> sources_of(const std::vector<Pair>& pairs) {
  std::vector<std::string> out;
  for (const Pair& p : pairs) out.push_back(p.source);
  return out;
}

std::vector<std::string> targets_of(const PairSplit& split) {
  std::vector<std::string> out;
  for (const auto* part : {&split.train, &split.validation, &split.test})
    for (const Pair& p : *part) out.push_back(p.target);
  return out;
}

std::size_t longest(const std::vector<std::string>& texts) {
  std::size_t n = 0;
  for (const std::string& t : texts) n = std::max(n, decode_utf8(t).size());
  return n;
}

PairSplit load_split(const TrainArgs& a) {
  if (a.data.empty()) {
    PairSplit split = generate_dates(a.seed, a.sizes);
    std::printf("data: %zu / %zu / %zu generated dates (train / validation / test) in %zu formats, "
                "%d-%d; no date is in two parts\n",
                split.train.size(), split.validation.size(), split.test.size(),
                date_format_names().size(), kFirstYear, kLastYear);
    return split;
  }
  const std::vector<Pair> pairs = read_pairs(a.data);
  std::size_t duplicates = 0, conflicts = 0;
  PairSplit split =
      split_pairs(pairs, a.seed, kValidationFraction, kTestFraction, &duplicates, &conflicts);
  std::printf("data: %s: %zu pairs, %zu repeated sources removed; split %zu / %zu / %zu (train / "
              "validation / test), no source in two parts\n",
              a.data.c_str(), pairs.size(), duplicates, split.train.size(), split.validation.size(),
              split.test.size());
  if (conflicts)
    tg::train::print_warning(fmt::format(
        "{}: {} sources are listed with different targets; the first is kept", a.data, conflicts));
  return split;
}

}  // namespace

std::unique_ptr<Seq2Seq> load_model(const std::string& path) {
  return load_checkpoint_model<Seq2Seq>(path, kExampleName, config_from_meta, parameter_estimate);
}

int run_train(const TrainArgs& a) {
  // Its training loop does not split batches between processes: under mpirun every rank would
  // train the same model alone. Refused rather than done N times over.
  if (Job::current().size() > 1)
    throw Error("seq2seq train does not run data-parallel (name_language and baby_lm do); start it "
                "without mpirun");
  apply_threads(a.threads);
  // Everything that can fail on the user's input fails before the run folder exists.
  const PairSplit split = load_split(a);
  ModelConfig config;
  config.cell = a.cell;
  config.embedding = a.embedding;
  config.hidden = a.hidden;
  config.decoder_hidden = a.decoder_hidden;
  config.source = Alphabet::of(sources_of(split.train), kSourceReserved);
  // Targets may use any character of any part: the output alphabet is the task's, not learned.
  config.target = Alphabet::of(targets_of(split), kTargetReserved);
  config.max_output = 2 * longest(targets_of(split)) + 10;
  const double gates = double(nn::gate_count(nn::parse_cell_kind(a.cell)));
  check_training_memory(
      fmt::format("--hidden {} --decoder-hidden {} --embedding {}", a.hidden, a.decoder_hidden,
                  a.embedding),
      parameter_estimate(config),
      double(a.train.batch) * double(kMaxTextBytes) *
          (2 * double(a.hidden) * (gates + 2) + double(a.embedding) +
           double(a.decoder_hidden) * (gates + 8) + double(config.target.size())));
  const EncodedPairs train = encode_pairs(split.train, config, "train");
  const EncodedPairs validation = encode_pairs(split.validation, config, "validation");
  const EncodedPairs test = encode_pairs(split.test, config, "test");
  manual_seed(a.seed);
  Generator gen(a.seed);
  Seq2Seq model(config, gen);

  std::printf("model: %s, %zu parameters\n", describe(config).c_str(), model.parameter_count());
  const TrainOptions& o = a.train;
  std::printf("training: adam lr %g (decay %g per epoch), batch %zu, clip %g, up to %zu epochs%s, "
              "patience %zu\n",
              o.lr, o.lr_decay, o.batch, o.clip, o.epochs,
              a.run.time_limit > 0
                  ? fmt::format(" or {}", tg::train::format_duration(a.run.time_limit)).c_str()
                  : "",
              o.patience);
  std::fflush(stdout);
  // The checkpoint's metadata: the model's, and where its data came from.
  std::map<std::string, std::string> meta = to_meta(config);
  meta["data"] = a.data.empty() ? "generated dates" : a.data;
  meta["seed"] = std::to_string(a.seed);
  RunOutput output;
  output.meta = [&] { return meta; };
  output.on_start = [&](const tg::train::Trainer& trainer) {
    const fs::path& run = trainer.run_dir();
    std::printf("run folder: %s\n", run.string().c_str());
    std::fflush(stdout);
    write_pairs(run / "train.tsv", split.train);
    write_pairs(run / "validation.tsv", split.validation);
    write_pairs(run / "test.tsv", split.test);
  };
  tg::train::Fingerprint read;
  for (const std::vector<Pair>* part : {&split.train, &split.validation, &split.test})
    for (const Pair& pair : *part) read.add(pair.source).add(pair.target).add(pair.group);
  const tg::train::TrainerOptions run =
      trainer_options(a.run, kExampleName)
          .same_data(data_facts(a.data,
                                fmt::format("{} / {} / {} pairs (train / validation / test)",
                                            split.train.size(), split.validation.size(),
                                            split.test.size()),
                                read));
  const TrainResult result =
      train_model(model, train, validation, split.validation, o, gen, run, output);
  std::printf("\ntraining: %s, stopped by %s; best validation exact match %.2f%% at epoch %zu, "
              "whose weights are kept\n",
              tg::train::format_duration(result.fit.train_seconds).c_str(),
              result.stop_reason.c_str(), 100 * result.best_val_exact, result.best_epoch);

  const Evaluation greedy = evaluate(model, split.test, test, 1);
  std::optional<Evaluation> beam;
  if (a.beam > 1) beam = evaluate(model, split.test, test, a.beam);
  const std::string report =
      evaluation_report("test", greedy, beam ? &*beam : nullptr, a.beam);
  std::printf("\n%s", report.c_str());
  meta["epoch"] = std::to_string(result.best_epoch);
  meta["val_exact_match"] = fmt::format("{}", result.best_val_exact);
  meta["test_exact_match"] = fmt::format("{:.6f}", greedy.exact_match());
  if (beam) meta["test_exact_match_beam"] = fmt::format("{:.6f}", beam->exact_match());
  meta["train_seconds"] = fmt::format("{:.1f}", result.fit.train_seconds);
  const fs::path checkpoint = run.run_dir() / "model.npz";
  tg::train::save_checkpoint(checkpoint.string(), model, nullptr, nullptr, {kExampleName, meta});
  tg::train::write_file_atomic(run.run_dir() / "report.txt", report);
  const auto maps = write_attention_maps(run.run_dir(), beam ? *beam : greedy, kAttentionMaps);
  std::printf("\nwrote %s (checkpoint), metrics.csv, curves.svg, report.txt, %zu attention_*.svg, "
              "train/validation/test.tsv\n",
              checkpoint.string().c_str(), maps.size());
  return 0;
}

int run_eval(const EvalArgs& a) {
  apply_threads(a.threads);
  const std::unique_ptr<Seq2Seq> model = load_model(a.checkpoint);
  const fs::path data =
      a.data.empty() ? fs::path(a.checkpoint).parent_path() / "test.tsv" : fs::path(a.data);
  const std::vector<Pair> pairs = read_pairs(data);
  std::printf("model: %s\ndata: %s: %zu pairs\n", describe(model->config()).c_str(),
              data.string().c_str(), pairs.size());
  const EncodedPairs encoded = encode_pairs(pairs, model->config(), data.string());
  if (encoded.unknown_characters)
    tg::train::print_warning(
        fmt::format("{} source characters of {} are not in the model's alphabet; they "
                    "read as padding",
                    encoded.unknown_characters, tg::train::quoted(data)));
  const Evaluation greedy = evaluate(*model, pairs, encoded, 1);
  std::optional<Evaluation> beam;
  if (a.beam > 1) beam = evaluate(*model, pairs, encoded, a.beam);
  std::printf("\n%s", evaluation_report(data.filename().string(), greedy, beam ? &*beam : nullptr,
                                        a.beam)
                          .c_str());
  return 0;
}

int run_translate(const TranslateArgs& a) {
  // stdout holds only the translations; warnings and errors go to stderr.
  apply_threads(a.threads, nullptr);
  const std::unique_ptr<Seq2Seq> model = load_model(a.checkpoint);
  if (std::all_of(a.sources.begin(), a.sources.end(), [](const std::string& s) { return s.empty(); }))
    throw Error("translate: nothing to translate (the sources are empty)");
  const CommandLineTexts sources = encode_command_line_texts(
      a.sources, "source", "padding", [&](const std::string& source) {
        if (source.size() > kMaxTextBytes)
          throw Error(fmt::format("a source of {} bytes; at most {} are accepted", source.size(),
                                  kMaxTextBytes));
        if (!is_valid_utf8(source)) throw Error("a source is not valid UTF-8");
        return encode_source(source, model->config().source);
      });
  const std::vector<Decoded> decoded = translate(*model, sources.ids, a.beam);
  for (std::size_t i = 0; i < sources.ids.size(); ++i)
    std::printf("%s\t%s\n", sources.texts[i].c_str(),
                decode_target(decoded[i].ids, model->config().target).c_str());
  return 0;
}

}  // namespace tg::examples::seq2seq
