// baby_lm: a character-level LSTM language model of toddler talk (train / generate / eval).
#include <cstdio>
#include <filesystem>
#include <string>

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include "tapegrad/autograd/autocast.hpp"
#include "tapegrad/autograd/blas.hpp"
#include "baby_lm/commands.hpp"
#include "baby_lm/export.hpp"
#include "baby_lm/train.hpp"
#include "common/cli.hpp"
#include "common/program.hpp"
#include "common/run_flags.hpp"

namespace {

namespace fs = std::filesystem;
using namespace tg::baby_lm;
using tg::examples::integer_in;
using tg::examples::number_in;

const char* const kDefaultCorpus = "data/baby";
// Longest text generate, eval and the training samples produce per sample (characters).
constexpr std::uint64_t kMaxGenerated = 1000000;

// The default corpus from the repository root, or, run from anywhere else (a build folder), the
// copy in the source tree this program was built from.
fs::path resolve_corpus(const fs::path& given, bool explicit_flag) {
  std::error_code ec;
  if (explicit_flag || fs::exists(given, ec)) return given;
#ifdef BABY_LM_SOURCE_DATA
  const fs::path built = fs::path(BABY_LM_SOURCE_DATA);
  if (fs::exists(built, ec)) return built;
#endif
  return given;
}

void add_sampling_options(CLI::App& cmd, GenerateOptions& g, const char* prompt_help) {
  cmd.add_option("--checkpoint", g.checkpoint,
                 "model.npz written by `baby_lm train` (it holds the vocabulary and sizes)")
      ->required();
  cmd.add_option("--prompt", g.prompt, prompt_help)->capture_default_str();
  number_in(cmd.add_option("--temperature", g.sampling.temperature,
                           "sampling temperature: 0 = always the most likely character (greedy), "
                           "1 = the model's distribution, above 1 = more surprising"),
            0.0, 1e6)
      ->capture_default_str();
  // Generation keeps the whole text in memory: a million characters is far beyond any use.
  integer_in(cmd.add_option("--length", g.length, "characters generated after the prompt"), 0,
             kMaxGenerated)
      ->capture_default_str();
  integer_in(cmd.add_option("--top-k", g.sampling.top_k,
                            "draw only among the K most likely characters (0 = no limit)"),
             0, 1000000)
      ->capture_default_str();
  number_in(cmd.add_option("--top-p", g.sampling.top_p,
                           "nucleus sampling: draw only among the smallest set of most likely "
                           "characters whose probability reaches P (1 = no limit)"),
            0, 1, true)
      ->capture_default_str();
  integer_in(cmd.add_option("--num-samples", g.num_samples, "how many texts to generate"), 1,
             100000)
      ->capture_default_str();
  integer_in(cmd.add_option("--seed", g.seed,
                            "random seed; the same checkpoint and seed give the same text "
                            "(default: a random seed, printed on stderr)"),
             0, UINT64_MAX);
}

// Stateful mode: each flag the command line left out takes stateful mode's default for the
// run's time limit (set as if given, so that its checks run).
void apply_stateful_defaults(CLI::App& train, double time_limit, const std::string& precision) {
  // The widths depend on whether the products will run in bf16: --precision as given, else
  // stateful mode's own default (auto).
  const bool given = train.get_option("--precision")->count() > 0;
  const bool bf16 = tg::parse_matmul_precision(given ? precision.c_str() : "auto") ==
                        tg::MatmulPrecision::BFloat16 &&
                    tg::blas::bf16_supported();
  for (const auto& [flag, value] : stateful_defaults(time_limit, bf16)) {
    CLI::Option* option = train.get_option(flag);
    if (option->count() > 0) continue;
    option->clear();
    option->add_result(value);
    option->run_callback();
  }
}

std::string flags_text(const FlagValues& flags) {
  std::string text;
  for (const auto& [flag, value] : flags) text += (text.empty() ? "" : " ") + flag + " " + value;
  return text;
}

int run(int argc, char** argv) {
  // The defaults are shown option by option: --clip's depends on the mode.
  tg::examples::Program program(
      kExampleName,
      {"baby_lm: a character-level LSTM language model, trained on toddler phrases (Embedding "
       "-> LSTM -> Dropout -> LSTM -> Dropout -> Linear, as the Keras seed).",
       {},
       ""},
      tg::examples::Program::Defaults::PerOption);
  CLI::App& app = program.app();
  // --threads belongs to every command: accepted before or after the subcommand's name.
  app.fallthrough();
  int threads = 0;
  tg::examples::add_threads_option(app, threads);

  TrainOptions t;
  std::string corpus = kDefaultCorpus;
  std::string precision = "float32";
  CLI::Option* corpus_opt = nullptr;
  CLI::App* train = &program.add_train_command(
      "Train a model and write RUN/model.npz, RUN/metrics.csv and RUN/loss.svg. Window mode "
      "(default) reads windows of characters, each predicting the next one (and, unless "
      "--last-step-only, each prefix of a window its next one too), shuffled each epoch, with "
      "early stopping on the training loss; --stateful reads the corpus as contiguous "
      "streams with the hidden state carried across batches (truncated BPTT), for long texts.",
      t.run, "model.npz, metrics.csv and loss.svg", [&] {
        if (t.stateful) apply_stateful_defaults(*train, t.run.time_limit, precision);
        tg::examples::check_schedule_flags(*train, t.schedule);
        // Training and its evaluations run on this thread, inside the guard (set before the
        // BLAS line, which says whether bf16 runs).
        const tg::AutocastGuard autocast(tg::parse_matmul_precision(precision.c_str()));
        tg::examples::apply_threads(threads, stdout);
        t.corpus = resolve_corpus(corpus, corpus_opt->count() > 0);
        return tg::baby_lm::train(t);
      });
  corpus_opt =
      train
          ->add_option("--corpus", corpus,
                       "text file whose lines (joined with newlines) are the corpus, or a folder "
                       "of .txt files; the vocabulary is its sorted distinct characters")
          ->capture_default_str();
  tg::examples::add_precision_option(*train, precision);
  integer_in(train->add_option("--epochs", t.epochs, "maximum epochs"), 1, 100000)
      ->capture_default_str();
  integer_in(train->add_option("--batch", t.batch,
                               "windows per batch (stateful: the number of parallel streams)"),
             1, 65536)
      ->capture_default_str();
  number_in(train->add_option("--lr", t.lr, "Adam learning rate"), 0, 10, true)
      ->capture_default_str();
  number_in(train->add_option("--weight-decay", t.weight_decay,
                              "decoupled weight decay (AdamW) per step, times the learning rate"),
            0.0, 1.0)
      ->capture_default_str();
  tg::examples::add_schedule_flags(*train, t.schedule);
  CLI::Option* window =
      integer_in(train->add_option("--window", t.window,
                                   "characters read per prediction (window mode)"),
                 1, 10000)
          ->capture_default_str();
  integer_in(train->add_option("--max-vocab", t.max_vocab, "refuse a corpus of more distinct characters than this (each is a row of the embedding and of the output layer)"), 1, 1114112)->capture_default_str();
  integer_in(train->add_option("--embed", t.model.embed, "embedding size"), 1, 4096)
      ->capture_default_str();
  integer_in(train->add_option("--units", t.model.units, "LSTM units per layer"), 1, 4096)
      ->capture_default_str();
  integer_in(train->add_option("--layers", t.model.layers, "stacked LSTM layers, each + Dropout"),
             1, 16)
      ->capture_default_str();
  number_in(train->add_option("--dropout", t.model.dropout, "dropout after each LSTM layer"), 0, 1,
            false, true)
      ->capture_default_str();
  integer_in(train->add_option("--patience", t.patience,
                               "early stopping: stop after this many epochs without a better "
                               "loss (window mode: training loss; stateful: held-out loss per "
                               "validation) and restore the best weights; 0 = never stop early"),
             0, 100000)
      ->capture_default_str();
  number_in(train->add_option("--clip", t.clip,
                              "clip the gradient norm at this value; 0 = no clipping (default: "
                              "none in window mode, 5 in stateful mode)"),
            0.0, 1e9);
  integer_in(train->add_option("--seed", t.seed, "random seed (initialisation, shuffling, dropout)"),
             0, UINT64_MAX)
      ->capture_default_str();
  CLI::Option* last_step_only = train->add_flag("--last-step-only", t.last_step_only,
                  "window mode: train only the prediction after the whole window, exactly as the "
                  "seed (Keras return_sequences=False); by default the prediction after every "
                  "prefix of a window is trained too, which generation (state carried, one "
                  "character at a time) needs");
  CLI::Option* stateful = train->add_flag(
      "--stateful", t.stateful,
      "stateful mode: the corpus is cut into --batch contiguous streams read --bptt characters "
      "at a time, the hidden state carried (and detached) across batches. Its defaults differ "
      "from the ones shown (window mode's) for a long text and a time budget: " +
          flags_text(stateful_defaults(0, true)) +
          fmt::format("; with --time-limit under {:g}: {}; {:g} or more: {}", kShortBudgetSeconds,
                      flags_text(stateful_budget_defaults(1, true)), kLongBudgetSeconds,
                      flags_text(stateful_budget_defaults(kLongBudgetSeconds, true))) +
          fmt::format(". Those budgets are for bf16 products; in float32 (a CPU without AMX or "
                      "AVX512-BF16, or --precision float32) each is {:g} times longer, and under "
                      "{:g}: {}",
                      kFloat32Slowdown, kNarrowBudgetSeconds * kFloat32Slowdown,
                      flags_text(stateful_budget_defaults(1, false))));
  // A flag of the other mode is refused rather than silently ignored.
  window->excludes(stateful);
  last_step_only->excludes(stateful);
  integer_in(train->add_option("--bptt", t.bptt, "stateful: steps per batch (truncated BPTT length)"),
             1, 10000)
      ->capture_default_str()
      ->needs(stateful);
  number_in(train->add_option("--val-fraction", t.val_fraction,
                              "stateful: the tail of the corpus held out for validation"),
            0, 1, true, true)
      ->capture_default_str()
      ->needs(stateful);
  integer_in(train->add_option("--val-every", t.val_every,
                               "stateful: validate every N batches too (0 = at the end of each "
                               "epoch only)"),
             0, 1000000000)
      ->capture_default_str()
      ->needs(stateful);
  train->add_option("--sample-prompt", t.sample_prompt,
                    "stateful: prompt of the sample printed at each validation (empty = the "
                    "start of a line)")
      ->needs(stateful);
  integer_in(train->add_option("--sample-length", t.sample_length,
                               "characters of each printed sample"),
             0, kMaxGenerated)
      ->capture_default_str();
  number_in(train->add_option("--target-loss", t.target_loss,
                              "report the first epoch whose training loss falls below this (nats)"),
            0, 1e6)
      ->capture_default_str();

  GenerateOptions g;
  // Generation runs at batch 1, where BLAS is not what matters: no BLAS line on the output.
  CLI::App& gen = program.add_command(
      "generate",
      "Generate text from a checkpoint: the prompt is read, then characters are drawn one at a "
      "time, each fed back with the LSTM state carried.",
      [&] {
        tg::examples::apply_threads(threads, nullptr);
        return run_generate(g);
      });
  add_sampling_options(gen, g, "text to continue (empty = start a new line)");

  EvalOptions e;
  e.generate.prompt = "me want";
  e.generate.sampling.temperature = 0.5;
  e.generate.num_samples = 100;
  CLI::App& eval = program.add_command(
      "eval",
      "Score a checkpoint: its loss on a corpus, and the share of the words it generates that "
      "are words of that corpus.",
      [&] {
        tg::examples::apply_threads(threads, nullptr);
        return run_eval(e);
      });
  add_sampling_options(eval, e.generate, "text the samples continue");
  eval.add_option("--corpus", e.corpus,
                   "corpus to score against (default: the one the checkpoint was trained on)");

  tg::examples::ExportArgs& x = program.make<tg::examples::ExportArgs>();
  x.out = "baby_lm.onnx";
  program.add_export_command(
      "Write one step of the model as ONNX (opset 17): characters and the LSTM state in, the next "
      "character's logits and the state out; the vocabulary as JSON beside it (--out with the "
      "extension .json)",
      x, "The .onnx file to write", [&x] { return run_export(x); });

  return program.run(argc, argv);
}

}  // namespace

int main(int argc, char** argv) {
  return tg::examples::run_main(argc, argv, [&] { return run(argc, argv); });
}
