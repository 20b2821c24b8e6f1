// name_language example: class weights, logit adjustment, metrics, the model, training, CLI errors,
// end to end (the loader, split, vocabulary and batches: test_name_language_data.cpp).
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <map>
#include <numeric>
#include <set>
#include <sstream>

#include "tapegrad/autograd/ops.hpp"
#include "tapegrad/autograd/tape.hpp"
#include "tapegrad/nn/linear.hpp"
#include "tapegrad/train/checkpoint.hpp"
#include "tapegrad/train/files.hpp"
#include "common/text.hpp"
#include "name_language/commands.hpp"
#include "name_language/data.hpp"
#include "name_language/evaluate.hpp"
#include "name_language/model.hpp"
#include "name_language/train.hpp"
#include "name_language_support.hpp"
#include "skip.hpp"
#include "test_support.hpp"

namespace fs = std::filesystem;
using namespace tg::examples;
using namespace tg::examples::names;
using namespace tg::testing;

namespace {

// Runs the name_language program with `args` in `cwd`, capturing both streams.
RunResult run_program(const std::vector<std::string>& args, const fs::path& cwd) {
  std::string command = shell_quote(NAME_LANGUAGE_BIN);
  for (const std::string& a : args) command += " " + shell_quote(a);
  return run_shell(command, cwd);
}

bool one_line(const std::string& s) {
  return !s.empty() && s.back() == '\n' && std::count(s.begin(), s.end(), '\n') == 1;
}

bool contains(const std::string& s, const std::string& what) { return s.find(what) != std::string::npos; }

}  // namespace

TEST_CASE("class weights: 1/n^power, mean weight 1 over the examples", "[name_language][train]") {
  CHECK(class_weights({100, 25}, ClassWeights::None).empty());
  const auto s = class_weights({100, 25}, ClassWeights::Sqrt);
  CHECK(s[1] / s[0] == Approx(2.0));
  CHECK((100 * s[0] + 25 * s[1]) / 125 == Approx(1.0));
  const auto inv = class_weights({100, 25}, ClassWeights::Inverse);
  CHECK(inv[1] / inv[0] == Approx(4.0));
  CHECK((100 * inv[0] + 25 * inv[1]) / 125 == Approx(1.0));
  const auto quarter = class_weights({160, 10}, parse_class_weights("0.25"));
  CHECK(quarter[1] / quarter[0] == Approx(2.0));
  CHECK(parse_class_weights("sqrt") == ClassWeights::Sqrt);
  CHECK(to_string(parse_class_weights("0.25")) == "0.25");
  CHECK(to_string(ClassWeights::Inverse) == "inverse");
  CHECK_THROWS_WITH(parse_class_weights("1.5"), Catch::Contains("between 0 and 1"));
  CHECK_THROWS_WITH(parse_class_weights("balanced"), Catch::Contains("'balanced'"));
}

TEST_CASE("logit adjustment: tau x log of the training shares, added to every member's logits "
          "before its loss", "[name_language][train]") {
  CHECK(logit_adjustment({30, 10}, 0).empty());
  const std::vector<double> bias = logit_adjustment({30, 10, 0}, 0.5);
  REQUIRE(bias.size() == 3);
  CHECK(bias[0] == Approx(0.5 * std::log(0.75)));
  CHECK(bias[1] == Approx(0.5 * std::log(0.25)));
  CHECK(bias[2] == Approx(bias[1]));  // absent from training: the smallest present class's
  CHECK_THROWS_WITH(logit_adjustment({0, 0}, 0.5), Catch::Contains("no training examples"));

  // Two members, three names: the loss is the sum of each member's cross-entropy of its logits
  // plus the bias, computed here by hand; without a bias, of the logits themselves.
  const auto f64 = [](const std::vector<double>& values, const tg::Shape& shape) {
    return tg::Tensor::from_vector(values, shape, tg::DType::Float64);
  };
  const tg::Tensor a = f64({0.2, -1.0, 0.5, 0.3, 1.5, 0.0}, {3, 2});
  const tg::Tensor b = f64({-0.4, 0.9, 2.0, 0.1, 0.0, 0.7}, {3, 2});
  const std::vector<std::int64_t> y{1, 0, 1};
  const std::vector<double> shift = logit_adjustment({30, 10}, 0.5);
  const auto by_hand = [&](const std::vector<double>& bias) {
    double total = 0;
    for (const tg::Tensor* member : {&a, &b})
      for (std::size_t i = 0; i < 3; ++i) {
        const double z0 = member->value<double>()(i, 0) + bias[0];
        const double z1 = member->value<double>()(i, 1) + bias[1];
        const double zy = y[i] == 0 ? z0 : z1;
        total += (std::log(std::exp(z0) + std::exp(z1)) - zy) / 3;
      }
    return total;
  };
  const tg::CrossEntropyOptions options;
  CHECK(members_loss({a, b}, tg::Indices(y), options, f64(shift, {2})).item() ==
        Approx(by_hand(shift)).epsilon(1e-12));
  CHECK(members_loss({a, b}, tg::Indices(y), options, tg::Tensor()).item() ==
        Approx(by_hand({0, 0})).epsilon(1e-12));
}

TEST_CASE("evaluation: accuracy, macro accuracy, precision and recall", "[name_language][eval]") {
  Evaluation e(3);
  // 8 of class 0 (6 right), 2 of class 1 (1 right), none of class 2.
  for (int i = 0; i < 6; ++i) e.add(0, 0);
  e.add(0, 1);
  e.add(0, 2);
  e.add(1, 1);
  e.add(1, 0);
  CHECK(e.accuracy() == Approx(0.7));
  CHECK(e.recall(0) == Approx(0.75));
  CHECK(e.recall(1) == Approx(0.5));
  CHECK(std::isnan(e.recall(2)));
  CHECK(e.macro_accuracy() == Approx(0.625));  // classes without support are left out
  CHECK(e.precision(0) == Approx(6.0 / 7));
  CHECK(e.precision(2) == Approx(0.0));
  const std::vector<std::string> labels{"Aa", "Bb", "Cc"};
  const std::string confusions = top_confusions(e, labels);
  INFO(confusions);
  CHECK(contains(confusions, "Aa   -> Bb        1  (12.5% of Aa)"));
  const std::string table = confusion_table(e, labels);
  INFO(table);
  // Header cells line up with the counts under them.
  CHECK(contains(table, "true \\ predicted   Aa  Bb  Cc\n"));
  CHECK(contains(table, "\nAa                  6   1   1\n"));
  CHECK(contains(per_class_table(e, labels), "Bb              2      50.0%   50.0%"));
  CHECK(summary_line(e) == "accuracy 70.0% (7/10), macro accuracy 62.5%, loss 0.0000");

  // Names of several languages: a prediction of one of the name's other languages is wrong for
  // accuracy, right for the any-language reading, which the summary then adds.
  e.add(1, 0, {1, 0});  // wrong, but the data list the name under class 0 too
  e.add(1, 2, {1, 0});  // wrong either way
  e.add(2, 2, {2, 1});  // right
  CHECK(e.accuracy() == Approx(8.0 / 13));
  CHECK(e.any_language_accuracy() == Approx(9.0 / 13));
  CHECK(e.multi_language() == 3);
  CHECK(summary_line(e) == "accuracy 61.5% (8/13), macro accuracy 66.7%, loss 0.0000; 69.2% with "
                           "a name's other languages counted right (3 names of several "
                           "languages)");
}

TEST_CASE("model: logits per name, padding does not change a name's result, metadata round trip",
          "[name_language][model]") {
  for (const std::string cell : {"rnn", "lstm", "gru"}) {
    for (std::size_t embedding : {0, 8}) {
      INFO(cell << ", embedding " << embedding << (cell == "gru" ? ", n-grams" : "")
                << (embedding > 0 ? ", concat pooling" : ""));
      ModelConfig c;
      if (embedding > 0) {
        // The maximum and mean over the steps must read each name up to its own length too.
        c.pooling = Pooling::Concat;
        c.input_dropout = 0.25;
      }
      if (cell == "gru") {
        c.ngrams = 3;
        c.ngram_buckets = 7;  // collisions: rows shared by many n-grams
      }
      c.cell = cell;
      c.bidirectional = embedding > 0;  // the reverse direction starts at each name's own end
      c.hidden = 16;
      c.layers = 2;
      c.embedding = embedding;
      c.vocabulary = Vocabulary::for_charset(Charset::Ascii, {});
      c.labels = {"A", "B", "C"};
      tg::Generator gen(1);
      NameClassifier model(c, gen);
      CHECK(parameter_estimate(c) == double(model.parameter_count()));
      model.eval();
      tg::NoGradGuard no_grad;
      const tg::Tensor both = model.forward(make_batch({{5, 6, 7, 8, 9}, {3, 4}}, {0, 1}));
      CHECK(both.shape() == tg::Shape{2, 3});
      const tg::Tensor alone = model.forward(make_batch({{3, 4}}, {1}));
      for (std::size_t k = 0; k < 3; ++k)
        CHECK(both.value()(1, k) == Approx(alone.value()(0, k)).margin(1e-5));

      // Rebuilt from its metadata alone, the model has the same parameter names and shapes.
      const ModelConfig back = config_from_meta(to_meta(c), "x.npz");
      tg::Generator other(2);
      NameClassifier rebuilt(back, other);
      rebuilt.load_state_dict(model.state_dict());
      rebuilt.eval();
      const tg::Tensor again = rebuilt.forward(make_batch({{3, 4}}, {1}));
      CHECK(again.to_vector() == alone.to_vector());
    }
  }
  auto meta = to_meta(ModelConfig{"gru", 8, 1, false, 0, 0.0, Charset::Ascii,
                                  Vocabulary::for_charset(Charset::Ascii, {}), {"A", "B"}});
  meta.erase("hidden");
  CHECK_THROWS_WITH(config_from_meta(meta, "m.npz"), Catch::Contains("m.npz") && Catch::Contains("meta.hidden"));
  meta["hidden"] = "-3";
  CHECK_THROWS_WITH(config_from_meta(meta, "m.npz"), Catch::Contains("not a size"));
  meta["hidden"] = "8";
  meta["model"] = "transformer";
  CHECK_THROWS_WITH(config_from_meta(meta, "m.npz"), Catch::Contains("transformer"));
  meta["model"] = "gru";
  meta["pooling"] = "attention";
  CHECK_THROWS_WITH(config_from_meta(meta, "m.npz"),
                    "m.npz: meta.pooling 'attention' (expected last or concat)");
  // Checkpoints of builds before these options read the final states, without input dropout.
  meta.erase("pooling");
  meta.erase("input_dropout");
  const ModelConfig older = config_from_meta(meta, "m.npz");
  CHECK(older.pooling == Pooling::Last);
  CHECK(older.input_dropout == 0.0);
}

TEST_CASE("n-gram rows: every 1- to N-gram of the marked name, hashed, 0 padding, the counts",
          "[name_language][model]") {
  // Vocabulary size V = 58: marks 58 (start) and 59 (end), radix 60.
  const NgramRows g = ngram_rows(make_batch({{5, 6}, {3}}, {0, 0}), 58, 2, 1000);
  CHECK(g.counts == std::vector<double>{7, 5});  // 4 + 3 and 3 + 2 of [58 5 6 59] and [58 3 59]
  REQUIRE(g.rows.shape == tg::Shape{2, 7});
  // Unigrams 1 * 60 + s, bigrams (2 * 60 + s0) * 60 + s1; row 1 + code mod 1000.
  CHECK(g.rows.data == std::vector<std::int64_t>{119, 66, 67, 120, 686, 507, 620,  //
                                                 119, 64, 120, 684, 440, 0, 0});
  // Codes that would overflow int64 are refused rather than wrapped.
  CHECK_THROWS_WITH(ngram_rows(make_batch({{1}}, {0}), 1000, 8, 7), Catch::Contains("overflow"));
}

TEST_CASE("the n-gram member learns as a model of its own: one loss per member",
          "[name_language][model]") {
  ModelConfig c;
  c.hidden = 4;
  c.ngrams = 2;
  c.ngram_buckets = 11;
  c.vocabulary = Vocabulary::for_charset(Charset::Ascii, {});
  c.labels = {"A", "B"};
  tg::Generator gen(1);
  NameClassifier model(c, gen);
  model.eval();
  const Batch batch = make_batch({{5, 6, 7}, {3, 4}}, {0, 1});
  const std::vector<tg::Tensor> members = model.member_logits(batch);
  REQUIRE(members.size() == 2);
  // forward is the log of the members' mean softmax (no prior shift here).
  const tg::Tensor mixed = model.forward(batch);
  const tg::Tensor p0 = tg::softmax(members[0], 1), p1 = tg::softmax(members[1], 1);
  for (std::size_t b = 0; b < 2; ++b)
    for (std::size_t k = 0; k < 2; ++k)
      CHECK(std::exp(mixed.value()(b, k)) ==
            Approx((p0.value()(b, k) + p1.value()(b, k)) / 2).epsilon(1e-5));
  // The n-gram member's loss reaches its table and nothing else; row 0 (padding) stays untouched.
  tg::cross_entropy(members[1], tg::Indices(batch.labels)).backward();
  for (const auto& [name, p] : model.named_parameters()) {
    INFO(name);
    const bool reached = p.has_grad() && xt::amax(xt::abs(p.grad()))() > 0;
    CHECK(reached == (name == "ngram_table"));
  }
  const auto& grad = model.ngram_table().grad();
  for (std::size_t k = 0; k < 2; ++k) CHECK(grad(0, k) == 0.0f);
}

TEST_CASE("prior shift: probabilities divided by the training shares to the power A, kept in "
          "the metadata", "[name_language][model]") {
  ModelConfig c;
  c.hidden = 4;
  c.vocabulary = Vocabulary::for_charset(Charset::Ascii, {});
  c.labels = {"A", "B", "C"};
  c.class_counts = {60, 30, 10};
  tg::Generator gen(1);
  NameClassifier plain(c, gen);
  c.prior_shift = 0.5;
  const ModelConfig back = config_from_meta(to_meta(c), "x.npz");
  CHECK(back.prior_shift == 0.5);
  CHECK(back.class_counts == c.class_counts);
  tg::Generator other(2);
  NameClassifier shifted(back, other);
  shifted.load_state_dict(plain.state_dict());
  plain.eval();
  shifted.eval();
  tg::NoGradGuard no_grad;
  const Batch batch = make_batch({{5, 6, 7}, {3, 4}}, {0, 1});
  const tg::Tensor p = tg::softmax(plain.forward(batch), 1);
  const tg::Tensor q = tg::softmax(shifted.forward(batch), 1);
  const double share[] = {0.6, 0.3, 0.1};
  for (std::size_t b = 0; b < 2; ++b) {
    double total = 0;
    for (std::size_t k = 0; k < 3; ++k) total += p.value()(b, k) / std::sqrt(share[k]);
    for (std::size_t k = 0; k < 3; ++k)
      CHECK(q.value()(b, k) == Approx(p.value()(b, k) / std::sqrt(share[k]) / total).epsilon(1e-5));
  }
  auto meta = to_meta(c);
  meta["class_counts"] = "60\n30";
  CHECK_THROWS_WITH(config_from_meta(meta, "m.npz"),
                    Catch::Contains("m.npz") && Catch::Contains("meta.class_counts holds 2 counts"));
  meta["class_counts"] = "60\nmany\n10";
  CHECK_THROWS_WITH(config_from_meta(meta, "m.npz"), Catch::Contains("'many', not a count"));
  meta = to_meta(c);
  meta["prior_shift"] = "3";
  CHECK_THROWS_WITH(config_from_meta(meta, "m.npz"), Catch::Contains("meta.prior_shift is 3"));
}

TEST_CASE("training a few epochs on data/ lowers the loss and beats the majority class",
          "[name_language][train]") {
  const Dataset d = load_names(kShippedNames, Charset::Ascii);
  const Split s = stratified_split(d, 1);
  ModelConfig c;
  c.embedding = 16;
  c.hidden = 32;
  c.vocabulary = Vocabulary::for_charset(Charset::Ascii, {});
  c.labels = d.labels;
  tg::Generator gen(1);
  NameClassifier model(c, gen);
  TrainOptions o;
  o.epochs = 6;
  o.batch = 32;
  o.lr = 0.01;
  std::FILE* sink = std::tmpfile();
  const TrainResult r = train_model(model, encode_examples(d, s.train, c.vocabulary),
                                    encode_examples(d, s.validation, c.vocabulary), o, gen, {}, sink);
  std::fclose(sink);
  REQUIRE(r.history.size() == 6);
  CHECK(r.history.back().train_loss < 0.8 * r.history.front().train_loss);
  CHECK(r.best_val_accuracy > 0.2);  // 18 balanced languages: the majority class is ~6%
  CHECK(!model.is_training());
}

TEST_CASE("CLI: bad input is one line on stderr, exit code 2, nothing overwritten",
          "[name_language][cli]") {
  TempDir dir;
  auto expect_error = [&](const std::vector<std::string>& args, const std::string& what) {
    const RunResult r = run_program(args, dir.path);
    INFO("stderr: " << r.err);
    CHECK(r.code == 2);
    CHECK(one_line(r.err));
    CHECK(contains(r.err, "name_language: error: "));
    CHECK(contains(r.err, what));
  };
  fs::create_directories(dir.path / "empty");
  fs::create_directories(dir.path / "one");
  write_text(dir.path / "one" / "Solo.txt", "Name\n");
  fs::create_directories(dir.path / "bad");
  write_text(dir.path / "bad" / "Good.txt", "Name\n");
  write_text(dir.path / "bad" / "Broken.txt", "Ok\nAlso ok\nM\xFCller\n");
  expect_error({"train", "--data", "nowhere"}, "'nowhere' does not exist");
  expect_error({"train", "--data", "empty"}, "holds no <Language>.txt files");
  expect_error({"train", "--data", "one"}, "only one language (Solo.txt)");
  expect_error({"train", "--data", "bad"}, "Broken.txt:3: invalid UTF-8");
  expect_error({"train", "--model", "transformer"}, "--model");
  expect_error({"train", "--epochs", "-3"}, "--epochs");
  expect_error({"train", "--bogus"}, "--bogus");
  expect_error({}, "subcommand");
  {
    // 300 distinct characters: the codes of their 8-grams would overflow int64.
    fs::create_directories(dir.path / "wide");
    std::string a, b;
    for (char32_t c = 0x4E00; c < 0x4E00 + 300; ++c) (c % 2 ? a : b) += encode_utf8(c) + "\n";
    write_text(dir.path / "wide" / "A.txt", a);
    write_text(dir.path / "wide" / "B.txt", b);
    expect_error({"train", "--data", "wide", "--charset", "unicode", "--ngrams", "8"},
                 "--ngrams 8: the codes of 8-grams over the ");
  }
  CHECK(!fs::exists(dir.path / "runs"));  // no failed run left a folder behind

  write_text(dir.path / "corrupt.npz", "PK\x03\x04 this is not really a zip archive");
  expect_error({"eval", "--checkpoint", "corrupt.npz"}, "corrupt.npz");
  expect_error({"predict", "--checkpoint", "missing.npz", "Smith"}, "missing.npz");
  {
    // A checkpoint of the other example.
    tg::nn::Linear layer(2, 2);
    tg::train::save_checkpoint((dir.path / "baby.npz").string(), layer, nullptr, nullptr,
                               {"baby_lm", {}});
  }
  expect_error({"predict", "--checkpoint", "baby.npz", "Smith"}, "baby_lm checkpoint, not a name_language");
  expect_error({"eval", "--checkpoint", "baby.npz"}, "baby.npz");

  // An existing run is not overwritten.
  fs::create_directories(dir.path / "run");
  write_text(dir.path / "run" / "model.npz", "precious");
  expect_error({"train", "--data", kShippedNames.string(), "--out", "run", "--epochs", "1"},
               "already holds a checkpoint");
  CHECK(read_text(dir.path / "run" / "model.npz") == "precious");
}

TEST_CASE("CLI: --help documents every flag", "[name_language][cli]") {
  TempDir dir;
  const RunResult top = run_program({"--help"}, dir.path);
  CHECK(top.code == 0);
  for (const char* sub : {"train", "eval", "predict"}) CHECK(contains(top.out, sub));
  const RunResult train = run_program({"train", "--help"}, dir.path);
  CHECK(train.code == 0);
  for (const char* flag :
       {"--data", "--charset", "--model", "--hidden", "--layers", "--embedding", "--dropout",
        "--optimizer", "--lr ", "--lr-decay", "--momentum", "--weight-decay", "--clip",
        "--class-weights", "--sampling", "--epochs", "--batch", "--patience", "--time-limit",
        "--seed", "--threads", "--out", "--overwrite", "--bidirectional", "--average",
        "--input-dropout", "--pooling"})
    CHECK(contains(train.out, flag));
  const RunResult predict = run_program({"predict", "--help"}, dir.path);
  for (const char* flag : {"--checkpoint", "--top", "names"}) CHECK(contains(predict.out, flag));
  const RunResult eval = run_program({"eval", "--help"}, dir.path);
  for (const char* flag : {"--checkpoint", "--data", "--part"}) CHECK(contains(eval.out, flag));
}

TEST_CASE("end to end: train on data/, the loss falls, eval and predict from the checkpoint",
          "[name_language][e2e]") {
  TempDir dir;
  const RunResult train = run_program({"train", "--data", kShippedNames.string(), "--epochs", "3",
                                       "--hidden", "32", "--out", "run", "--seed", "5"},
                                      dir.path);
  INFO(train.out << train.err);
  REQUIRE(train.code == 0);
  const fs::path run = dir.path / "run";
  for (const char* file : {"model.npz", "metrics.csv", "curves.svg", "confusion.svg", "split.csv",
                           "report.txt"})
    CHECK(fs::exists(run / file));
  CHECK(contains(train.out, "test: accuracy"));
  CHECK(contains(train.out, "macro accuracy"));
  CHECK(contains(train.out, "most common confusions"));

  // metrics.csv: one row per epoch; the training loss fell.
  const auto rows = tg::train::read_lines(run / "metrics.csv");
  REQUIRE(rows.size() == 4);
  auto cell = [&](std::size_t row, std::size_t column) {
    std::stringstream ss(rows.at(row));
    std::string item;
    for (std::size_t i = 0; i <= column; ++i) std::getline(ss, item, ',');
    return item;
  };
  REQUIRE(cell(0, 3) == "train_loss");
  CHECK(std::stod(cell(3, 3)) < std::stod(cell(1, 3)));

  // The checkpoint holds everything eval and predict need.
  const tg::nn::Archive archive = tg::nn::load_npz((run / "model.npz").string());
  const tg::train::CheckpointMeta meta =
      tg::train::read_checkpoint_meta(archive, "model.npz", "name_language");
  for (const char* key : {"model", "hidden", "layers", "embedding", "vocabulary", "labels", "charset",
                          "seed", "data", "test_accuracy"})
    CHECK(meta.text.count(key) == 1);

  const RunResult eval = run_program({"eval", "--checkpoint", "run/model.npz"}, dir.path);
  INFO(eval.err);
  CHECK(eval.code == 0);
  // Same split, same weights: eval reproduces the test accuracy train printed.
  const std::string line = train.out.substr(train.out.find("test: accuracy"));
  CHECK(contains(eval.out, line.substr(6, line.find('\n') - 6)));

  const RunResult predict = run_program(
      {"predict", "--checkpoint", "run/model.npz", "Rodrigo", "Nguyen", "Schmidt", "\xC3\x98ster"},
      dir.path);
  INFO(predict.err);
  CHECK(predict.code == 0);
  CHECK(std::count(predict.out.begin(), predict.out.end(), '%') == 12);  // 4 names x top 3
  CHECK(contains(predict.out, "Rodrigo\n"));
  CHECK(contains(predict.err, "warning"));  // Ø is outside the ASCII alphabet
  CHECK(contains(predict.err, "\xC3\x98"));

  // The prior shift chosen at prediction time: the default (0) answers as trained, another value
  // otherwise; the same value is the same answer.
  const auto top18 = [&](const std::string& shift) {
    std::vector<std::string> args{"predict", "--checkpoint", "run/model.npz", "--top", "18",
                                  "Rodrigo"};
    if (!shift.empty()) args.insert(args.end(), {"--prior-shift", shift});
    const RunResult r = run_program(args, dir.path);
    INFO(r.err);
    CHECK(r.code == 0);
    return r.out;
  };
  CHECK(top18("") == top18("0"));
  CHECK(top18("0.2") != top18("0"));
  const RunResult shifted = run_program(
      {"eval", "--checkpoint", "run/model.npz", "--prior-shift", "0.6"}, dir.path);
  INFO(shifted.err);
  CHECK(shifted.code == 0);
  CHECK(contains(shifted.out, "prior shift 0.6"));

  // A checkpoint from before the option has no counts to shift by: one line, exit code 2.
  tg::nn::Archive older = tg::nn::load_npz((run / "model.npz").string());
  older.strings.erase("meta.prior_shift");
  older.strings.erase("meta.class_counts");
  tg::nn::save_npz((run / "older.npz").string(), older);
  CHECK(run_program({"predict", "--checkpoint", "run/older.npz", "Rodrigo"}, dir.path).code == 0);
  const RunResult refused = run_program(
      {"predict", "--checkpoint", "run/older.npz", "--prior-shift", "0.3", "Rodrigo"}, dir.path);
  CHECK(refused.code == 2);
  CHECK(std::count(refused.err.begin(), refused.err.end(), '\n') == 1);
  CHECK(contains(refused.err, "run/older.npz: the checkpoint has no training count per language"));

}

TEST_CASE("eval recomputes the split the checkpoint records, by pair for older checkpoints",
          "[name_language][e2e]") {
  // 20 names of A only, 20 of B only, 4 of both: by name 6 test pairs (2 + 2 + one shared name's
  // 2), by pair 4 (2 of A's 24 pairs, 2 of B's).
  TempDir dir;
  fs::create_directories(dir.path / "names");
  write_text(dir.path / "names" / "A.txt", letter_names("Aname", 20) + letter_names("Both", 4));
  write_text(dir.path / "names" / "B.txt", letter_names("Bname", 20) + letter_names("Both", 4));
  const RunResult train =
      run_program({"train", "--data", "names", "--epochs", "1", "--hidden", "8", "--embedding", "4",
                   "--ngrams", "2", "--ngram-buckets", "7", "--out", "run"},
                  dir.path);
  INFO(train.out << train.err);
  REQUIRE(train.code == 0);
  CHECK(contains(train.out, "split: 36 train / 6 validation / 6 test pairs (stratified, by name)"));
  const RunResult eval = run_program({"eval", "--checkpoint", "run/model.npz"}, dir.path);
  INFO(eval.err);
  CHECK(eval.code == 0);
  CHECK(contains(eval.out, "test part: 6 names"));
  tg::nn::Archive older = tg::nn::load_npz((dir.path / "run" / "model.npz").string());
  older.strings.erase("meta.split");
  tg::nn::save_npz((dir.path / "run" / "older.npz").string(), older);
  const RunResult older_eval = run_program({"eval", "--checkpoint", "run/older.npz"}, dir.path);
  INFO(older_eval.err);
  CHECK(older_eval.code == 0);
  CHECK(contains(older_eval.out, "test part: 4 names"));
  older.strings["meta.split"] = "people";
  tg::nn::save_npz((dir.path / "run" / "older.npz").string(), older);
  const RunResult refused = run_program({"eval", "--checkpoint", "run/older.npz"}, dir.path);
  CHECK(refused.code == 2);
  CHECK(one_line(refused.err));
  CHECK(contains(refused.err, "run/older.npz: meta.split is 'people', not names or pairs"));
}
