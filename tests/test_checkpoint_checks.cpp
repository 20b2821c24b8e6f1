// Issue 30 (reliability), checkpoints and corpora: non-finite weights, duplicated or missing
// labels and vocabulary entries, and entries declaring huge shapes are refused when a checkpoint
// is loaded (before anything is decompressed where the shape is wrong); baby_lm refuses a corpus
// of more distinct characters than --max-vocab. Each refusal: exit code 2, one line on stderr,
// nothing written.
#include <catch2/catch.hpp>

#include <fcntl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <limits>
#include <map>
#include <vector>

#include "tapegrad/nn/linear.hpp"
#include "tapegrad/nn/npz.hpp"
#include "tapegrad/train/checkpoint.hpp"
#include "test_support.hpp"

namespace fs = std::filesystem;
using namespace tg;
using namespace tg::testing;

namespace {

const std::string kNames = std::string(TAPEGRAD_SOURCE_DIR) + "/data/names";
const std::string kBaby = std::string(TAPEGRAD_SOURCE_DIR) + "/data/baby";

// Small trained checkpoints of the three programs, in `dir`: run/ (name_language), lm/ (baby_lm)
// and s2/ (seq2seq). Each takes well under a second.
// `exe train <args>` in `dir`, which must succeed.
void train(const std::string& exe, const std::string& args, const fs::path& dir) {
  const RunResult r = run_shell(shell_quote(exe) + " train --threads 1 " + args, dir);
  INFO(r.err);
  REQUIRE(r.code == 0);
}

// The ASCII charset: its vocabulary is fixed, so a checkpoint lacking one of its characters is
// refused (a Unicode vocabulary is whatever the training names hold).
void train_name_language(const fs::path& dir) {
  train(NAME_LANGUAGE_BIN,
        "--data " + shell_quote(kNames) +
            " --charset ascii --epochs 1 --hidden 8 --embedding 4 --out run",
        dir);
}

void train_baby_lm(const fs::path& dir) {
  train(BABY_LM_EXE, "--corpus " + shell_quote(kBaby) + " --epochs 1 --units 8 --embed 4 --out lm",
        dir);
}

void train_seq2seq(const fs::path& dir) {
  train(SEQ2SEQ_EXE,
        "--epochs 1 --train-size 50 --val-size 10 --test-size 10 --embedding 4 --hidden 4 "
        "--decoder-hidden 8 --beam 1 --out s2",
        dir);
}

// `from` rewritten by the library's own writer (valid CRCs) after `edit`.
template <class Edit>
void edited_copy(const fs::path& from, const fs::path& to, Edit edit) {
  nn::Archive archive = nn::load_npz(from.string());
  edit(archive);
  nn::save_npz(to.string(), archive);
}

void set_flat(nn::Archive& archive, const std::string& key, std::size_t index, float value) {
  REQUIRE(archive.tensors.count(key));
  Tensor copy = archive.tensors.at(key).clone();
  REQUIRE(index < copy.size());
  copy.mutable_value<float>().data()[index] = value;
  archive.tensors[key] = copy;
}

// Runs `command` (a program and its arguments, shell-quoted) in `dir` and checks the refusal:
// exit code 2, one line on stderr holding `needle`, no file in `dir` changed.
void check_refused(const fs::path& dir, const std::string& program, const std::string& command,
                   const std::string& needle) {
  const auto before = snapshot(dir);
  const RunResult r = run_shell(command, dir);
  INFO(command << "\nstdout: " << r.out.substr(0, 2000) << "\nstderr: " << r.err.substr(0, 2000));
  CHECK(r.code == 2);
  CHECK_THAT(r.err, Catch::StartsWith(program + ": error: ") && Catch::Contains(needle) &&
                        Catch::EndsWith("\n"));
  CHECK(std::count(r.err.begin(), r.err.end(), '\n') == 1);
  CHECK(r.err.size() < 400);
  CHECK(snapshot(dir) == before);
}

struct Measured {
  int code = -1;
  std::string err;
  double seconds = 0;
  long max_rss_kb = 0;
};

// Runs argv[0] with its arguments in `cwd` as a child of this process, with the child's own peak
// resident memory (wait4's rusage: nothing else this test process ran is counted).
Measured run_measured(const std::vector<std::string>& argv, const fs::path& cwd) {
  TempDir capture;
  const std::string err_path = capture.file("err");
  std::vector<char*> args;
  for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  const std::string dir = cwd.string();
  const auto start = std::chrono::steady_clock::now();
  const pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    const int err = ::open(err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    const int null = ::open("/dev/null", O_WRONLY);
    if (err < 0 || null < 0 || ::chdir(dir.c_str()) != 0) ::_exit(126);
    ::dup2(err, 2);
    ::dup2(null, 1);
    ::execv(args[0], args.data());
    ::_exit(127);
  }
  int status = 0;
  struct rusage usage {};
  REQUIRE(::wait4(pid, &status, 0, &usage) == pid);
  Measured m;
  m.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  m.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  m.err = read_text(err_path);
  m.max_rss_kb = usage.ru_maxrss;
  return m;
}

// Writes `to`: `from` with entry `key` replaced by a deflated float32 array of shape
// [rows, cols] (zeros), streamed so that neither Python nor the file ever holds it whole.
void write_huge_entry(const fs::path& from, const fs::path& to, const std::string& key,
                      std::size_t rows, std::size_t cols) {
  const fs::path script = to.parent_path() / "huge_entry.py";
  write_text(script, R"(import io, sys, zipfile
import numpy as np
src, dst, key, rows, cols = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
head = io.BytesIO()
np.lib.format.write_array_header_1_0(head, {'descr': '<f4', 'fortran_order': False, 'shape': (rows, cols)})
with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, 'w', zipfile.ZIP_DEFLATED, compresslevel=1) as zout:
    for info in zin.infolist():
        if info.filename != key + '.npy':
            zout.writestr(info.filename, zin.read(info.filename))
            continue
        with zout.open(info.filename, 'w', force_zip64=True) as f:
            f.write(head.getvalue())
            chunk = bytes(1 << 22)
            left = rows * cols * 4
            while left:
                n = min(left, len(chunk))
                f.write(chunk[:n])
                left -= n
)");
  const RunResult r = run_shell("/usr/bin/python3 " + shell_quote(script.string()) + " " +
                                    shell_quote(from.string()) + " " + shell_quote(to.string()) +
                                    " " + key + " " + std::to_string(rows) + " " +
                                    std::to_string(cols),
                                to.parent_path());
  INFO(r.err);
  REQUIRE(r.code == 0);
  fs::remove(script);
}

std::string name_language(const std::string& args) {
  return shell_quote(NAME_LANGUAGE_BIN) + " " + args;
}
std::string baby_lm(const std::string& args) { return shell_quote(BABY_LM_EXE) + " " + args; }
std::string seq2seq(const std::string& args) { return shell_quote(SEQ2SEQ_EXE) + " " + args; }

}  // namespace

// ---- the library ---------------------------------------------------------------------------

TEST_CASE("load_state_dict refuses NaN and infinity, naming the tensor and the flat index",
          "[checkpoint][nn]") {
  Generator gen(1);
  nn::Linear layer(3, 2, true, gen);
  const auto original = layer.state_dict();
  for (const float bad : {std::numeric_limits<float>::quiet_NaN(),
                          -std::numeric_limits<float>::quiet_NaN(),
                          std::numeric_limits<float>::infinity(),
                          -std::numeric_limits<float>::infinity()}) {
    auto state = layer.state_dict();
    state.at("weight").mutable_value<float>()(1, 1) = bad;  // flat index 4 of [2,3]
    state.at("bias").mutable_value<float>()(0) = 7;         // must not be applied either
    const std::string value = std::isnan(bad) ? "nan" : bad > 0 ? "inf" : "-inf";
    INFO(value);
    CHECK_THROWS_AS(layer.load_state_dict(state), NonFiniteError);
    CHECK_THROWS_WITH(layer.load_state_dict(state), "load_state_dict: weight[4] is " + value);
    try {
      layer.load_state_dict(state);
    } catch (const NonFiniteError& e) {
      CHECK(e.name() == "weight");
      CHECK(e.index() == 4);
    }
    // Nothing of a refused state is applied.
    for (const auto& [key, tensor] : layer.state_dict())
      CHECK(std::equal(tensor.value<float>().begin(), tensor.value<float>().end(),
                       original.at(key).value<float>().begin()));
  }
}

TEST_CASE("a checkpoint with one NaN weight is refused naming the file, the tensor and the index",
          "[checkpoint][train]") {
  TempDir dir;
  Generator gen(1);
  nn::Linear layer(3, 2, true, gen);
  const std::string path = dir.file("model.npz");
  tg::train::save_checkpoint(path, layer, nullptr, nullptr, {"test", {}});
  nn::Archive archive = nn::load_npz(path);
  set_flat(archive, "bias", 1, std::numeric_limits<float>::infinity());
  CHECK_THROWS_AS(tg::train::load_checkpoint_state(archive, path, layer, nullptr, nullptr),
                  NonFiniteError);
  CHECK_THROWS_WITH(tg::train::load_checkpoint_state(archive, path, layer, nullptr, nullptr),
                    path + ": bias[1] is inf");
}

TEST_CASE("load_npz with a filter sees each header before the entry's data is read",
          "[checkpoint][npz]") {
  TempDir dir;
  nn::Archive archive;
  archive.tensors["w"] = Tensor::zeros({4, 5});
  archive.integers["n"] = Indices(std::vector<std::int64_t>{1, 2, 3}, {3});
  archive.strings["meta.x"] = "text";
  const std::string path = dir.file("a.npz");
  nn::save_npz(path, archive);

  std::map<std::string, nn::EntryHeader> seen;
  const nn::Archive text_only = nn::load_npz(path, [&](const std::string& key, const nn::EntryHeader& h) {
    seen[key] = h;
    return h.type == nn::EntryType::Text;
  });
  CHECK(text_only.strings.at("meta.x") == "text");
  CHECK(text_only.tensors.empty());
  CHECK(text_only.integers.empty());
  REQUIRE(seen.size() == 3);
  CHECK(seen.at("w").type == nn::EntryType::Float32);
  CHECK(seen.at("w").shape == Shape{4, 5});
  CHECK(seen.at("w").data_bytes == 80);
  CHECK(seen.at("n").type == nn::EntryType::Int64);
  CHECK(seen.at("meta.x").type == nn::EntryType::Text);

  CHECK_THROWS_WITH(nn::load_npz(path,
                                 [](const std::string& key, const nn::EntryHeader&) -> bool {
                                   if (key == "w") throw Error("not wanted");
                                   return true;
                                 }),
                    "load_npz: '" + path + "': key 'w': not wanted");
}

TEST_CASE("a checkpoint whose entry does not fit the model is refused from its header",
          "[checkpoint][train]") {
  TempDir dir;
  Generator gen(1);
  nn::Linear layer(3, 2, true, gen), wider(30, 2, true, gen);
  const std::string path = dir.file("model.npz");
  tg::train::save_checkpoint(path, wider, nullptr, nullptr, {"test", {}});
  CHECK_THROWS_WITH(tg::train::read_checkpoint_for(path, layer, false),
                    Catch::Contains(path) && Catch::Contains("key 'weight'") &&
                        Catch::Contains("[2,30]") && Catch::Contains("[2,3]"));
  const nn::Archive fits = tg::train::read_checkpoint_for(path, wider, false);
  CHECK(fits.tensors.count("weight"));
  CHECK(fits.strings.count("meta.example"));
}

TEST_CASE("read_checkpoint_index reads the metadata and only the headers of the arrays",
          "[checkpoint][train]") {
  TempDir dir;
  Generator gen(1);
  nn::Linear layer(3, 2, true, gen);
  const std::string path = dir.file("model.npz");
  tg::train::save_checkpoint(path, layer, nullptr, nullptr, {"test", {{"vocab", "abc"}}});
  const tg::train::CheckpointIndex index = tg::train::read_checkpoint_index(path, "test");
  CHECK(index.meta.example == "test");
  CHECK(index.meta.text.at("vocab") == "abc");
  REQUIRE(index.arrays.size() == 2);
  CHECK(index.arrays.at("weight").shape == Shape{2, 3});
  CHECK(index.arrays.at("bias").type == nn::EntryType::Float32);
  CHECK_THROWS_WITH(tg::train::read_checkpoint_index(path, "other"),
                    path + ": this is a test checkpoint, not a other one");

  // Metadata of more than 4 Mi characters is no metadata.
  nn::Archive archive = nn::load_npz(path);
  archive.strings["meta.vocab"] = std::string((std::size_t{4} << 20) + 1, 'a');
  nn::save_npz(path, archive);
  CHECK_THROWS_WITH(tg::train::read_checkpoint_index(path, "test"),
                    Catch::Contains("key 'meta.vocab': a text entry of 16777220 bytes"));
}

// ---- the programs --------------------------------------------------------------------------

TEST_CASE("name_language refuses a checkpoint holding NaN or infinity", "[checkpoint][name_language]") {
  TempDir dir;
  train_name_language(dir.path);
  edited_copy(dir.path / "run/model.npz", dir.path / "nan.npz",
              [](nn::Archive& a) { set_flat(a, "fc.weight", 37, std::nanf("")); });
  edited_copy(dir.path / "run/model.npz", dir.path / "inf.npz", [](nn::Archive& a) {
    set_flat(a, "rnn.weight_hh_l0", 3, -std::numeric_limits<float>::infinity());
  });
  check_refused(dir.path, "name_language", name_language("predict --checkpoint nan.npz Smith"),
                "nan.npz: fc.weight[37] is nan");
  check_refused(dir.path, "name_language", name_language("eval --checkpoint nan.npz"),
                "nan.npz: fc.weight[37] is nan");
  check_refused(dir.path, "name_language", name_language("predict --checkpoint inf.npz Smith"),
                "inf.npz: rnn.weight_hh_l0[3] is -inf");
}

TEST_CASE("baby_lm and seq2seq refuse a checkpoint holding NaN", "[checkpoint][baby_lm][seq2seq]") {
  TempDir dir;
  train_baby_lm(dir.path);
  train_seq2seq(dir.path);
  edited_copy(dir.path / "lm/model.npz", dir.path / "lm_nan.npz",
              [](nn::Archive& a) { set_flat(a, "emb.weight", 5, std::nanf("")); });
  edited_copy(dir.path / "s2/model.npz", dir.path / "s2_inf.npz", [](nn::Archive& a) {
    set_flat(a, "output.bias", 2, std::numeric_limits<float>::infinity());
  });
  check_refused(dir.path, "baby_lm", baby_lm("generate --checkpoint lm_nan.npz --seed 1"),
                "lm_nan.npz: emb.weight[5] is nan");
  check_refused(dir.path, "baby_lm", baby_lm("eval --checkpoint lm_nan.npz --seed 1"),
                "lm_nan.npz: emb.weight[5] is nan");
  check_refused(dir.path, "seq2seq", seq2seq("translate --checkpoint s2_inf.npz 03/03/99"),
                "s2_inf.npz: output.bias[2] is inf");
}

TEST_CASE("name_language refuses duplicated or missing labels and vocabulary entries",
          "[checkpoint][name_language]") {
  TempDir dir;
  train_name_language(dir.path);
  const fs::path model = dir.path / "run/model.npz";
  // "Chinese" becomes a second "Arabic": predictions would go under the wrong language.
  edited_copy(model, dir.path / "dup_label.npz", [](nn::Archive& a) {
    std::string& labels = a.strings.at("meta.labels");
    const std::size_t at = labels.find("Chinese");
    REQUIRE(at != std::string::npos);
    labels.replace(at, 7, "Arabic");
  });
  check_refused(dir.path, "name_language", name_language("predict --checkpoint dup_label.npz Smith"),
                "dup_label.npz: meta.labels lists 'Arabic' twice");
  // A label gone: the classifier has a row more than there are languages.
  edited_copy(model, dir.path / "few_labels.npz", [](nn::Archive& a) {
    std::string& labels = a.strings.at("meta.labels");
    labels.erase(0, labels.find('\n') + 1);
  });
  check_refused(dir.path, "name_language", name_language("predict --checkpoint few_labels.npz Smith"),
                "few_labels.npz");
  // 'e' taken out of the ASCII vocabulary, with the embedding's row of 'e' removed to match:
  // every 'e' of a name would silently read as an unknown character.
  edited_copy(model, dir.path / "no_e.npz", [](nn::Archive& a) {
    std::string& vocab = a.strings.at("meta.vocabulary");
    const std::size_t at = vocab.find('e');
    REQUIRE(at != std::string::npos);
    vocab.erase(at, 1);
    const Tensor& emb = a.tensors.at("embedding.weight");
    const std::size_t cols = emb.shape()[1], row = at + 1;  // row 0 is the unknown character
    std::vector<double> kept;
    for (std::size_t r = 0; r < emb.shape()[0]; ++r)
      if (r != row)
        for (std::size_t c = 0; c < cols; ++c) kept.push_back(emb.value<float>()(r, c));
    a.tensors["embedding.weight"] = Tensor::from_vector(kept, {emb.shape()[0] - 1, cols});
  });
  check_refused(dir.path, "name_language", name_language("predict --checkpoint no_e.npz Smith"),
                "no_e.npz: meta.vocabulary lacks 'e'");
  // A character listed twice.
  edited_copy(model, dir.path / "dup_char.npz",
              [](nn::Archive& a) { a.strings.at("meta.vocabulary").replace(1, 1, "a"); });
  check_refused(dir.path, "name_language", name_language("predict --checkpoint dup_char.npz Smith"),
                "dup_char.npz");
}

TEST_CASE("baby_lm and seq2seq refuse duplicated or missing vocabulary entries",
          "[checkpoint][baby_lm][seq2seq]") {
  TempDir dir;
  train_baby_lm(dir.path);
  train_seq2seq(dir.path);
  edited_copy(dir.path / "lm/model.npz", dir.path / "lm_missing.npz", [](nn::Archive& a) {
    std::string& vocab = a.strings.at("meta.vocab");
    vocab.erase(vocab.find('q'), 1);
  });
  check_refused(dir.path, "baby_lm", baby_lm("generate --checkpoint lm_missing.npz --seed 1"),
                "lm_missing.npz");
  edited_copy(dir.path / "lm/model.npz", dir.path / "lm_dup.npz", [](nn::Archive& a) {
    std::string& vocab = a.strings.at("meta.vocab");
    vocab.replace(vocab.find('q'), 1, "p");
  });
  check_refused(dir.path, "baby_lm", baby_lm("generate --checkpoint lm_dup.npz --seed 1"),
                "lm_dup.npz: meta.vocab");
  edited_copy(dir.path / "s2/model.npz", dir.path / "s2_dup.npz", [](nn::Archive& a) {
    std::string& chars = a.strings.at("meta.target_characters");
    chars.replace(chars.find('7'), 1, "6");
  });
  check_refused(dir.path, "seq2seq", seq2seq("translate --checkpoint s2_dup.npz 03/03/99"),
                "s2_dup.npz: the alphabets are damaged: '6' is listed twice");
}

// A 1.8 MB deflated entry declaring [18, 5600000] floats (403 MB): it took 400 MB and 1.6 s
// before the parameter count refused it (and the issue's [18, 25600000]: 1.8 GB, 17 s).
TEST_CASE("a small deflated entry declaring a huge shape is refused at once, without allocating",
          "[checkpoint][name_language][python]") {
  TempDir dir;
  train_name_language(dir.path);
  write_huge_entry(dir.path / "run/model.npz", dir.path / "huge.npz", "fc.weight", 18, 5600000);
  REQUIRE(fs::file_size(dir.path / "huge.npz") < 4000000);
  const Measured m = run_measured({NAME_LANGUAGE_BIN, "predict", "--checkpoint", "huge.npz", "Smith"},
                                  dir.path);
  INFO(m.err << m.seconds << " s, " << m.max_rss_kb << " kB");
  CHECK(m.code == 2);
  CHECK_THAT(m.err, Catch::StartsWith("name_language: error: ") && Catch::Contains("huge.npz") &&
                        Catch::Contains("fc.weight") && Catch::Contains("[18,5600000]"));
  CHECK(std::count(m.err.begin(), m.err.end(), '\n') == 1);
  CHECK(m.seconds < 1.0);
  CHECK(m.max_rss_kb < 200 * 1024);
}

// ---- baby_lm's vocabulary bound ------------------------------------------------------------

namespace {

// A corpus of `distinct` CJK characters (U+4E00...) in lines of 50, the first ones the most
// frequent; with the newline, the vocabulary has distinct + 1 characters.
std::string many_characters(std::size_t distinct) {
  std::u32string text;
  for (std::size_t k = 0; k < distinct; ++k)
    for (std::size_t n = 0; n < std::max<std::size_t>(1, (distinct - k) / 500); ++n)
      text.push_back(static_cast<char32_t>(0x4E00 + k));
  std::string out;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char32_t c = text[i];
    out += static_cast<char>(0xE0 | (c >> 12));
    out += static_cast<char>(0x80 | ((c >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (c & 0x3F));
    if (i % 50 == 49) out += '\n';
  }
  return out + "\n";
}

}  // namespace

TEST_CASE("baby_lm refuses a corpus of more distinct characters than --max-vocab",
          "[checkpoint][baby_lm]") {
  TempDir dir;
  write_text(dir.path / "corpus.txt", many_characters(3000));
  // The default bound, then an explicit one; the three most frequent characters are named.
  check_refused(dir.path, "baby_lm", baby_lm("train --threads 1 --corpus corpus.txt --out run"),
                "corpus.txt: 3001 distinct characters, more than --max-vocab 1000 (most frequent: "
                "U+000A (newline) '\xE4\xB8\x80' '\xE4\xB8\x81' '\xE4\xB8\x82' ");
  check_refused(dir.path, "baby_lm",
                baby_lm("train --threads 1 --corpus corpus.txt --max-vocab 3000 --out run"),
                "3001 distinct characters, more than --max-vocab 3000");
  check_refused(dir.path, "baby_lm", baby_lm("train --max-vocab 0"), "--max-vocab");
}

TEST_CASE("baby_lm's corpus summary stays one short line for a large vocabulary",
          "[checkpoint][baby_lm]") {
  TempDir dir;
  write_text(dir.path / "corpus.txt", many_characters(600));
  const RunResult r = run_shell(
      baby_lm("train --threads 1 --corpus corpus.txt --epochs 1 --units 4 --embed 4 --window 4 "
              "--sample-length 0 --out run"),
      dir.path);
  INFO(r.err);
  REQUIRE(r.code == 0);
  const std::size_t at = r.out.find("corpus: ");
  REQUIRE(at != std::string::npos);
  const std::string line = r.out.substr(at, r.out.find('\n', at) - at);
  INFO(line);
  CHECK_THAT(line, Catch::Contains("vocabulary of 601: ") && Catch::EndsWith("...)"));
  CHECK(line.size() < 300);
}
