// .npz checkpoints: round trips, NumPy-written fixtures, refusal of broken files, atomic saves.
#include <catch2/catch.hpp>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <limits>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "tapegrad/nn/npz.hpp"
#include "skip.hpp"
#include "test_support.hpp"

using namespace tg;
using nn::Archive;
using tg::testing::read_text;
using tg::testing::TempDir;
using tg::testing::write_text;
namespace fs = std::filesystem;

namespace {

const std::string kFixtures = std::string(TAPEGRAD_FIXTURES_DIR) + "/npz/";
// Mirrors TEXT in tests/fixtures/make_npz_fixture.py: 2-, 3- and 4-byte UTF-8 sequences.
const std::string kText = u8"h\u00e9llo w\u00f6rld \u2014 \u65e5\u672c\u8a9e \U0001F389\nline 2";

// The names of the files in `dir`: a save must leave no temporary behind.
std::set<std::string> listing(const TempDir& dir) {
  std::set<std::string> names;
  for (const auto& e : fs::directory_iterator(dir.path)) names.insert(e.path().filename().string());
  return names;
}

Archive sample_archive() {
  Archive a;
  a.tensors["lstm.weight_ih_l0"] = Tensor::from_vector({1.5, -2.25, 3, 4, 5, 6}, {2, 3});
  a.tensors["optim.state.lstm.weight_ih_l0.exp_avg"] = Tensor::from_vector(
      std::vector<double>(24, 0.125), {2, 3, 4}, DType::Float64);
  a.tensors["scalar"] = Tensor::scalar(0.1, DType::Float64);
  a.tensors["empty"] = Tensor::zeros({0});
  a.tensors["empty_rows"] = Tensor::zeros({0, 3}, DType::Float64);
  a.integers["step"] = Indices({42}, {});
  a.integers["vocab/ids"] = Indices({-1, 0, std::numeric_limits<std::int64_t>::max(), 7}, {2, 2});
  a.integers["none"] = Indices(std::vector<std::int64_t>{});
  a.strings["meta/text"] = kText;
  a.strings["meta/ascii"] = "name_language --hidden 128";
  a.strings["meta/empty"] = "";
  a.strings[u8"meta/caf\u00e9"] = "a non-ASCII key";  // zip names are flagged as UTF-8
  return a;
}

void check_same_tensor(const Tensor& got, const Tensor& want) {
  REQUIRE(got.defined());
  CHECK(got.dtype() == want.dtype());
  CHECK(got.shape() == want.shape());
  CHECK(got.to_vector() == want.to_vector());
}

void check_same_archive(const Archive& got, const Archive& want) {
  REQUIRE(got.tensors.size() == want.tensors.size());
  for (const auto& [key, t] : want.tensors) {
    INFO(key);
    REQUIRE(got.tensors.count(key));
    check_same_tensor(got.tensors.at(key), t);
  }
  REQUIRE(got.integers.size() == want.integers.size());
  for (const auto& [key, ix] : want.integers) {
    INFO(key);
    REQUIRE(got.integers.count(key));
    CHECK(got.integers.at(key).shape == ix.shape);
    CHECK(got.integers.at(key).data == ix.data);
  }
  CHECK(got.strings == want.strings);
}

// Every refusal is a tg::Error on one line that names the file.
void check_refused(const std::string& path, const std::string& fragment) {
  try {
    nn::load_npz(path);
    FAIL("load_npz accepted " << path);
  } catch (const Error& e) {
    const std::string message = e.what();
    INFO(message);
    CHECK(message.find("load_npz: '" + path + "'") == 0);
    CHECK(message.find(fragment) != std::string::npos);
    CHECK(message.find('\n') == std::string::npos);
  }
}

}  // namespace

TEST_CASE("npz round trip of tensors, integers and text", "[npz]") {
  TempDir dir;
  const Archive a = sample_archive();
  const std::string path = dir.file("ckpt.npz");
  nn::save_npz(path, a);
  const Archive b = nn::load_npz(path);
  check_same_archive(b, a);
  CHECK(b.contains("optim.state.lstm.weight_ih_l0.exp_avg"));
  CHECK(b.contains("vocab/ids"));
  CHECK(b.contains("meta/text"));
  CHECK_FALSE(b.contains("meta"));
  CHECK(b.tensors.at("scalar").shape().empty());
  CHECK(b.strings.at("meta/text") == kText);
}

TEST_CASE("npz keeps float bits exactly, NaN and infinities included", "[npz]") {
  TempDir dir;
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const float inf = std::numeric_limits<float>::infinity();
  Archive a;
  a.tensors["x"] = Tensor(xt::xarray<float>{nan, -inf, inf, -0.0f, 1e-45f, 3.4028235e38f});
  nn::save_npz(dir.file("x.npz"), a);
  const Archive b = nn::load_npz(dir.file("x.npz"));
  const auto& got = b.tensors.at("x").value<float>();
  const auto& want = a.tensors.at("x").value<float>();
  REQUIRE(got.size() == want.size());
  CHECK(std::memcmp(got.data(), want.data(), want.size() * sizeof(float)) == 0);
}

TEST_CASE("npz saves are byte-for-byte reproducible", "[npz]") {
  TempDir dir;
  nn::save_npz(dir.file("a.npz"), sample_archive());
  nn::save_npz(dir.file("b.npz"), sample_archive());
  CHECK(read_text(dir.file("a.npz")) == read_text(dir.file("b.npz")));
}

TEST_CASE("an empty npz archive round-trips", "[npz]") {
  TempDir dir;
  nn::save_npz(dir.file("empty.npz"), Archive{});
  const Archive b = nn::load_npz(dir.file("empty.npz"));
  CHECK(b.tensors.empty());
  CHECK(b.integers.empty());
  CHECK(b.strings.empty());
}

TEST_CASE("npz files written by NumPy load with the right values", "[npz]") {
  for (const std::string name : {"numpy_stored.npz", "numpy_deflated.npz"}) {
    INFO(name);
    const Archive a = nn::load_npz(kFixtures + name);
    Archive want;
    want.tensors["weight"] = Tensor::from_vector({-1, -0.5, 0, 0.5, 1, 1.5}, {2, 3});
    std::vector<double> ramp(24);
    for (std::size_t i = 0; i < ramp.size(); ++i) ramp[i] = 0.25 * static_cast<double>(i);
    want.tensors["optim.state.lstm.weight_ih_l0.exp_avg"] =
        Tensor::from_vector(ramp, {2, 3, 4}, DType::Float64);
    want.tensors["scalar64"] = Tensor::scalar(M_PI, DType::Float64);
    want.tensors["empty"] = Tensor::zeros({0});
    want.tensors["empty2d"] = Tensor::zeros({0, 3}, DType::Float64);
    want.integers["step"] = Indices({1234}, {});
    want.integers["labels"] = Indices({-3, 0, 7, std::int64_t(1) << 40});
    want.integers["small_ints"] = Indices({1, -2, 3, -4}, {2, 2});  // int32 in the file
    want.strings["meta/vocab"] = kText;
    want.strings["meta/empty_text"] = "";
    check_same_archive(a, want);
  }
}

TEST_CASE("npz: npy format versions 1.0, 2.0, 3.0 and reordered header keys are read", "[npz]") {
  const Archive a = nn::load_npz(kFixtures + "versions.npz");
  check_same_tensor(a.tensors.at("v2"), Tensor::from_vector({1, 2, 3}, {3}));
  CHECK(a.integers.at("v3").data == std::vector<std::int64_t>{1, 2, 3, 4});
  CHECK(a.integers.at("v3").shape == Shape{2, 2});
  check_same_tensor(a.tensors.at("reordered"),
                    Tensor::from_vector({0, 1, 2, 3, 4, 5}, {2, 3}, DType::Float64));
}

TEST_CASE("npz entries that are not valid .npy arrays are refused, naming file and key", "[npz]") {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"bad_magic.npz", "bad magic"},
      {"bad_version.npz", "unsupported .npy version 4.0"},
      {"bad_header.npz", "bad .npy header: expected ',' or '}'"},
      {"bad_shape.npz", "trailing comma"},
      {"bad_header_length.npz", "header length 60000"},
      {"bad_fortran_order.npz", "fortran_order True"},
      {"bad_big_endian.npz", "'>f4' (big-endian"},
      {"bad_object.npz", "'|O' (object arrays"},
      {"bad_float16.npz", "unsupported dtype '<f2'"},
      {"bad_size_mismatch.npz", "data is 20 bytes but shape [2,3] of dtype '<f4' needs 24"},
      {"bad_text_array.npz", "only 0-d strings"},
  };
  for (const auto& [file, fragment] : cases) {
    INFO(file);
    check_refused(kFixtures + file, "key 'broken': ");
    check_refused(kFixtures + file, fragment);
  }
}

TEST_CASE("missing, garbage, empty and truncated npz files are refused", "[npz]") {
  TempDir dir;
  check_refused(dir.file("missing.npz"), "No such file");
  check_refused(dir.path.string(), "is a directory");

  std::mt19937 rng(1);
  std::string garbage(4096, '\0');
  for (auto& c : garbage) c = static_cast<char>(rng());
  write_text(dir.file("garbage.npz"), garbage);
  check_refused(dir.file("garbage.npz"), "not a zip archive");
  write_text(dir.file("zero.npz"), "");
  check_refused(dir.file("zero.npz"), "empty file");

  nn::save_npz(dir.file("good.npz"), sample_archive());
  const std::string good = read_text(dir.file("good.npz"));
  write_text(dir.file("half.npz"), good.substr(0, good.size() / 2));
  check_refused(dir.file("half.npz"), "truncated");
  // Cut anywhere, a checkpoint is refused with a tg::Error, never a crash or another exception.
  for (std::size_t cut = 1; cut < good.size(); cut += 7) {
    write_text(dir.file("cut.npz"), good.substr(0, cut));
    INFO("cut at " << cut);
    CHECK_THROWS_AS(nn::load_npz(dir.file("cut.npz")), Error);
  }
}

TEST_CASE("npz: a flipped bit in the array data is caught by the CRC", "[npz]") {
  TempDir dir;
  Archive a;
  std::vector<double> values(64);
  for (std::size_t i = 0; i < values.size(); ++i) values[i] = 1000.0 + static_cast<double>(i);
  a.tensors["w"] = Tensor::from_vector(values, {64}, DType::Float64);
  nn::save_npz(dir.file("w.npz"), a);
  std::string bytes = read_text(dir.file("w.npz"));
  const double needle = 1010.0;
  const std::size_t at = bytes.find(std::string(reinterpret_cast<const char*>(&needle), 8));
  REQUIRE(at != std::string::npos);
  bytes[at + 3] ^= 0x10;
  write_text(dir.file("w.npz"), bytes);
  check_refused(dir.file("w.npz"), "key 'w': read failed: CRC error");
}

TEST_CASE("npz: any single corrupted byte gives a value or a tg::Error, never a crash", "[npz]") {
  TempDir dir;
  Archive a;
  a.tensors["w"] = Tensor::from_vector({1, 2, 3, 4}, {2, 2});
  a.integers["n"] = Indices({5}, {});
  a.strings["s"] = u8"\u00e9t\u00e9";
  nn::save_npz(dir.file("a.npz"), a);
  const std::string good = read_text(dir.file("a.npz"));
  // Flipping a byte must never change what is read: either the archive is refused with a
  // tg::Error naming the file, or the byte was one the reader does not depend on (e.g. a zip
  // timestamp or the central directory's copy of a field) and the content is exactly a's. Any
  // other exception escapes to Catch and fails the test.
  std::size_t refused = 0, unchanged = 0;
  for (std::size_t i = 0; i < good.size(); ++i) {
    std::string bad = good;
    bad[i] = static_cast<char>(bad[i] ^ 0xFF);
    write_text(dir.file("bad.npz"), bad);
    INFO("byte " << i);
    try {
      const Archive got = nn::load_npz(dir.file("bad.npz"));
      CHECK(got.tensors.size() == 1);
      CHECK(got.tensors.count("w") == 1);
      if (got.tensors.count("w")) {
        CHECK(got.tensors.at("w").shape() == Shape{2, 2});
        CHECK(got.tensors.at("w").to_vector() == std::vector<double>{1, 2, 3, 4});
      }
      CHECK(got.integers.size() == 1);
      CHECK((got.integers.count("n") && got.integers.at("n").data == std::vector<std::int64_t>{5}));
      CHECK(got.strings == a.strings);
      ++unchanged;
    } catch (const Error& e) {
      CHECK_THAT(e.what(), Catch::Contains("bad.npz"));
      ++refused;
    }
  }
  INFO(refused << " flips refused, " << unchanged << " harmless, of " << good.size());
  CHECK(refused + unchanged == good.size());
  // Most bytes matter: headers, names, data are all checked (CRC, sizes, signatures).
  CHECK(refused > good.size() / 2);
}

TEST_CASE("save_npz writes atomically and leaves no temporary files", "[npz]") {
  TempDir dir;
  const std::string path = dir.file("ckpt.npz");
  nn::save_npz(path, sample_archive());
  CHECK(listing(dir) == std::set<std::string>{"ckpt.npz"});

  // Overwriting replaces the content in one step.
  Archive small;
  small.integers["step"] = Indices({7}, {});
  nn::save_npz(path, small);
  CHECK(listing(dir) == std::set<std::string>{"ckpt.npz"});
  CHECK(nn::load_npz(path).integers.at("step").data == std::vector<std::int64_t>{7});

  // A save that is refused leaves the previous checkpoint untouched.
  Archive invalid = sample_archive();
  invalid.strings["meta/bad"] = "\xC3";  // a truncated UTF-8 sequence
  CHECK_THROWS_WITH(nn::save_npz(path, invalid),
                    Catch::StartsWith("save_npz: '" + path + "'") &&
                        Catch::Contains("key 'meta/bad'") && Catch::Contains("not valid UTF-8"));
  CHECK(listing(dir) == std::set<std::string>{"ckpt.npz"});
  CHECK(nn::load_npz(path).integers.at("step").data == std::vector<std::int64_t>{7});

  // A save into a directory that does not exist fails clearly and creates nothing.
  const std::string nowhere = dir.file("no/such/dir/ckpt.npz");
  CHECK_THROWS_WITH(nn::save_npz(nowhere, small),
                    Catch::StartsWith("save_npz: '" + nowhere + "'") &&
                        Catch::Contains("does not exist"));
  CHECK(listing(dir) == std::set<std::string>{"ckpt.npz"});

  // Failing at the rename (the target is a directory) cleans up the temporary file too.
  fs::create_directory(dir.path / "taken.npz");
  fs::create_directory(dir.path / "taken.npz" / "inside");
  CHECK_THROWS_WITH(nn::save_npz(dir.file("taken.npz"), small), Catch::Contains("cannot rename"));
  CHECK(listing(dir) == std::set<std::string>{"ckpt.npz", "taken.npz"});
}

TEST_CASE("save_npz refuses archives it cannot write faithfully", "[npz]") {
  TempDir dir;
  const std::string path = dir.file("x.npz");
  Archive twice;
  twice.tensors["k"] = Tensor::zeros({1});
  twice.strings["k"] = "v";
  CHECK_THROWS_WITH(nn::save_npz(path, twice), Catch::Contains("key 'k' is used twice"));
  Archive undefined;
  undefined.tensors["u"] = Tensor();
  CHECK_THROWS_WITH(nn::save_npz(path, undefined), Catch::Contains("key 'u': tensor is undefined"));
  Archive mismatch;
  mismatch.integers["m"].data = {1, 2, 3};
  mismatch.integers["m"].shape = {2, 2};
  CHECK_THROWS_WITH(nn::save_npz(path, mismatch),
                    Catch::Contains("key 'm': 3 integers for shape [2,2]"));
  Archive overlong;
  overlong.strings["o"] = "\xC0\xAF";  // an overlong '/'
  CHECK_THROWS_WITH(nn::save_npz(path, overlong), Catch::Contains("not valid UTF-8 (byte 0)"));
  Archive surrogate;
  surrogate.strings["s"] = "ok \xED\xA0\x80";  // U+D800 encoded
  CHECK_THROWS_WITH(nn::save_npz(path, surrogate), Catch::Contains("not valid UTF-8 (byte 3)"));
  Archive empty_key;
  empty_key.integers[""] = Indices({1});
  CHECK_THROWS_WITH(nn::save_npz(path, empty_key), Catch::Contains("empty key"));
  CHECK(listing(dir).empty());
}

// The point of the format: numpy.load opens tapegrad checkpoints. Skipped (reported so by CTest)
// when this machine's python has no numpy; CI requires numpy (scripts/test.sh).
TEST_CASE("numpy.load opens a file written by save_npz", "[npz][python]") {
  if (std::system("/usr/bin/python3 -c 'import numpy' >/dev/null 2>&1") != 0)
    TG_SKIP(tg::testing::kNeedsNumpy, "/usr/bin/python3 cannot import numpy");
  TempDir dir;
  nn::save_npz(dir.file("ckpt.npz"), sample_archive());
  // Checks values, dtypes and shapes; that every entry is byte-identical to what np.save writes
  // for the same array (NumPy >= 1.24 pads headers the same way); and the zip's CRCs and dates.
  const std::string script = u8R"PY(
import io, sys, zipfile
import numpy as np
path = sys.argv[1]
d = np.load(path)
assert sorted(d.files) == sorted([
    "lstm.weight_ih_l0", "optim.state.lstm.weight_ih_l0.exp_avg", "scalar", "empty",
    "empty_rows", "step", "vocab/ids", "none", "meta/text", "meta/ascii", "meta/empty",
    "meta/caf\u00e9"]), d.files
w = d["lstm.weight_ih_l0"]
assert w.dtype == np.float32 and w.shape == (2, 3) and w.tolist() == [[1.5, -2.25, 3], [4, 5, 6]]
e = d["optim.state.lstm.weight_ih_l0.exp_avg"]
assert e.dtype == np.float64 and e.shape == (2, 3, 4) and (e == 0.125).all()
s = d["scalar"]
assert s.dtype == np.float64 and s.shape == () and s[()] == 0.1
assert d["empty"].shape == (0,) and d["empty"].dtype == np.float32
assert d["empty_rows"].shape == (0, 3) and d["empty_rows"].dtype == np.float64
assert d["step"].dtype == np.int64 and d["step"].shape == () and d["step"][()] == 42
assert d["vocab/ids"].tolist() == [[-1, 0], [2**63 - 1, 7]] and d["vocab/ids"].dtype == np.int64
assert d["none"].shape == (0,) and d["none"].dtype == np.int64
assert d["meta/text"][()] == "h\u00e9llo w\u00f6rld \u2014 \u65e5\u672c\u8a9e \U0001F389\nline 2"
assert d["meta/text"].dtype.kind == "U" and d["meta/text"].shape == ()
assert d["meta/ascii"][()] == "name_language --hidden 128"
assert d["meta/empty"][()] == ""
assert d["meta/caf\u00e9"][()] == "a non-ASCII key"
with zipfile.ZipFile(path) as z:
    assert z.testzip() is None
    for info in z.infolist():
        assert info.date_time == (1980, 1, 1, 0, 0, 0), info
        assert info.compress_type == zipfile.ZIP_STORED, info
        raw = z.read(info)
        header_len = raw[8] | raw[9] << 8
        assert 10 + header_len + d[info.filename[:-4]].nbytes == len(raw), info.filename
        assert header_len % 64 == 54 and raw[9 + header_len] == ord("\n"), info.filename
        if hasattr(np.lib.format, "GROWTH_AXIS_MAX_DIGITS"):
            buf = io.BytesIO()
            np.lib.format.write_array(buf, d[info.filename[:-4]])
            assert raw == buf.getvalue(), (info.filename, raw[:128], buf.getvalue()[:128])
print("ok")
)PY";
  write_text(dir.file("check.py"), script);
  const std::string command =
      "/usr/bin/python3 " + dir.file("check.py") + " " + dir.file("ckpt.npz") + " 2>&1";
  FILE* pipe = ::popen(command.c_str(), "r");
  REQUIRE(pipe != nullptr);
  std::string output;
  char buf[512];
  while (std::fgets(buf, sizeof buf, pipe)) output += buf;
  const int status = ::pclose(pipe);
  INFO(output);
  CHECK(status == 0);
  CHECK(output == "ok\n");
}
