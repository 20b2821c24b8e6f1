// The examples' `export` subcommands: each exported file passes ONNX's checker, and ONNX Runtime
// gives what tapegrad computes from the same checkpoint (max abs diff <= 1e-5) on 100 inputs,
// names and texts of varying lengths.
#include <catch2/catch.hpp>

#include <tapegrad.hpp>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <sstream>
#include <tuple>

#include "baby_lm/model.hpp"
#include "name_language/commands.hpp"
#include "seq2seq/commands.hpp"
#include "seq2seq/model.hpp"
#include "name_language/data.hpp"
#include "tests/name_language_support.hpp"
#include "tests/onnx_support.hpp"

namespace {

namespace fs = std::filesystem;
using namespace tg;
using tg::testing::kShippedNames;
using tg::testing::RunResult;
using tg::testing::shell_quote;
using tg::testing::TempDir;
namespace ort = tg::testing::onnx_runtime;

RunResult run(const std::string& program, const std::vector<std::string>& args,
              const fs::path& cwd) {
  std::string command = shell_quote(program);
  for (const std::string& a : args) command += " " + shell_quote(a);
  return tg::testing::run_shell(command, cwd);
}

// Trains `program` (`train_args` after "train") into dir/run, which must succeed, then exports
// run/model.npz to `out`; the export's result is the caller's to check.
RunResult train_then_export(const std::string& program, std::vector<std::string> train_args,
                            const std::string& out, const fs::path& dir) {
  train_args.insert(train_args.begin(), "train");
  train_args.insert(train_args.end(), {"--out", "run"});
  const RunResult trained = run(program, train_args, dir);
  INFO(trained.out << trained.err);
  REQUIRE(trained.code == 0);
  return run(program, {"export", "--checkpoint", "run/model.npz", "--out", out}, dir);
}

// A feed of int64 ids [B, T] from a time-major batch [T, B].
ort::Feed batch_major_ids(const Indices& ids) {
  const std::size_t T = ids.shape.at(0), B = ids.shape.at(1);
  ort::Feed f{"ids", "int64", {B, T}, {}};
  for (std::size_t b = 0; b < B; ++b)
    for (std::size_t t = 0; t < T; ++t) f.data.push_back(static_cast<double>(ids.data[t * B + b]));
  return f;
}

void check_name_language_export(const std::vector<std::string>& model_flags) {
  using namespace tg::examples::names;
  TempDir dir;
  std::vector<std::string> train{"--data", kShippedNames.string(), "--epochs", "2", "--hidden",
                                 "24"};
  train.insert(train.end(), model_flags.begin(), model_flags.end());
  const RunResult exported = train_then_export(NAME_LANGUAGE_BIN, train, "model.onnx", dir.path);
  INFO(exported.out << exported.err);
  REQUIRE(exported.code == 0);
  REQUIRE(fs::exists(dir.path / "model.json"));

  LoadedModel loaded = load_model(dir.file("run/model.npz"));
  NameClassifier& model = *loaded.model;
  model.eval();
  const ModelConfig& config = model.config();
  const Dataset data = load_names(kShippedNames, config.charset);
  std::vector<ort::Case> cases;
  for (std::size_t i = 0; i < 100; ++i) {
    // 1 to 4 names of different lengths per input, so that padding and sequence_lens are read.
    std::vector<std::vector<std::int64_t>> ids;
    for (std::size_t k = 0; k <= i % 4; ++k) {
      const std::string& name = data.examples[(i * 37 + k * 101) % data.examples.size()].name;
      ids.push_back(encode_for_prediction(name, config.charset, config.vocabulary).ids);
    }
    const Batch batch = make_batch(ids, std::vector<std::int64_t>(ids.size(), 0));
    const Tensor logits = model.forward(batch);
    std::vector<double> lengths(batch.lengths.begin(), batch.lengths.end());
    cases.push_back({{batch_major_ids(batch.ids), {"lengths", "int64", {ids.size()}, lengths}},
                     {ort::float_feed("logits", logits),
                      ort::float_feed("probabilities", softmax(logits, 1))}});
  }
  INFO("name_language " << describe(config));
  TG_CHECK_ONNX_PARITY(dir.file("model.onnx"), cases);
}

TEST_CASE("onnx: name_language export (bidirectional GRU with embedding, concat pooling, "
          "n-grams) matches ONNX Runtime") {
  TG_REQUIRE_ONNX_TOOLS();
  check_name_language_export({});
}

TEST_CASE("onnx: name_language export (one-hot, 2-layer LSTM, final states only, no n-grams or "
          "prior shift) matches ONNX Runtime") {
  TG_REQUIRE_ONNX_TOOLS();
  check_name_language_export({"--model", "lstm", "--layers", "2", "--embedding", "0",
                              "--no-bidirectional", "--pooling", "last", "--ngrams", "0",
                              "--prior-shift", "0"});
}

TEST_CASE("onnx: name_language export (bidirectional 2-layer tanh RNN, 1- to 3-grams in 101 "
          "buckets) matches ONNX Runtime") {
  TG_REQUIRE_ONNX_TOOLS();
  check_name_language_export({"--model", "rnn", "--layers", "2", "--ngrams", "3",
                              "--ngram-buckets", "101"});
}

TEST_CASE("onnx: name_language export of an MGU refuses with one line naming it") {
  TempDir dir;
  const RunResult exported = train_then_export(
      NAME_LANGUAGE_BIN,
      {"--data", kShippedNames.string(), "--epochs", "1", "--hidden", "8", "--model", "mgu"},
      "model.onnx", dir.path);
  CHECK(exported.code == 2);
  CHECK(std::count(exported.err.begin(), exported.err.end(), '\n') == 1);
  CHECK_THAT(exported.err, Catch::Contains("MGU") && Catch::Contains("not supported"));
  CHECK_FALSE(fs::exists(dir.path / "model.onnx"));
}

}  // namespace

namespace {

// `name_language predict` output: a name line, then "   12.3%  Language" rows.
std::vector<std::string> predicted_rows(const std::string& out) {
  std::vector<std::string> rows;
  std::istringstream lines(out);
  std::string name;
  for (std::string line; std::getline(lines, line);) {
    if (line.empty()) continue;
    if (line[0] != ' ') {
      name = line;
      continue;
    }
    std::istringstream row(line);
    std::string percent, label;
    row >> percent;
    std::getline(row >> std::ws, label);
    percent.pop_back();  // the '%'
    rows.push_back(name + "\t" + label + "\t" + percent);
  }
  return rows;
}

TEST_CASE("onnx: name_language's web page, in headless Chromium, shows predict's top three") {
  TG_REQUIRE_ONNX_TOOLS();
  if (tg::testing::run_shell("command -v chromium", "/").code != 0)
    TG_SKIP("chromium", "chromium not found (apt-get install chromium)");
  if (!fs::exists(fs::path(TAPEGRAD_NODE_MODULES) / "onnxruntime-web" / "dist" / "ort.min.js"))
    TG_SKIP(ort::kNeedsOnnxRuntime, "onnxruntime-web not found in " TAPEGRAD_NODE_MODULES
                                    " (bash scripts/deps.sh installs it)");
  TempDir dir;
  fs::create_directories(dir.path / "web");
  const RunResult exported = train_then_export(
      NAME_LANGUAGE_BIN, {"--data", kShippedNames.string(), "--epochs", "3", "--hidden", "32"},
      "web/model.onnx", dir.path);
  INFO(exported.out << exported.err);
  REQUIRE(exported.code == 0);
  const RunResult predicted = run(
      NAME_LANGUAGE_BIN, {"predict", "--checkpoint", "run/model.npz", "Nguyen", "Schmidt", "Rodrigo"},
      dir.path);
  REQUIRE(predicted.code == 0);
  const std::vector<std::string> want = predicted_rows(predicted.out);
  REQUIRE(want.size() == 9);

  const std::string page = std::string(TAPEGRAD_SOURCE_DIR) + "/examples/name_language/web";
  const RunResult browsed = tg::testing::run_shell(
      ort::node_command() + " " + shell_quote(std::string(TAPEGRAD_ONNX_TEST_DIR) + "/web_test.js") +
          " --page " + shell_quote(page) + " --model " + shell_quote(dir.file("web")) +
          " --ort " + shell_quote(std::string(TAPEGRAD_NODE_MODULES) + "/onnxruntime-web/dist") +
          " --names Nguyen,Schmidt,Rodrigo --screenshot " + shell_quote(dir.file("page.png")),
      dir.path);
  INFO("web_test.js: " << browsed.out << browsed.err);
  REQUIRE(browsed.code == 0);
  REQUIRE(browsed.out.find("\ndone") != std::string::npos);
  std::vector<std::string> shown;
  std::istringstream lines(browsed.out);
  for (std::string line; std::getline(lines, line);)
    if (line.rfind("shown\t", 0) == 0) shown.push_back(line.substr(6));
  REQUIRE(shown.size() == want.size());
  for (std::size_t i = 0; i < want.size(); ++i) {
    INFO("predict: " << want[i] << " | page: " << shown[i]);
    const auto split = [](const std::string& row) {
      const std::size_t a = row.find('\t'), b = row.rfind('\t');
      return std::make_tuple(row.substr(0, a), row.substr(a + 1, b - a - 1), std::stod(row.substr(b + 1)));
    };
    const auto [want_name, want_label, want_percent] = split(want[i]);
    const auto [name, label, percent] = split(shown[i]);
    CHECK(name == want_name);
    CHECK(label == want_label);
    CHECK(std::abs(percent - want_percent) <= 0.1 + 1e-9);
  }
  CHECK(fs::file_size(dir.file("page.png")) > 1000);
}

}  // namespace

namespace {

TEST_CASE("onnx: baby_lm export (one step, state in and out) matches ONNX Runtime") {
  TG_REQUIRE_ONNX_TOOLS();
  TempDir dir;
  const RunResult exported = train_then_export(
      BABY_LM_EXE,
      {"--corpus", (fs::path(TAPEGRAD_SOURCE_DIR) / "data" / "baby").string(), "--epochs", "8",
       "--units", "24", "--embed", "8"},
      "lm.onnx", dir.path);
  INFO(exported.out << exported.err);
  REQUIRE(exported.code == 0);
  REQUIRE(fs::exists(dir.path / "lm.json"));

  tg::baby_lm::LoadedModel loaded = tg::baby_lm::load_model(dir.file("run/model.npz"));
  tg::baby_lm::BabyLM& model = *loaded.model;
  model.eval();
  const std::size_t L = model.config().layers, H = model.config().units, V = model.config().vocab;
  Generator gen(17);
  std::vector<ort::Case> cases;
  for (std::size_t i = 0; i < 100; ++i) {
    // Prompts of 1 to 9 characters, 1 to 3 streams, from a random state (as mid-generation).
    const std::size_t B = 1 + i % 3, T = 1 + (i * 5) % 9;
    std::vector<std::int64_t> ids(B * T);
    for (std::size_t k = 0; k < ids.size(); ++k) ids[k] = static_cast<std::int64_t>((i * 13 + k * 7) % V);
    tg::baby_lm::LmState state;
    std::vector<Tensor> h0, c0;
    for (std::size_t l = 0; l < L; ++l) {
      state.push_back({Tensor::uniform({1, B, H}, -1, 1, DType::Float32, gen),
                       Tensor::uniform({1, B, H}, -1, 1, DType::Float32, gen)});
      h0.push_back(state.back().h);
      c0.push_back(state.back().c);
    }
    const tg::baby_lm::LmOutput out = model.forward(Indices(ids, {B, T}), state, true);
    std::vector<Tensor> h, c;
    for (const nn::RecurrentState& s : out.state) {
      h.push_back(s.h);
      c.push_back(s.c);
    }
    ort::Feed logits = ort::float_feed("logits", out.logits);
    logits.dims = {B, T, V};  // forward gives [B*T, V], row b*T + t
    cases.push_back({{{"ids", "int64", {B, T}, std::vector<double>(ids.begin(), ids.end())},
                      ort::float_feed("h0", concat(h0, 0)), ort::float_feed("c0", concat(c0, 0))},
                     {logits, ort::float_feed("h", concat(h, 0)), ort::float_feed("c", concat(c, 0))}});
  }
  TG_CHECK_ONNX_PARITY(dir.file("lm.onnx"), cases);

  // Generation outside tapegrad: greedy decoding with the exported step in ONNX Runtime writes
  // what `baby_lm generate --temperature 0` writes.
  const RunResult greedy = run(BABY_LM_EXE,
                               {"generate", "--checkpoint", "run/model.npz", "--prompt", "me want",
                                "--temperature", "0", "--length", "80"},
                               dir.path);
  REQUIRE(greedy.code == 0);
  const RunResult outside = tg::testing::run_shell(
      ort::node_command() + " " +
          shell_quote(std::string(TAPEGRAD_SOURCE_DIR) + "/examples/baby_lm/onnx_generate.js") +
          " lm.onnx 'me want' 80",
      dir.path);
  INFO(outside.err);
  REQUIRE(outside.code == 0);
  CHECK(outside.out == greedy.out);
  CHECK(outside.out.size() > 80);
}

}  // namespace

namespace {

Tensor zeros_if_undefined(const Tensor& t, const Shape& shape) {
  return t.defined() ? t : Tensor::zeros(shape);
}

ort::Feed bool_feed(const std::string& name, const Tensor& mask) {
  return {name, "bool", mask.shape(), mask.to_vector()};
}

void check_seq2seq_export(const std::string& cell) {
  using namespace tg::examples::seq2seq;
  TempDir dir;
  const RunResult exported = train_then_export(
      SEQ2SEQ_EXE,
      {"--train-size", "200", "--val-size", "20", "--test-size", "20", "--epochs", "1", "--hidden",
       "16", "--decoder-hidden", "24", "--embedding", "8", "--beam", "1", "--cell", cell},
      "onnx", dir.path);
  INFO(exported.out << exported.err);
  REQUIRE(exported.code == 0);
  REQUIRE(fs::exists(dir.path / "onnx" / "seq2seq.json"));

  const std::unique_ptr<Seq2Seq> model = load_model(dir.file("run/model.npz"));
  model->eval();
  const ModelConfig& c = model->config();
  const bool lstm = nn::cell_spec(nn::parse_cell_kind(c.cell)).has_cell_state;
  const std::size_t S = c.source.size(), V = c.target.size(), D = c.decoder_hidden;
  std::vector<ort::Case> encoder_cases, step_cases;
  for (std::size_t i = 0; i < 100; ++i) {
    // 1 to 4 sources of 1 to 12 characters (id 0, padding, never inside a source).
    std::vector<std::vector<std::int64_t>> sources;
    for (std::size_t b = 0; b <= i % 4; ++b) {
      std::vector<std::int64_t> s;
      for (std::size_t t = 0; t < 1 + (i * 7 + b * 5) % 12; ++t)
        s.push_back(1 + static_cast<std::int64_t>((i * 11 + b * 3 + t * 5) % (S - 1)));
      sources.push_back(s);
    }
    const std::size_t B = sources.size();
    DecoderState state;
    const EncoderMemory memory = model->encode(sources, state);
    const data::PaddedBatch batch = data::pad_batch(sources, kPad, true);
    std::vector<double> ids;
    for (std::int64_t id : batch.ids.data) ids.push_back(static_cast<double>(id));
    encoder_cases.push_back(
        {{{"ids", "int64", batch.ids.shape, ids},
          {"lengths", "int64", {B}, std::vector<double>(memory.lengths.begin(), memory.lengths.end())}},
         {ort::float_feed("outputs", memory.outputs), ort::float_feed("keys", memory.keys),
          bool_feed("mask", memory.mask), ort::float_feed("h", state.h)}});
    // A decoder step after 0 to 2 earlier ones, from previous characters of the target alphabet.
    std::vector<std::int64_t> previous(B, kStart);
    for (std::size_t s = 0;; ++s) {
      const Tensor h = state.h, cs = zeros_if_undefined(state.c, {B, D}), feed = state.feed;
      const StepResult r = model->step(memory, Indices(previous), state);
      if (s == i % 3) {
        ort::Case k{{{"previous", "int64", {B}, std::vector<double>(previous.begin(), previous.end())},
                     ort::float_feed("h", h), ort::float_feed("feed", feed),
                     ort::float_feed("outputs", memory.outputs), ort::float_feed("keys", memory.keys),
                     bool_feed("mask", memory.mask)},
                    {ort::float_feed("logits", model->logits(r.attentional)),
                     ort::float_feed("weights", r.weights), ort::float_feed("attentional", r.attentional),
                     ort::float_feed("h_next", state.h)}};
        if (lstm) {
          k.inputs.push_back(ort::float_feed("c", cs));
          k.expected.push_back(ort::float_feed("c_next", state.c));
        }
        step_cases.push_back(std::move(k));
        break;
      }
      for (std::size_t b = 0; b < B; ++b)
        previous[b] = kTargetReserved + static_cast<std::int64_t>((i + b + s) % (V - kTargetReserved));
    }
  }
  INFO("seq2seq " << describe(c));
  TG_CHECK_ONNX_PARITY(dir.file("onnx/encoder.onnx"), encoder_cases);
  TG_CHECK_ONNX_PARITY(dir.file("onnx/decoder_step.onnx"), step_cases);

  // Decoding outside tapegrad: greedy translation with the two exported models in ONNX Runtime
  // writes what `seq2seq translate --beam 1` writes.
  const std::vector<std::string> sources{"3rd of March 1999", "03/03/99", "mar 3 99",
                                         "Wednesday, 3 March 1999", "19990303", "1"};
  std::vector<std::string> args{"translate", "--checkpoint", "run/model.npz", "--beam", "1"};
  std::string quoted;
  for (const std::string& source : sources) {
    args.push_back(source);
    quoted += " " + shell_quote(source);
  }
  const RunResult translated = run(SEQ2SEQ_EXE, args, dir.path);
  REQUIRE(translated.code == 0);
  const RunResult outside = tg::testing::run_shell(
      ort::node_command() + " " +
          shell_quote(std::string(TAPEGRAD_SOURCE_DIR) + "/examples/seq2seq/onnx_translate.js") +
          " onnx" + quoted,
      dir.path);
  INFO(outside.err);
  REQUIRE(outside.code == 0);
  CHECK(outside.out == translated.out);
  CHECK(std::count(outside.out.begin(), outside.out.end(), '\n') == 6);
}

TEST_CASE("onnx: seq2seq export (GRU encoder, decoder step with attention) matches ONNX Runtime") {
  TG_REQUIRE_ONNX_TOOLS();
  check_seq2seq_export("gru");
}

TEST_CASE("onnx: seq2seq export (LSTM encoder, decoder step with attention) matches ONNX Runtime") {
  TG_REQUIRE_ONNX_TOOLS();
  check_seq2seq_export("lstm");
}

}  // namespace
