// The examples' shared utilities: run files, SVG output, UTF-8 text, CLI errors.
#include <catch2/catch.hpp>

#include <CLI/CLI.hpp>

#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>

#include "tapegrad/autograd/blas.hpp"
#include "common/cli.hpp"
#include "common/files.hpp"
#include "common/svg.hpp"
#include "common/text.hpp"
#include "test_support.hpp"

namespace fs = std::filesystem;
using namespace tg::examples;
using namespace tg::testing;

namespace {


std::vector<std::string> names_in(const fs::path& dir) {
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(dir)) names.push_back(e.path().filename().string());
  std::sort(names.begin(), names.end());
  return names;
}

// What a file descriptor (1 or 2) receives while fn runs.
template <class F>
std::string capture_fd(int fd, F&& fn) {
  std::fflush(nullptr);
  std::FILE* tmp = std::tmpfile();
  const int saved = ::dup(fd);
  ::dup2(::fileno(tmp), fd);
  fn();
  std::fflush(nullptr);
  ::dup2(saved, fd);
  ::close(saved);
  std::string out = written_to(tmp);
  std::fclose(tmp);
  return out;
}

// A small XML reader, strict enough to prove an SVG well-formed: one root, every tag closed in
// order, attribute values quoted, no duplicate attributes, only defined entities, no raw '<'
// or '&' in text. Collects the decoded text content and the element names.
class XmlCheck {
 public:
  explicit XmlCheck(std::string doc) : s_(std::move(doc)) {
    skip_space();
    if (s_.compare(pos_, 5, "<?xml") == 0) {
      pos_ = s_.find("?>", pos_);
      if (pos_ == std::string::npos) fail("unterminated declaration");
      pos_ += 2;
    }
    skip_space();
    element();
    skip_space();
    if (pos_ != s_.size()) fail("content after the root element");
  }
  std::string root;
  std::vector<std::string> texts;
  std::map<std::string, int> elements;

 private:
  [[noreturn]] void fail(const std::string& why) {
    throw std::runtime_error("XML: " + why + " at offset " + std::to_string(pos_));
  }
  void skip_space() {
    while (pos_ < s_.size() && std::isspace(static_cast<unsigned char>(s_[pos_]))) ++pos_;
  }
  std::string name() {
    const std::size_t start = pos_;
    while (pos_ < s_.size() &&
           (std::isalnum(static_cast<unsigned char>(s_[pos_])) || std::strchr(":-_.", s_[pos_])))
      ++pos_;
    if (pos_ == start) fail("expected a name");
    return s_.substr(start, pos_ - start);
  }
  std::string decode(const std::string& raw) {
    std::string out;
    for (std::size_t i = 0; i < raw.size(); ++i) {
      if (raw[i] == '<') fail("raw '<' in text");
      if (raw[i] != '&') {
        out += raw[i];
        continue;
      }
      const std::size_t end = raw.find(';', i);
      if (end == std::string::npos) fail("unterminated entity");
      const std::string ent = raw.substr(i + 1, end - i - 1);
      static const std::map<std::string, std::string> known{
          {"amp", "&"}, {"lt", "<"}, {"gt", ">"}, {"quot", "\""}, {"apos", "'"}};
      if (known.count(ent))
        out += known.at(ent);
      else if (ent.size() > 1 && ent[0] == '#')
        out += '?';
      else
        fail("unknown entity &" + ent + ";");
      i = end;
    }
    return out;
  }
  void element() {
    if (s_[pos_] != '<') fail("expected '<'");
    ++pos_;
    const std::string tag = name();
    if (root.empty()) root = tag;
    ++elements[tag];
    std::vector<std::string> attrs;
    for (;;) {
      skip_space();
      if (s_.compare(pos_, 2, "/>") == 0) {
        pos_ += 2;
        return;
      }
      if (s_[pos_] == '>') break;
      const std::string attr = name();
      if (std::find(attrs.begin(), attrs.end(), attr) != attrs.end()) fail("duplicate " + attr);
      attrs.push_back(attr);
      skip_space();
      if (s_[pos_++] != '=') fail("expected '='");
      skip_space();
      const char quote = s_[pos_++];
      if (quote != '"' && quote != '\'') fail("unquoted attribute");
      const std::size_t end = s_.find(quote, pos_);
      if (end == std::string::npos) fail("unterminated attribute");
      decode(s_.substr(pos_, end - pos_));
      pos_ = end + 1;
    }
    ++pos_;
    for (;;) {
      const std::size_t lt = s_.find('<', pos_);
      if (lt == std::string::npos) fail("unclosed <" + tag + ">");
      const std::string text = decode(s_.substr(pos_, lt - pos_));
      if (text.find_first_not_of(" \n\t\r") != std::string::npos) texts.push_back(text);
      pos_ = lt;
      if (s_.compare(pos_, 2, "</") == 0) {
        pos_ += 2;
        if (name() != tag) fail("mismatched close of <" + tag + ">");
        skip_space();
        if (s_[pos_++] != '>') fail("expected '>'");
        return;
      }
      element();
    }
  }
  std::string s_;
  std::size_t pos_ = 0;
};

bool has_text(const XmlCheck& x, const std::string& t) {
  return std::find(x.texts.begin(), x.texts.end(), t) != x.texts.end();
}

}  // namespace

TEST_CASE("line chart SVG is well-formed and holds its labels", "[examples][svg]") {
  LineChart chart;
  chart.title = "Loss <train & \"val\">";
  chart.x_label = "epoch";
  chart.y_label = "cross-entropy";
  Series train{"train", {}, false}, val{"val 'held out'", {}, true};
  for (int e = 1; e <= 12; ++e) {
    train.points.push_back({double(e), 2.0 / e});
    val.points.push_back({double(e), 2.2 / e + 0.05});
  }
  val.points[5].y = std::nan("");  // a diverged evaluation breaks the line
  chart.series = {train, val, Series{"bad \xFF byte", {{1, 1}}, false}};
  const std::string svg = line_chart_svg(chart);
  XmlCheck xml(svg);
  CHECK(xml.root == "svg");
  CHECK(has_text(xml, "Loss <train & \"val\">"));
  CHECK(has_text(xml, "val 'held out'"));
  CHECK(has_text(xml, "bad \xEF\xBF\xBD byte"));
  CHECK(has_text(xml, "epoch"));
  CHECK(has_text(xml, "cross-entropy"));
  CHECK(has_text(xml, "12"));  // integer x ticks (epochs)
  CHECK_FALSE(has_text(xml, "12.0"));
  CHECK(has_text(xml, "2.5"));           // y ticks with the decimals their step needs
  CHECK(xml.elements["polyline"] == 4);  // train, val in two pieces, the one-point series
  CHECK(svg.find("nan") == std::string::npos);

  chart.y_min = 1;
  chart.y_max = 0;
  CHECK_THROWS_WITH(line_chart_svg(chart), Catch::Contains("y_max"));
  CHECK_NOTHROW(XmlCheck(line_chart_svg(LineChart{})));  // empty chart still renders
}

TEST_CASE("confusion heatmap SVG is well-formed, labelled and annotated when small",
          "[examples][svg]") {
  Heatmap map;
  map.title = "Confusion & co";
  map.row_labels = {"Czech", "Polish", "Vietnamese"};
  map.col_labels = map.row_labels;
  map.values = {50, 7, 0, 3, 90, 1, 0, 0, 12};
  XmlCheck xml(heatmap_svg(map));
  CHECK(has_text(xml, "Confusion & co"));
  for (const char* label : {"Czech", "Polish", "Vietnamese", "true", "predicted", "100%"})
    CHECK(has_text(xml, label));
  for (const char* value : {"50", "7", "90", "12"}) CHECK(has_text(xml, value));
  CHECK(has_text(xml, "true Polish, predicted Czech: 3 (3.2% of the row)"));  // tooltip
  CHECK(xml.elements["rect"] == 9 + 3);  // cells, background, frame, scale

  // Too large to print values: only labels, titles and scale ticks remain as text.
  Heatmap big;
  for (int i = 0; i < 25; ++i) {
    big.row_labels.push_back("class " + std::to_string(i));
    big.col_labels.push_back("class " + std::to_string(i));
  }
  big.values.assign(25 * 25, 1.5);
  XmlCheck big_xml(heatmap_svg(big));
  CHECK(big_xml.elements["text"] ==
        25 + 25 + 2 + 6 + 1);  // labels, axis titles, ticks, scale title

  // An attention map's axes repeat characters: the tooltips number the positions there.
  Heatmap attention;
  attention.row_labels = {"1", "9", "9", "9"};
  attention.col_labels = {"m", "a", "y"};
  attention.row_title = "output";
  attention.col_title = "source";
  attention.values.assign(12, 0.25);
  XmlCheck attention_xml(heatmap_svg(attention));
  CHECK(has_text(attention_xml, "output 3 '9', source a: 0.25 (33.3% of the row)"));

  map.values.pop_back();
  CHECK_THROWS_WITH(heatmap_svg(map), Catch::Contains("8 values") && Catch::Contains("3 row"));
}

TEST_CASE("xml_escape makes any text safe", "[examples][svg]") {
  CHECK(xml_escape("a<b & \"c\" 'd'>") == "a&lt;b &amp; &quot;c&quot; &apos;d&apos;&gt;");
  CHECK(xml_escape("x\x01y\tz") == "xy\tz");
  CHECK(xml_escape("\xC3") == "\xEF\xBF\xBD");
}

TEST_CASE("atomic writes replace the file and leave no temporaries", "[examples][files]") {
  TempDir dir;
  const fs::path file = dir.path / "loss.svg";
  write_file_atomic(file, "first");
  write_file_atomic(file, "second version");
  CHECK(read_file(file) == "second version");
  CHECK(names_in(dir.path) == std::vector<std::string>{"loss.svg"});
  const auto perms = fs::status(file).permissions();
  CHECK((perms & fs::perms::owner_read) != fs::perms::none);  // not mkstemp's 0600-only
  CHECK_THROWS_WITH(write_file_atomic(dir.path / "missing" / "x.txt", "x"),
                    Catch::Contains("write_file_atomic") && Catch::Contains("missing/x.txt"));
  CHECK(names_in(dir.path) == std::vector<std::string>{"loss.svg"});
  // A failed rename (the target is a non-empty folder) removes its temporary too.
  fs::create_directory(dir.path / "taken");
  write_file_atomic(dir.path / "taken" / "inside", "x");
  CHECK_THROWS_WITH(write_file_atomic(dir.path / "taken", "x"), Catch::Contains("taken"));
  CHECK(names_in(dir.path) == std::vector<std::string>{"loss.svg", "taken"});
}

TEST_CASE("read_lines strips line ends and a BOM, and names a missing file", "[examples][files]") {
  TempDir dir;
  write_file_atomic(dir.path / "names.txt", "\xEF\xBB\xBFNovak\r\nDvo\xC5\x99\xC3\xA1k\n\nSmith");
  CHECK(read_lines(dir.path / "names.txt") ==
        std::vector<std::string>{"Novak", "Dvo\xC5\x99\xC3\xA1k", "", "Smith"});
  CHECK_THROWS_WITH(read_lines(dir.path / "nope.txt"),
                    Catch::Contains("nope.txt") && Catch::Contains("No such file"));
  CHECK_THROWS_WITH(read_lines(dir.path), Catch::Contains("is a directory"));
}

TEST_CASE("metrics CSV writes a header, flushes rows and starts afresh when reopened",
          "[examples][files]") {
  TempDir dir;
  const fs::path path = dir.path / "metrics.csv";
  {
    CsvWriter csv(path, {"epoch", "train_loss", "note"});
    csv.write_row({1, 0.123456789, "plain"});
    // Flushed per row: readable while the writer is still open.
    CHECK(read_lines(path) ==
          std::vector<std::string>{"epoch,train_loss,note", "1,0.1234568,plain"});
    CHECK_THROWS_WITH(csv.write_row({2, 0.5}), Catch::Contains("2 values for 3 columns"));
  }
  {
    // A run folder reused with --overwrite: the old run's rows (and layout) are gone.
    CsvWriter csv(path, {"epoch", "loss"});
    csv.write_row({1, "a, \"quoted\" note"});
  }
  CHECK(read_lines(path) ==
        std::vector<std::string>{"epoch,loss", "1,\"a, \"\"quoted\"\" note\""});
  CHECK_THROWS_WITH(CsvWriter(dir.path / "missing" / "m.csv", {"epoch"}),
                    Catch::Contains("m.csv"));
}

TEST_CASE("run folders are named by time and never reused by accident", "[examples][files]") {
  TempDir dir;
  std::tm when{};
  when.tm_year = 2024 - 1900;
  when.tm_mon = 2;
  when.tm_mday = 9;
  when.tm_hour = 14;
  when.tm_min = 5;
  when.tm_sec = 7;
  when.tm_isdst = -1;
  const std::time_t t = std::mktime(&when);
  const fs::path base = dir.path / "runs";
  CHECK(make_run_dir(base, t) == base / "20240309-140507");
  CHECK(make_run_dir(base, t) == base / "20240309-140507-2");
  CHECK(make_run_dir(base, t) == base / "20240309-140507-3");
  CHECK(fs::is_directory(base / "20240309-140507-3"));

  const fs::path mine = dir.path / "mine";
  CHECK(claim_run_dir(mine, RunDirUse::New).path == mine);
  CHECK_NOTHROW(claim_run_dir(mine, RunDirUse::New));  // only its lock file: still empty
  write_file_atomic(mine / "metrics.csv", "x\n");
  // Files without a checkpoint are refused too: they may be another program's.
  CHECK_THROWS_WITH(claim_run_dir(mine, RunDirUse::New),
                    Catch::Contains("not empty (metrics.csv)") && Catch::Contains("--overwrite"));
  write_file_atomic(mine / "checkpoint.npz", "PK");
  CHECK_THROWS_WITH(claim_run_dir(mine, RunDirUse::New),
                    Catch::Contains("checkpoint.npz") && Catch::Contains("--overwrite") &&
                        Catch::Contains("mine"));
  CHECK_NOTHROW(claim_run_dir(mine, RunDirUse::Overwrite));
  CHECK_NOTHROW(claim_run_dir(mine, RunDirUse::Resume));
  // A refused folder is left as it was: no lock file is created in someone else's folder.
  const fs::path theirs = dir.path / "theirs";
  fs::create_directories(theirs);
  write_file_atomic(theirs / "notes.txt", "mine\n");
  CHECK_THROWS_WITH(claim_run_dir(theirs, RunDirUse::New), Catch::Contains("not empty (notes.txt)"));
  CHECK_FALSE(fs::exists(theirs / ".lock"));
  CHECK(std::distance(fs::directory_iterator(theirs), fs::directory_iterator()) == 1);
  CHECK_THROWS_WITH(claim_run_dir(mine / "metrics.csv", RunDirUse::New),
                    Catch::Contains("not a folder"));
}

TEST_CASE("UTF-8 decodes, encodes and reports invalid input with its origin", "[examples][text]") {
  const std::string nguyen = "Nguy\xE1\xBB\x85n";
  const std::u32string cps = decode_utf8(nguyen);
  CHECK(cps == U"Nguy\u1EC5n");
  CHECK(encode_utf8(cps) == nguyen);
  CHECK(encode_utf8(U'\U0001F600') == "\xF0\x9F\x98\x80");
  CHECK_THROWS_WITH(encode_utf8(char32_t(0xD800)), Catch::Contains("U+D800"));
  CHECK_THROWS_WITH(encode_utf8(char32_t(0x110000)), Catch::Contains("not a valid"));

  CHECK_THROWS_WITH(decode_utf8("Mu\xFCller", {"data/names/German.txt", 12}),
                    Catch::Contains("data/names/German.txt:12") && Catch::Contains("byte 3") &&
                        Catch::Contains("0xFC"));
  CHECK_THROWS_WITH(decode_utf8("ab\xE2\x82"),
                    Catch::StartsWith("decode_utf8") && Catch::Contains("0xE2 0x82"));
  for (const char* bad : {"\xC0\xAF", "\xED\xA0\x80", "\xF4\x90\x80\x80", "\x80", "\xC3("}) {
    CHECK_FALSE(is_valid_utf8(bad));
    CHECK_THROWS_AS(decode_utf8(bad), tg::Error);
  }
  CHECK(is_valid_utf8(nguyen));
  CHECK(sanitize_utf8("a\xFF"
                      "b") ==
        "a\xEF\xBF\xBD"
        "b");
}

TEST_CASE("fold_to_ascii matches the char-RNN tutorial's unicodeToAscii", "[examples][text]") {
  CHECK(fold_to_ascii("Gon\xC3\xA7"
                      "alves") == "Goncalves");
  CHECK(fold_to_ascii("Dvo\xC5\x99\xC3\xA1k") == "Dvorak");
  CHECK(fold_to_ascii("M\xC3\xBCller") == "Muller");
  CHECK(fold_to_ascii("\xC5\x9Alusarczyk") == "Slusarczyk");
  CHECK(fold_to_ascii("Nguy\xE1\xBB\x85n") == "Nguyen");
  CHECK(fold_to_ascii("O'Brien") == "O'Brien");
  CHECK(fold_to_ascii("Mu\xCC\x88ller") == "Muller");  // already decomposed
  CHECK(fold_to_ascii("Stra\xC3\x9F"
                      "e 1-2") == "Strae ");  // no decomposition: dropped
  CHECK(fold_to_ascii("\xE7\x8E\x8B Wang") == " Wang");
  CHECK_THROWS_WITH(fold_to_ascii("a\xFF", {"x.txt", 3}), Catch::Contains("x.txt:3"));
  CHECK(ascii_letters_vocabulary().size() == 57);
}

TEST_CASE("run_main turns errors into one line and exit code 2", "[examples][cli]") {
  char prog[] = "/usr/local/bin/name_language";
  char* argv[] = {prog, nullptr};
  int code = -1;
  std::string err = capture_fd(2, [&] {
    code = run_main(1, argv,
                    []() -> int { throw tg::Error("load: 'data/x' not found\nsecond line"); });
  });
  CHECK(code == 2);
  CHECK(err == "name_language: error: load: 'data/x' not found second line\n");
  CHECK(program_name() == "name_language");

  err = capture_fd(2, [&] { code = run_main(1, argv, [] { return 0; }); });
  CHECK(code == 0);
  CHECK(err.empty());
  err = capture_fd(2, [&] { code = run_main(1, argv, []() -> int { throw 42; }); });
  CHECK(code == 2);
  CHECK(err == "name_language: error: unknown error\n");
}

TEST_CASE("parse_args: bad flags are usage errors, --help exits 0", "[examples][cli]") {
  const auto run = [](std::vector<std::string> args, int& code) {
    return capture_fd(1, [&] {
      std::vector<char*> argv;
      for (auto& a : args) argv.push_back(a.data());
      code = run_main(static_cast<int>(argv.size()), argv.data(), [&] {
        CLI::App app{"Classifies surnames by language."};
        int threads = 0;
        std::size_t epochs = 10;
        double lr = 0.5;
        integer_in(app.add_option("--epochs", epochs, "training epochs"), 1, 1000);
        number_in(app.add_option("--lr", lr, "learning rate"), 0, 10, true);
        add_threads_option(app, threads);
        parse_args(app, static_cast<int>(argv.size()), argv.data());
        return epochs == 3 ? 0 : 1;
      });
    });
  };
  int code = -1;
  std::string out = run({"name_language", "--epochs", "3"}, code);
  CHECK(code == 0);
  std::string err = capture_fd(2, [&] { out = run({"name_language", "--bogus"}, code); });
  CHECK(code == 2);
  CHECK_THAT(err, Catch::StartsWith("name_language: error: ") && Catch::Contains("--bogus") &&
                      Catch::EndsWith("(see --help)\n"));
  CHECK(occurrences(err, "\n") == 1);
  err = capture_fd(2, [&] { out = run({"name_language", "--epochs", "-3"}, code); });
  CHECK(code == 2);
  CHECK(err ==
        "name_language: error: --epochs: must be an integer in [1, 1000], got '-3' (see --help)\n");
  err = capture_fd(2, [&] { out = run({"name_language", "--epochs", "many"}, code); });
  CHECK_THAT(err, Catch::Contains("must be an integer in [1, 1000], got 'many'"));
  // An unsigned flag must not wrap -1 to 2^64-1, nor take 1e3, nor more digits than fit.
  for (const char* bad : {"--epochs=-1", "--epochs=1e3", "--epochs=18446744073709551617"}) {
    err = capture_fd(2, [&] { out = run({"name_language", bad}, code); });
    CHECK(code == 2);
    CHECK_THAT(err, Catch::Contains("--epochs: must be an integer in [1, 1000]"));
  }
  // NaN passes CLI::Range; infinities and the open end are refused too.
  for (const char* bad : {"nan", "inf", "-inf", "0", "1e400", "11"}) {
    err = capture_fd(2, [&] { out = run({"name_language", "--lr", bad, "--epochs", "3"}, code); });
    INFO(bad);
    CHECK(code == 2);
    CHECK(err == std::string("name_language: error: --lr: must be a number in (0, 10], got '") +
                     bad + "' (see --help)\n");
  }
  err = capture_fd(2, [&] { out = run({"name_language", "--lr", "10", "--epochs", "3"}, code); });
  CHECK(code == 0);
  err = capture_fd(2, [&] { out = run({"name_language", "--threads", "0"}, code); });
  CHECK(code == 2);
  CHECK_THAT(err, Catch::Contains("--threads"));
  err = capture_fd(2, [&] { out = run({"name_language", "--help"}, code); });
  CHECK(code == 0);
  CHECK(err.empty());
  CHECK_THAT(out, Catch::Contains("Classifies surnames") && Catch::Contains("--threads"));
}

TEST_CASE("parse_args refuses to run an app with a numeric flag that has no range",
          "[examples][cli]") {
  CLI::App app{"test"};
  double unchecked = 0;
  std::size_t checked = 1;
  std::string text;
  integer_in(app.add_option("--checked", checked, ""), 1, 2);
  app.add_option("--text", text, "");  // text needs no range
  CLI::App* sub = app.add_subcommand("sub");
  sub->add_option("--rate", unchecked, "");
  char name[] = "prog";
  char* argv[] = {name};
  CHECK_THROWS_WITH(parse_args(app, 1, argv), Catch::Contains("--rate") &&
                                                  Catch::Contains("numeric flag without"));
  number_in(sub->get_option("--rate"), 0, 1);
  CHECK_NOTHROW(parse_args(app, 1, argv));
}

TEST_CASE("apply_threads sets BLAS threads and describes BLAS once", "[examples][cli]") {
  std::FILE* f = std::tmpfile();
  apply_threads(1, f);
  apply_threads(1, f);
  CHECK(tg::blas::num_threads() == 1);
  const std::string out = written_to(f);
  CHECK_THAT(out, Catch::StartsWith("OpenBLAS kernel"));
  CHECK(occurrences(out, "\n") == 1);
  std::fclose(f);
}
