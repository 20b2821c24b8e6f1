// baby_lm's pieces: vocabulary and windows, stateful streams, sampling, the model, checkpoints.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <set>

#include "tapegrad/autograd/tape.hpp"
#include "tapegrad/train/checkpoint.hpp"
#include "tapegrad/train/early_stopping.hpp"
#include "tapegrad/train/files.hpp"
#include "baby_lm/corpus.hpp"
#include "baby_lm/model.hpp"
#include "baby_lm/sample.hpp"
#include "baby_lm/train.hpp"
#include "common/text.hpp"
#include "skip.hpp"
#include "test_support.hpp"

namespace fs = std::filesystem;
using namespace tg;
using namespace tg::baby_lm;
using namespace tg::testing;

namespace {

std::vector<std::int64_t> iota_ids(std::size_t n) {
  std::vector<std::int64_t> ids(n);
  for (std::size_t i = 0; i < n; ++i) ids[i] = static_cast<std::int64_t>(i);
  return ids;
}

const fs::path kSeedCorpus = fs::path(TAPEGRAD_SOURCE_DIR) / "../shared/data/baby/phrases.txt";
const fs::path kShippedCorpus = fs::path(TAPEGRAD_SOURCE_DIR) / "data/baby/phrases.txt";

ModelConfig small_config(std::size_t vocab) {
  ModelConfig c;
  c.vocab = vocab;
  c.embed = 8;
  c.units = 16;
  return c;
}

}  // namespace

// ---- corpus, vocabulary, windows ----------------------------------------------------------

TEST_CASE("the corpus is the file's lines joined with newlines and the vocabulary its sorted "
          "characters",
          "[baby_lm][corpus]") {
  TempDir dir;
  write_text(dir.path / "c.txt", "me want cookie\r\nme see doggy\nuh oh");
  const Corpus c = load_corpus(dir.path / "c.txt");
  CHECK(c.lines == 3);
  CHECK(examples::encode_utf8(c.text) == "me want cookie\nme see doggy\nuh oh");
  CHECK(c.vocab.utf8() == "\n acdeghikmnostuwy");
  REQUIRE(c.ids.size() == c.text.size());
  CHECK(c.vocab.decode(c.ids) == examples::encode_utf8(c.text));
  CHECK(c.vocab.find(U'\n') == 0);
  CHECK(c.vocab.find(U' ') == 1);
  CHECK(c.vocab.find(U'z') == -1);
  CHECK(corpus_words(c.text) ==
        std::vector<std::string>{"cookie", "doggy", "me", "oh", "see", "uh", "want"});

  // A folder: its .txt files in name order.
  write_text(dir.path / "b.txt", "ab");
  fs::create_directory(dir.path / "d");
  write_text(dir.path / "d" / "2.txt", "cd");
  write_text(dir.path / "d" / "1.txt", "ab\n");
  write_text(dir.path / "d" / "notes.md", "zz");
  const Corpus folder = load_corpus(dir.path / "d");
  CHECK(examples::encode_utf8(folder.text) == "ab\ncd");
  CHECK(folder.vocab.utf8() == "\nabcd");

  // Code points, not bytes.
  write_text(dir.path / "u.txt", "né");
  CHECK(load_corpus(dir.path / "u.txt").vocab.size() == 2);

  CHECK_THROWS_WITH(load_corpus(dir.path / "missing.txt"),
                    Catch::Contains("missing.txt") && Catch::Contains("not found"));
  write_text(dir.path / "empty.txt", "\n\n");
  CHECK_THROWS_WITH(load_corpus(dir.path / "empty.txt"),
                    Catch::Contains("empty.txt") && Catch::Contains("empty corpus"));
  fs::create_directory(dir.path / "none");
  CHECK_THROWS_WITH(load_corpus(dir.path / "none"), Catch::Contains("no .txt"));
}

TEST_CASE("the shipped corpus has the 28-character vocabulary", "[baby_lm][corpus]") {
  const Corpus shipped = load_corpus(kShippedCorpus);
  CHECK(shipped.lines == 380);
  CHECK(shipped.vocab.utf8() == "\n abcdefghijklmnopqrstuvwxyz");
  CHECK(window_count(shipped.ids.size(), 15, "shipped") == shipped.ids.size() - 15);
}

// Apart from the shipped corpus's test, so that a missing ../shared skips only this one.
TEST_CASE("the seed corpus has the 28-character vocabulary", "[baby_lm][corpus][shared]") {
  if (!fs::exists(kSeedCorpus))
    TG_SKIP(tg::testing::kNeedsShared, "seed corpus absent (" + kSeedCorpus.string() + ")");
  const Corpus seed = load_corpus(kSeedCorpus);
  CHECK(seed.lines == 130);
  CHECK(seed.vocab.size() == 28);
  CHECK(window_count(seed.ids.size(), 15, "seed") == seed.ids.size() - 15);
}

TEST_CASE("unknown characters are named with their position", "[baby_lm][corpus]") {
  const Vocabulary v = Vocabulary::of_text(U"ab c");
  CHECK(v.utf8() == " abc");
  CHECK(v.encode(U"cab", "x") == std::vector<std::int64_t>{3, 1, 2});
  CHECK_THROWS_WITH(v.encode(U"abZ", "--prompt"),
                    "--prompt: character 'Z' (position 3) is not in the model's vocabulary of 4 "
                    "characters");
  CHECK_THROWS_WITH(v.encode(U"a\tb", "--prompt"), Catch::Contains("U+0009 (tab)"));
  CHECK_THROWS_AS(Vocabulary(U"ba"), Error);
  CHECK_THROWS_AS(Vocabulary(U"aa"), Error);
}

TEST_CASE("window i reads tokens i..i+w-1 and predicts token i+w", "[baby_lm][corpus]") {
  const std::vector<std::int64_t> ids = iota_ids(20);
  CHECK(window_count(20, 15, "c") == 5);
  CHECK_THROWS_WITH(window_count(15, 15, "c.txt"),
                    Catch::Contains("c.txt") && Catch::Contains("at least 16"));
  const std::size_t starts[] = {4, 0, 2};
  Indices in, target;
  fill_windows(ids, 15, starts, 3, in, target);
  CHECK(in.shape == Shape{3, 15});
  CHECK(target.data == std::vector<std::int64_t>{19, 15, 17});
  for (std::size_t r = 0; r < 3; ++r)
    for (std::size_t t = 0; t < 15; ++t) CHECK(in.data[r * 15 + t] == std::int64_t(starts[r] + t));
  const std::size_t bad[] = {5};
  CHECK_THROWS_AS(fill_windows(ids, 15, bad, 1, in, target), Error);
}

TEST_CASE("with every step scored, step t of window i predicts token i+t+1", "[baby_lm][corpus]") {
  const std::vector<std::int64_t> ids = iota_ids(20);
  const std::size_t starts[] = {4, 0};
  Indices in, target;
  fill_windows(ids, 15, starts, 2, in, target, true);
  CHECK(in.shape == Shape{2, 15});
  REQUIRE(target.shape == Shape{30});
  for (std::size_t r = 0; r < 2; ++r)
    for (std::size_t t = 0; t < 15; ++t) {
      CHECK(in.data[r * 15 + t] == std::int64_t(starts[r] + t));
      CHECK(target.data[r * 15 + t] == std::int64_t(starts[r] + t + 1));
    }
  const std::size_t bad[] = {5};
  CHECK_THROWS_AS(fill_windows(ids, 15, bad, 1, in, target, true), Error);
}

TEST_CASE("the last-step score picks each window's last row: its cross-entropy and accuracy",
          "[baby_lm][train]") {
  // Two windows of three steps over four classes; rows 2 and 5 are the windows' last steps.
  const std::vector<double> values = {9, 0, 0, 0,  0, 9, 0, 0,  1, 2, 3, 4,
                                      0, 0, 9, 0,  0, 0, 0, 9,  2, 0, 0, 1};
  const Tensor logits = Tensor::from_vector(values, {6, 4});
  const Indices targets({0, 1, 3, 2, 3, 3}, {6});
  const LastStepScore score = score_last_steps(logits, targets, 3);
  CHECK(score.count == 2);
  CHECK(score.correct == 1);  // row 2: argmax 3 = target; row 5: argmax 0, target 3
  const auto nll = [](std::vector<double> row, std::size_t target) {
    double sum = 0;
    for (double v : row) sum += std::exp(v);
    return std::log(sum) - row[target];
  };
  CHECK(score.loss_sum == Approx(nll({1, 2, 3, 4}, 3) + nll({2, 0, 0, 1}, 3)).epsilon(1e-6));
  const LastStepScore all = score_last_steps(logits, targets, 1);
  CHECK(all.count == 6);
  CHECK(all.correct == 5);
  CHECK_THROWS_WITH(score_last_steps(logits, targets, 4), Catch::Contains("4 steps"));
}

TEST_CASE("each epoch's shuffle is a permutation, reproducible from the seed", "[baby_lm][corpus]") {
  Generator a(7), b(7);
  const auto first = shuffled_order(1000, a);
  CHECK(first == shuffled_order(1000, b));
  auto sorted = first;
  std::sort(sorted.begin(), sorted.end());
  CHECK(sorted == [] {
    std::vector<std::size_t> v(1000);
    for (std::size_t i = 0; i < 1000; ++i) v[i] = i;
    return v;
  }());
  CHECK(first != sorted);
  CHECK(shuffled_order(1000, a) != first);  // the next epoch is shuffled differently
}

TEST_CASE("stateful batches keep every stream contiguous across batches", "[baby_lm][corpus]") {
  const std::vector<std::int64_t> ids = iota_ids(1003);
  const StreamBatches sb(ids, 4, 64, "c");
  const std::size_t L = sb.stream_length();
  CHECK(L == 250);  // (1003 - 1) / 4
  CHECK(sb.batches() == 4);
  CHECK(sb.steps(3) == 250 - 192);
  std::vector<std::vector<std::int64_t>> seen(4), next(4);
  Indices in, target;
  for (std::size_t k = 0; k < sb.batches(); ++k) {
    sb.batch(k, in, target);
    const std::size_t T = sb.steps(k);
    CHECK(in.shape == Shape{4, T});
    CHECK(target.shape == Shape{4, T});
    for (std::size_t b = 0; b < 4; ++b)
      for (std::size_t t = 0; t < T; ++t) {
        seen[b].push_back(in.data[b * T + t]);
        next[b].push_back(target.data[b * T + t]);
      }
  }
  for (std::size_t b = 0; b < 4; ++b) {
    REQUIRE(seen[b].size() == L);
    for (std::size_t t = 0; t < L; ++t) {
      CHECK(seen[b][t] == std::int64_t(b * L + t));  // row b continues where it stopped
      CHECK(next[b][t] == seen[b][t] + 1);           // the target is the next character
    }
  }
  CHECK_THROWS_AS(StreamBatches(iota_ids(4), 4, 8, "c"), Error);
}

// ---- sampling -----------------------------------------------------------------------------

TEST_CASE("temperature 0 is argmax and draws no random numbers", "[baby_lm][sample]") {
  const float logits[] = {0.1f, 2.5f, -1.0f, 2.4f};
  SamplingOptions greedy;
  greedy.temperature = 0;
  Generator gen(3), untouched(3);
  for (int i = 0; i < 20; ++i) CHECK(sample_token(logits, 4, greedy, gen) == 1);
  CHECK(gen.next_u64() == untouched.next_u64());
  const float tie[] = {1.0f, 3.0f, 3.0f};
  CHECK(sample_token(tie, 3, greedy, gen) == 1);  // the first maximum
  CHECK(sampling_distribution(logits, 4, greedy) == std::vector<double>{0, 1, 0, 0});
}

TEST_CASE("at temperature 1 draws follow the softmax", "[baby_lm][sample]") {
  const float logits[] = {1.0f, 2.0f, 0.5f, 3.0f, -1.0f};
  double z = 0;
  for (float l : logits) z += std::exp(double(l));
  SamplingOptions o;
  o.temperature = 1.0;
  Generator gen(11);
  const int n = 200000;
  std::vector<int> counts(5, 0);
  for (int i = 0; i < n; ++i) ++counts[sample_token(logits, 5, o, gen)];
  for (std::size_t i = 0; i < 5; ++i) {
    const double p = std::exp(double(logits[i])) / z;
    const double sigma = std::sqrt(p * (1 - p) / n);
    INFO("token " << i << " p " << p << " observed " << double(counts[i]) / n);
    CHECK(std::abs(double(counts[i]) / n - p) < 5 * sigma);
  }
  // Temperature 2 flattens: the distribution is the softmax of logits / 2.
  o.temperature = 2.0;
  const std::vector<double> flat = sampling_distribution(logits, 5, o);
  double z2 = 0;
  for (float l : logits) z2 += std::exp(double(l) / 2);
  for (std::size_t i = 0; i < 5; ++i) CHECK(flat[i] == Approx(std::exp(logits[i] / 2.0) / z2));
}

TEST_CASE("top-k never samples outside the k most likely", "[baby_lm][sample]") {
  const float logits[] = {0.3f, 1.2f, -0.5f, 0.9f, 1.1f, 0.0f};  // ranks: 1, 4, 3, 0, 5, 2
  SamplingOptions o;
  o.temperature = 1.5;
  o.top_k = 3;
  Generator gen(5);
  std::set<std::size_t> drawn;
  for (int i = 0; i < 5000; ++i) drawn.insert(sample_token(logits, 6, o, gen));
  CHECK(drawn == std::set<std::size_t>{1, 3, 4});
  const std::vector<double> p = sampling_distribution(logits, 6, o);
  CHECK(p[1] + p[3] + p[4] == Approx(1.0));
  CHECK(p[1] / p[4] == Approx(std::exp((1.2 - 1.1) / 1.5)));  // ratios kept
  o.top_k = 1;
  CHECK(sampling_distribution(logits, 6, o)[1] == 1.0);
  o.top_k = 100;  // more than there are: no limit
  for (double v : sampling_distribution(logits, 6, o)) CHECK(v > 0);
}

TEST_CASE("top-p keeps the smallest set of most likely characters reaching p", "[baby_lm][sample]") {
  // Probabilities 0.5, 0.3, 0.15, 0.05.
  const float logits[] = {float(std::log(0.15)), float(std::log(0.5)), float(std::log(0.05)),
                          float(std::log(0.3))};
  SamplingOptions o;
  o.temperature = 1.0;
  const auto kept = [&](double p) {
    o.top_p = p;
    std::set<std::size_t> s;
    const std::vector<double> d = sampling_distribution(logits, 4, o);
    for (std::size_t i = 0; i < 4; ++i)
      if (d[i] > 0) s.insert(i);
    return s;
  };
  CHECK(kept(0.4) == std::set<std::size_t>{1});
  CHECK(kept(0.5) == std::set<std::size_t>{1});
  CHECK(kept(0.51) == std::set<std::size_t>{1, 3});
  CHECK(kept(0.8) == std::set<std::size_t>{1, 3});
  CHECK(kept(0.81) == std::set<std::size_t>{1, 3, 0});
  CHECK(kept(1.0) == std::set<std::size_t>{0, 1, 2, 3});
  o.top_p = 0.8;
  const std::vector<double> d = sampling_distribution(logits, 4, o);
  CHECK(d[1] == Approx(0.5 / 0.8));
  CHECK(d[3] == Approx(0.3 / 0.8));
  Generator gen(1);
  for (int i = 0; i < 2000; ++i) {
    const std::size_t t = sample_token(logits, 4, o, gen);
    CHECK((t == 1 || t == 3));
  }
  o.top_p = 0;
  CHECK_THROWS_WITH(sampling_distribution(logits, 4, o), Catch::StartsWith("--top-p"));
  o.top_p = 1;
  o.temperature = -1;
  CHECK_THROWS_WITH(sampling_distribution(logits, 4, o), Catch::StartsWith("--temperature"));
}

TEST_CASE("generated words are checked against the corpus words", "[baby_lm][sample]") {
  const std::vector<std::string> known = {"cookie", "me", "milk", "want"};
  // "wants" continues the prompt's last word; "mil" is cut off by the length limit.
  WordCount c = count_known_words(U"me want", U"s cookie\nme milk\nme mil", known);
  CHECK(c.total == 5);  // wants cookie me milk me
  CHECK(c.known == 4);
  c = count_known_words(U"me want", U" cookie\n", known);
  CHECK(c.total == 1);
  CHECK(c.known == 1);
  CHECK(count_known_words(U"me want", U"", known).total == 0);
}

// ---- model --------------------------------------------------------------------------------

TEST_CASE("the default model has the seed's layers and PyTorch's parameter count",
          "[baby_lm][model]") {
  Generator gen(0);
  ModelConfig config;
  config.vocab = 28;
  BabyLM model(config, gen);
  // torch: Embedding(28,32), LSTM(32,128), LSTM(128,128), Linear(128,28) -> 219,548 parameters.
  CHECK(model.parameter_count() == 219548);
  std::vector<std::string> names;
  for (const auto& [name, t] : model.named_parameters()) names.push_back(name);
  CHECK(names == std::vector<std::string>{"emb.weight", "lstm1.weight_ih_l0",
                                          "lstm1.weight_hh_l0", "lstm1.bias_ih_l0",
                                          "lstm1.bias_hh_l0", "lstm2.weight_ih_l0",
                                          "lstm2.weight_hh_l0", "lstm2.bias_ih_l0",
                                          "lstm2.bias_hh_l0", "fc.weight", "fc.bias"});
  const std::string summary = model.summary({32, 15});
  CHECK_THAT(summary, Catch::Contains("Total params: 219,548") &&
                          Catch::Contains("lstm2 (LSTM)      [32,128]") &&
                          Catch::Contains("drop1 (Dropout)"));
  const LmOutput out = model.forward(Indices(std::vector<std::int64_t>(32 * 15, 3), {32, 15}),
                                     {}, false);
  CHECK(out.logits.shape() == Shape{32, 28});
  REQUIRE(out.state.size() == 2);
  CHECK(out.state[1].c.shape() == Shape{1, 32, 128});
}

TEST_CASE("stepping one character at a time with the state carried equals reading the whole "
          "sequence",
          "[baby_lm][model]") {
  Generator gen(1);
  ModelConfig config = small_config(9);
  config.layers = 3;
  BabyLM model(config, gen);
  model.eval();
  NoGradGuard no_grad;
  const std::vector<std::int64_t> ids = {1, 4, 0, 8, 8, 2, 5, 3, 7, 6, 1, 1};
  const LmOutput whole = model.forward(Indices(ids, {1, ids.size()}), {}, true);
  REQUIRE(whole.logits.shape() == Shape{ids.size(), 9});
  LmState state;
  for (std::size_t t = 0; t < ids.size(); ++t) {
    const LmOutput step = model.forward(Indices({ids[t]}, {1, 1}), state, false);
    state = step.state;
    for (std::size_t v = 0; v < 9; ++v)
      CHECK(step.logits.value<float>()(0, v) ==
            Approx(whole.logits.value<float>()(t, v)).margin(1e-5));
  }
}

TEST_CASE("early stopping keeps the best weights and stops after patience epochs",
          "[baby_lm][train]") {
  Generator gen(2);
  BabyLM model(small_config(5), gen);
  const Tensor w = model.named_parameters().back().second;  // fc.bias
  tg::train::EarlyStopTracker stop(2);
  w.mutable_value<float>().fill(1.0f);
  CHECK(stop.update(1.0, 1, model));
  w.mutable_value<float>().fill(2.0f);
  CHECK(!stop.update(1.5, 2, model));
  CHECK(!stop.should_stop());
  CHECK(!stop.update(1.0, 3, model));  // equal is no improvement
  CHECK(stop.should_stop());
  stop.restore(model);
  CHECK(w.value<float>()(0) == 1.0f);
  CHECK(stop.best_epoch() == 1);
}

// ---- checkpoints --------------------------------------------------------------------------

TEST_CASE("a checkpoint round trip generates identical text with the same seed",
          "[baby_lm][checkpoint]") {
  TempDir dir;
  const Vocabulary vocab = Vocabulary::of_text(U"me want cookie\nme see doggy");
  Generator init(4);
  BabyLM model(small_config(vocab.size()), init);
  // A few training steps, so that the weights are not just the initialisation.
  optim::Adam adam(model.named_parameters(), optim::AdamOptions{1e-2});
  const std::vector<std::int64_t> ids = vocab.encode(U"me want cookie\nme see doggy", "t");
  for (int i = 0; i < 5; ++i) {
    const LmOutput out = model.forward(Indices(ids, {1, ids.size()}), {}, true);
    std::vector<std::int64_t> next(ids.begin() + 1, ids.end());
    next.push_back(ids[0]);
    const Tensor loss = cross_entropy(out.logits, Indices(next));
    adam.zero_grad();
    loss.backward();
    adam.step();
  }
  RunInfo info;
  info.model = model.config();
  info.vocab = vocab;
  info.window = 7;
  info.corpus = "some/corpus.txt";
  info.extra["seed"] = "4";
  const std::string path = (dir.path / "model.npz").string();
  save_model(path, model, &adam, &init, info);

  const LoadedModel loaded = load_model(path);
  CHECK(loaded.info.vocab.chars() == vocab.chars());
  CHECK(loaded.info.model.units == 16);
  CHECK(loaded.info.model.embed == 8);
  CHECK(loaded.info.model.dropout == 0.2);
  CHECK(loaded.info.window == 7);
  CHECK(loaded.info.mode == "window");
  CHECK(loaded.info.corpus == "some/corpus.txt");
  CHECK(loaded.info.extra.at("seed") == "4");
  SamplingOptions o;
  o.temperature = 1.0;
  Generator a(99), b(99), c(100);
  const std::string original = generate(model, vocab, "me ", 80, o, a);
  const std::string restored = generate(*loaded.model, loaded.info.vocab, "me ", 80, o, b);
  CHECK(original.size() == 80);
  CHECK(restored == original);
  CHECK(generate(*loaded.model, loaded.info.vocab, "me ", 80, o, c) != original);
  CHECK(model.is_training());  // generation restores the mode
  // Any prompt length, even empty (a new line) or longer than the training window.
  CHECK(generate(model, vocab, "", 5, o, a).size() == 5);
  CHECK(generate(model, vocab, "me want cookie me see doggy", 5, o, a).size() == 5);
  CHECK_THROWS_WITH(generate(model, vocab, "me want pizza", 5, o, a),
                    Catch::Contains("'p'") && Catch::Contains("--prompt"));
}

TEST_CASE("bad checkpoints are refused naming the file and the problem", "[baby_lm][checkpoint]") {
  TempDir dir;
  const Vocabulary vocab = Vocabulary::of_text(U"abc");
  Generator gen(0);
  BabyLM model(small_config(3), gen);
  RunInfo info;
  info.model = model.config();
  info.vocab = vocab;
  const fs::path good = dir.path / "good.npz";
  save_model(good.string(), model, nullptr, nullptr, info);

  const std::string bytes = tg::train::read_file(good);
  const fs::path truncated = dir.path / "truncated.npz";
  write_text(truncated, bytes.substr(0, bytes.size() / 2));
  CHECK_THROWS_WITH(load_model(truncated.string()), Catch::Contains("truncated.npz"));
  const fs::path garbage = dir.path / "garbage.npz";
  write_text(garbage, "this is not a zip file at all");
  CHECK_THROWS_WITH(load_model(garbage.string()), Catch::Contains("garbage.npz"));
  CHECK_THROWS_WITH(load_model((dir.path / "none.npz").string()), Catch::Contains("none.npz"));

  const fs::path other = dir.path / "other.npz";
  tg::train::save_checkpoint(other.string(), model, nullptr, nullptr, {"name_language", {}});
  CHECK_THROWS_WITH(load_model(other.string()),
                    Catch::Contains("other.npz") && Catch::Contains("name_language checkpoint"));

  // Metadata that does not match the weights, or is not a number.
  nn::Archive archive = nn::load_npz(good.string());
  archive.strings["meta.units"] = "17";
  nn::save_npz((dir.path / "units.npz").string(), archive);
  CHECK_THROWS_WITH(load_model((dir.path / "units.npz").string()),
                    Catch::Contains("units.npz") &&
                        Catch::Contains("its metadata describes a model of 4362 parameters"));
  archive.strings["meta.units"] = "many";
  nn::save_npz((dir.path / "nan.npz").string(), archive);
  CHECK_THROWS_WITH(load_model((dir.path / "nan.npz").string()),
                    Catch::Contains("meta.units is 'many'"));
}
