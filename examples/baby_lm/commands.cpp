// baby_lm's generate and eval subcommands: load a checkpoint, sample, score.
#include "baby_lm/commands.hpp"

#include <cstdio>
#include <random>

#include <fmt/format.h>

#include "baby_lm/train.hpp"
#include "common/text.hpp"

namespace tg::baby_lm {

namespace {

std::uint64_t seed_of(const GenerateOptions& o) {
  if (o.seed) return *o.seed;
  std::random_device device;
  const std::uint64_t seed = (std::uint64_t(device()) << 32 | device()) % 1000000000;
  // On stderr, so that stdout holds only the text.
  std::fprintf(stderr, "seed %llu (pass --seed %llu to get the same text again)\n",
               static_cast<unsigned long long>(seed), static_cast<unsigned long long>(seed));
  return seed;
}

}  // namespace

int run_generate(const GenerateOptions& o) {
  check_sampling(o.sampling);
  LoadedModel loaded = load_model(o.checkpoint);
  // Refuse a bad prompt before announcing a seed: an error is the only line a failed run prints.
  loaded.info.vocab.encode(examples::decode_utf8(o.prompt, {"--prompt", 0}), "--prompt");
  Generator gen(seed_of(o));
  for (std::size_t i = 0; i < o.num_samples; ++i) {
    const std::string text =
        generate(*loaded.model, loaded.info.vocab, o.prompt, o.length, o.sampling, gen);
    std::printf("%s%s%s\n", i ? "\n" : "", o.prompt.c_str(), text.c_str());
  }
  std::fflush(stdout);
  return 0;
}

int run_eval(const EvalOptions& o) {
  const GenerateOptions& g = o.generate;
  check_sampling(g.sampling);
  LoadedModel loaded = load_model(g.checkpoint);
  const RunInfo& info = loaded.info;
  BabyLM& model = *loaded.model;
  const std::filesystem::path corpus_path = o.corpus.empty() ? std::filesystem::path(info.corpus) : o.corpus;
  const Corpus corpus = load_corpus(corpus_path);
  const std::string what = corpus_path.string();
  const std::vector<std::int64_t> ids = info.vocab.encode(corpus.text, what);
  const auto targets = info.extra.find("targets");  // absent in stateful checkpoints
  std::printf("checkpoint %s: %s mode%s, vocabulary of %zu; corpus %s (%zu characters)\n",
              g.checkpoint.c_str(), info.mode.c_str(),
              targets == info.extra.end() ? "" : (" (" + targets->second + " scored)").c_str(),
              info.vocab.size(), what.c_str(), ids.size());
  if (info.mode == "window") {
    const WindowScore score = evaluate_windows(model, ids, info.window, 256, what);
    std::printf("windows of %zu: loss %.4f nats (%.4f bits/char), accuracy %.2f%% over %zu "
                "windows\n",
                info.window, score.loss, nats_to_bits(score.loss), 100 * score.accuracy,
                score.windows);
  } else {
    const StreamBatches batches(ids, std::min<std::size_t>(32, ids.size() - 1), info.bptt, what);
    const double loss = evaluate_streams(model, batches);
    std::printf("streams: loss %.4f nats, %.4f bits/char\n", loss, nats_to_bits(loss));
  }

  const std::vector<std::string> words = corpus_words(corpus.text);
  Generator gen(seed_of(g));
  const std::u32string prompt = examples::decode_utf8(g.prompt, {"--prompt", 0});
  WordCount total;
  for (std::size_t i = 0; i < g.num_samples; ++i) {
    const std::string text = generate(model, info.vocab, g.prompt, g.length, g.sampling, gen);
    const WordCount c = count_known_words(prompt, examples::decode_utf8(text), words);
    total.known += c.known;
    total.total += c.total;
    if (i < 3) std::printf("  sample: %s\n", one_line(g.prompt + text).c_str());
  }
  std::printf("words generated from \"%s\" at temperature %g (%zu samples of %zu characters): "
              "%zu of %zu (%.1f%%) are words of the corpus\n",
              one_line(g.prompt).c_str(), g.sampling.temperature, g.num_samples, g.length,
              total.known, total.total, total.total ? 100.0 * total.known / total.total : 0.0);
  return 0;
}

}  // namespace tg::baby_lm
