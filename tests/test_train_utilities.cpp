// tg::train's utilities: progress line, SVG charts, run files, resume state, stop signals,
// messages, the processes of a run.
// Tested through the library alone: no example code is linked.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cctype>
#include <csignal>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <map>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "tapegrad/train/files.hpp"
#include "tapegrad/train/messages.hpp"
#include "tapegrad/train/parallel.hpp"
#include "tapegrad/train/progress.hpp"
#include "tapegrad/train/resume.hpp"
#include "tapegrad/train/signals.hpp"
#include "tapegrad/train/svg.hpp"

#include "test_support.hpp"

namespace fs = std::filesystem;
namespace train = tg::train;
using tg::testing::occurrences;
using tg::testing::TempDir;
using tg::testing::written_to;

namespace {

std::vector<std::string> names_in(const fs::path& dir) {
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(dir)) names.push_back(e.path().filename().string());
  std::sort(names.begin(), names.end());
  return names;
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

TEST_CASE("durations and rates format compactly", "[train][progress]") {
  CHECK(train::format_duration(0.44) == "0.4s");
  CHECK(train::format_duration(42) == "42s");
  CHECK(train::format_duration(65) == "1m05s");
  CHECK(train::format_duration(59.7) == "1m00s");
  CHECK(train::format_duration(7384) == "2h03m");
  CHECK(train::format_duration(-1) == "--");
  CHECK(train::format_duration(std::nan("")) == "--");
  CHECK(train::format_rate(850) == "850/s");
  CHECK(train::format_rate(12345) == "12.3k/s");
  CHECK(train::format_rate(999.7) == "1.00k/s");
  CHECK(train::format_rate(4.56e6, "names") == "4.56M names/s");
  CHECK(train::format_rate(0.5) == "0.50/s");
  CHECK(train::format_rate(-1) == "--/s");
}

TEST_CASE("progress line shows step, running loss, rate, elapsed and ETA", "[train][progress]") {
  double t = 0;
  std::FILE* f = std::tmpfile();
  train::ProgressOptions opt;
  opt.label = "epoch 1/3";
  opt.unit = "names";
  opt.terminal = false;
  opt.clock = [&t] { return t; };
  train::Progress p(100, opt, f);
  t = 10;
  for (int i = 0; i < 50; ++i) p.step(i < 25 ? 1.0 : 3.0, i < 25 ? 10 : 30);
  // Weighted by items: (25*10*1 + 25*30*3) / 1000.
  CHECK(p.mean_loss() == Approx(2.5));
  const std::string line = p.line();
  CHECK_THAT(line, Catch::StartsWith("epoch 1/3   50/100  50%  loss 2.5000"));
  CHECK_THAT(line, Catch::Contains("100 names/s") && Catch::Contains("elapsed 10s") &&
                       Catch::Contains("ETA 10s"));
  p.set_note("acc 81.2%");
  CHECK_THAT(p.line(), Catch::Contains("loss 2.5000  acc 81.2%"));
  std::fclose(f);
}

TEST_CASE("without a terminal progress prints plain lines every few percent",
          "[train][progress]") {
  double t = 0;
  std::FILE* f = std::tmpfile();
  train::ProgressOptions opt;
  opt.terminal = false;
  opt.clock = [&t] { return t; };
  {
    train::Progress p(200, opt, f);
    for (int i = 0; i < 200; ++i) {
      t += 0.01;
      p.step(1.0, 4);
    }
    p.finish("val loss 0.9");
    p.finish("twice");  // idempotent
  }
  const std::string out = written_to(f);
  CHECK(out.find('\r') == std::string::npos);
  CHECK(occurrences(out, "\n") == 10);  // 10%..90%, then the final line
  CHECK_THAT(out, Catch::StartsWith(" 20/200  10%") && Catch::Contains("\n180/200  90%"));
  CHECK_THAT(out,
             Catch::EndsWith("\n200/200 100%  loss 1.0000  400/s  elapsed 2.0s  val loss 0.9\n"));
  std::fclose(f);
}

TEST_CASE("on a terminal progress redraws in place at most ten times a second",
          "[train][progress]") {
  double t = 0;
  std::FILE* f = std::tmpfile();
  train::ProgressOptions opt;
  opt.terminal = true;
  opt.clock = [&t] { return t; };
  train::Progress p(1000, opt, f);
  for (int i = 0; i < 1000; ++i) {
    t += 0.002;  // 2 s in all: 500 steps per second
    p.step(0.5);
  }
  p.finish("done");
  const std::string out = written_to(f);
  const std::size_t redraws = occurrences(out, "\r");
  CHECK(redraws >= 15);
  CHECK(redraws <= 22);  // ~20 throttled draws plus the final one
  CHECK(occurrences(out, "\n") == 1);
  CHECK_THAT(out, Catch::EndsWith("\n"));
  CHECK_THAT(out, Catch::Contains("1000/1000 100%"));
  // The summary follows the final state directly, whatever a longer earlier line left.
  CHECK_THAT(out, Catch::Contains("elapsed 2.0s  done"));
  std::fclose(f);
}

TEST_CASE("an unfinished terminal progress line is ended when it goes away",
          "[train][progress]") {
  double t = 0;
  std::FILE* f = std::tmpfile();
  train::ProgressOptions opt;
  opt.terminal = true;
  opt.clock = [&t] { return t; };
  {
    train::Progress p(10, opt, f);
    p.step(1.0);
    p.message("warning: something");
  }
  const std::string out = written_to(f);
  CHECK_THAT(out, Catch::Contains("warning: something\n"));
  CHECK_THAT(out, Catch::EndsWith("\n"));
  CHECK(occurrences(out, "\n") == 2);
  std::fclose(f);
}

TEST_CASE("line chart SVG is well-formed and holds its labels", "[train][svg]") {
  train::LineChart chart;
  chart.title = "Loss <train & \"val\">";
  chart.x_label = "epoch";
  chart.y_label = "cross-entropy";
  train::Series training{"train", {}, false}, val{"val 'held out'", {}, true};
  for (int e = 1; e <= 12; ++e) {
    training.points.push_back({double(e), 2.0 / e});
    val.points.push_back({double(e), 2.2 / e + 0.05});
  }
  val.points[5].y = std::nan("");  // a diverged evaluation breaks the line
  chart.series = {training, val, train::Series{"bad \xFF byte", {{1, 1}}, false}};
  const std::string svg = train::line_chart_svg(chart);
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
  CHECK_THROWS_WITH(train::line_chart_svg(chart), Catch::Contains("y_max"));
  CHECK_NOTHROW(XmlCheck(train::line_chart_svg(train::LineChart{})));  // empty chart still renders
}

TEST_CASE("confusion heatmap SVG is well-formed, labelled and annotated when small",
          "[train][svg]") {
  train::Heatmap map;
  map.title = "Confusion & co";
  map.row_labels = {"Czech", "Polish", "Vietnamese"};
  map.col_labels = map.row_labels;
  map.values = {50, 7, 0, 3, 90, 1, 0, 0, 12};
  XmlCheck xml(train::heatmap_svg(map));
  CHECK(has_text(xml, "Confusion & co"));
  for (const char* label : {"Czech", "Polish", "Vietnamese", "true", "predicted", "100%"})
    CHECK(has_text(xml, label));
  for (const char* value : {"50", "7", "90", "12"}) CHECK(has_text(xml, value));
  CHECK(has_text(xml, "true Polish, predicted Czech: 3 (3.2% of the row)"));  // tooltip
  CHECK(xml.elements["rect"] == 9 + 3);  // cells, background, frame, scale

  // Too large to print values: only labels, titles and scale ticks remain as text.
  train::Heatmap big;
  for (int i = 0; i < 25; ++i) {
    big.row_labels.push_back("class " + std::to_string(i));
    big.col_labels.push_back("class " + std::to_string(i));
  }
  big.values.assign(25 * 25, 1.5);
  XmlCheck big_xml(train::heatmap_svg(big));
  CHECK(big_xml.elements["text"] ==
        25 + 25 + 2 + 6 + 1);  // labels, axis titles, ticks, scale title

  // An attention map's axes repeat characters: the tooltips number the positions there.
  train::Heatmap attention;
  attention.row_labels = {"1", "9", "9", "9"};
  attention.col_labels = {"m", "a", "y"};
  attention.row_title = "output";
  attention.col_title = "source";
  attention.values.assign(12, 0.25);
  XmlCheck attention_xml(train::heatmap_svg(attention));
  CHECK(has_text(attention_xml, "output 3 '9', source a: 0.25 (33.3% of the row)"));

  map.values.pop_back();
  CHECK_THROWS_WITH(train::heatmap_svg(map),
                    Catch::Contains("8 values") && Catch::Contains("3 row"));
}

TEST_CASE("xml_escape makes any text safe", "[train][svg]") {
  CHECK(train::xml_escape("a<b & \"c\" 'd'>") == "a&lt;b &amp; &quot;c&quot; &apos;d&apos;&gt;");
  CHECK(train::xml_escape("x\x01y\tz") == "xy\tz");
  CHECK(train::xml_escape("\xC3") == "\xEF\xBF\xBD");
}

TEST_CASE("atomic writes replace the file and leave no temporaries", "[train][files]") {
  TempDir dir;
  const fs::path file = dir.path / "loss.svg";
  train::write_file_atomic(file, "first");
  train::write_file_atomic(file, "second version");
  CHECK(train::read_file(file) == "second version");
  CHECK(names_in(dir.path) == std::vector<std::string>{"loss.svg"});
  const auto perms = fs::status(file).permissions();
  CHECK((perms & fs::perms::owner_read) != fs::perms::none);  // not mkstemp's 0600-only
  CHECK_THROWS_WITH(train::write_file_atomic(dir.path / "missing" / "x.txt", "x"),
                    Catch::Contains("write_file_atomic") && Catch::Contains("missing/x.txt"));
  CHECK(names_in(dir.path) == std::vector<std::string>{"loss.svg"});
  // A failed rename (the target is a non-empty folder) removes its temporary too.
  fs::create_directory(dir.path / "taken");
  train::write_file_atomic(dir.path / "taken" / "inside", "x");
  CHECK_THROWS_WITH(train::write_file_atomic(dir.path / "taken", "x"), Catch::Contains("taken"));
  CHECK(names_in(dir.path) == std::vector<std::string>{"loss.svg", "taken"});
}

TEST_CASE("read_lines strips line ends and a BOM, and names a missing file", "[train][files]") {
  TempDir dir;
  train::write_file_atomic(dir.path / "names.txt",
                           "\xEF\xBB\xBFNovak\r\nDvo\xC5\x99\xC3\xA1k\n\nSmith");
  CHECK(train::read_lines(dir.path / "names.txt") ==
        std::vector<std::string>{"Novak", "Dvo\xC5\x99\xC3\xA1k", "", "Smith"});
  CHECK_THROWS_WITH(train::read_lines(dir.path / "nope.txt"),
                    Catch::Contains("nope.txt") && Catch::Contains("No such file"));
  CHECK_THROWS_WITH(train::read_lines(dir.path), Catch::Contains("is a directory"));
}

TEST_CASE("metrics CSV writes a header, flushes rows and starts afresh when reopened",
          "[train][files]") {
  TempDir dir;
  const fs::path path = dir.path / "metrics.csv";
  {
    train::CsvWriter csv(path, {"epoch", "train_loss", "note"});
    csv.write_row({1, 0.123456789, "plain"});
    // Flushed per row: readable while the writer is still open.
    CHECK(train::read_lines(path) ==
          std::vector<std::string>{"epoch,train_loss,note", "1,0.1234568,plain"});
    CHECK_THROWS_WITH(csv.write_row({2, 0.5}), Catch::Contains("2 values for 3 columns"));
  }
  {
    // A run folder reused with --overwrite: the old run's rows (and layout) are gone.
    train::CsvWriter csv(path, {"epoch", "loss"});
    csv.write_row({1, "a, \"quoted\" note"});
  }
  CHECK(train::read_lines(path) ==
        std::vector<std::string>{"epoch,loss", "1,\"a, \"\"quoted\"\" note\""});
  CHECK_THROWS_WITH(train::CsvWriter(dir.path / "missing" / "m.csv", {"epoch"}),
                    Catch::Contains("m.csv"));
}

TEST_CASE("run folders are named by time and never reused by accident", "[train][files]") {
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
  CHECK(train::make_run_dir(base, t) == base / "20240309-140507");
  CHECK(train::make_run_dir(base, t) == base / "20240309-140507-2");
  CHECK(train::make_run_dir(base, t) == base / "20240309-140507-3");
  CHECK(fs::is_directory(base / "20240309-140507-3"));

  const fs::path mine = dir.path / "mine";
  CHECK(train::claim_run_dir(mine, train::RunDirUse::New).path == mine);
  // Only its lock file: still empty.
  CHECK_NOTHROW(train::claim_run_dir(mine, train::RunDirUse::New));
  train::write_file_atomic(mine / "metrics.csv", "x\n");
  // Files without a checkpoint are refused too: they may be another program's.
  CHECK_THROWS_WITH(train::claim_run_dir(mine, train::RunDirUse::New),
                    Catch::Contains("not empty (metrics.csv)") && Catch::Contains("--overwrite"));
  train::write_file_atomic(mine / "checkpoint.npz", "PK");
  CHECK_THROWS_WITH(train::claim_run_dir(mine, train::RunDirUse::New),
                    Catch::Contains("checkpoint.npz") && Catch::Contains("--overwrite") &&
                        Catch::Contains("mine"));
  CHECK_NOTHROW(train::claim_run_dir(mine, train::RunDirUse::Overwrite));
  CHECK_NOTHROW(train::claim_run_dir(mine, train::RunDirUse::Resume));
  // A refused folder is left as it was: no lock file is created in someone else's folder.
  const fs::path theirs = dir.path / "theirs";
  fs::create_directories(theirs);
  train::write_file_atomic(theirs / "notes.txt", "mine\n");
  CHECK_THROWS_WITH(train::claim_run_dir(theirs, train::RunDirUse::New),
                    Catch::Contains("not empty (notes.txt)"));
  CHECK_FALSE(fs::exists(theirs / ".lock"));
  CHECK(std::distance(fs::directory_iterator(theirs), fs::directory_iterator()) == 1);
  CHECK_THROWS_WITH(train::claim_run_dir(mine / "metrics.csv", train::RunDirUse::New),
                    Catch::Contains("not a folder"));
}

namespace {

// Rank `rank` of `size` processes that never communicate: what another rank sees of the
// utilities that consult tg::train::parallel(), without MPI.
class PretendRank : public train::Parallel {
 public:
  PretendRank(int rank, int size) : rank_(rank), size_(size) {}
  int rank() const override { return rank_; }
  int size() const override { return size_; }

 private:
  int rank_, size_;
};

// Installs a group for one scope, and the single process again after it.
struct InstalledGroup {
  explicit InstalledGroup(train::Parallel& group) { train::set_parallel(&group); }
  ~InstalledGroup() { train::set_parallel(nullptr); }
};

}  // namespace

TEST_CASE("one process is the default group: rank 0 of 1, collectives return their input",
          "[train][parallel]") {
  train::Parallel& group = train::parallel();
  CHECK(group.rank() == 0);
  CHECK(group.size() == 1);
  CHECK(group.is_root());
  CHECK(group.share(5) == std::pair<std::size_t, std::size_t>{0, 5});
  CHECK(group.strided_share({4, 7, 9}) == std::vector<std::size_t>{4, 7, 9});
  std::vector<double> values{1.5, -2};
  group.sum(values);
  CHECK(values == std::vector<double>{1.5, -2});
  CHECK(group.max(3.25) == 3.25);
  CHECK(group.all_gather_rows({1, -0.0f, 3, 4}, 2, 2) == std::vector<float>{1, -0.0f, 3, 4});
  CHECK_THROWS_WITH(group.all_gather_rows({1, 2, 3}, 2, 2), Catch::Contains("holds 3 values"));
  CHECK(group.communication_seconds() == 0);
}

TEST_CASE("share and strided_share split a global batch as the examples' jobs do",
          "[train][parallel]") {
  // 10 items over 3 ranks: 4, 3, 3 contiguous; every 3rd item from the rank.
  const std::vector<std::size_t> global{0, 1, 2, 3, 4, 5, 6, 7, 8, 9};
  CHECK(PretendRank(0, 3).share(10) == std::pair<std::size_t, std::size_t>{0, 4});
  CHECK(PretendRank(1, 3).share(10) == std::pair<std::size_t, std::size_t>{4, 7});
  CHECK(PretendRank(2, 3).share(10) == std::pair<std::size_t, std::size_t>{7, 10});
  CHECK(PretendRank(2, 3).share(1) == std::pair<std::size_t, std::size_t>{1, 1});  // empty
  CHECK(PretendRank(1, 3).strided_share(global) == std::vector<std::size_t>{1, 4, 7});
  CHECK_FALSE(PretendRank(1, 3).is_root());
}

TEST_CASE("outside rank 0 of the installed group the run-file writers write nothing",
          "[train][parallel]") {
  TempDir dir;
  PretendRank other(1, 2);
  {
    InstalledGroup installed(other);
    CHECK(&train::parallel() == &other);
    train::write_file_atomic(dir.path / "report.txt", "x");
    train::CsvWriter csv(dir.path / "metrics.csv", {"epoch"});
    csv.write_row({1});
    CHECK(train::make_run_dir(dir.path / "runs") == dir.path / "runs");
    CHECK_FALSE(train::claim_run_dir(dir.path / "run", train::RunDirUse::New).lock.held());
    CHECK(names_in(dir.path).empty());
  }
  CHECK(train::parallel().is_root());  // the single process again
  train::write_file_atomic(dir.path / "report.txt", "x");
  CHECK(names_in(dir.path) == std::vector<std::string>{"report.txt"});
}

TEST_CASE("messages are one line of bounded length that names the program", "[train][messages]") {
  train::set_program_name("/usr/local/bin/my_trainer");
  CHECK(train::program_name() == "my_trainer");
  CHECK(train::message_line("warning", "first\nsecond\r\n") == "my_trainer: warning: first second");
  const std::string long_line = train::message_line("error", std::string(1000, 'x'));
  CHECK_THAT(long_line, Catch::EndsWith("... (700 more characters)"));
  CHECK(long_line.size() < 400);
  train::set_program_name("tapegrad");
}

TEST_CASE("a resume state round-trips its entries and the command line it records",
          "[train][resume]") {
  TempDir dir;
  const std::vector<std::string> args{"train", "--name", "a b\nc", "", "x:y"};
  CHECK(train::decode_args(train::encode_args(args)) == args);
  CHECK_THROWS_WITH(train::decode_args("5:ab"), Catch::Contains("damaged"));

  train::ResumeState state;
  state.set_run("my_trainer", train::encode_args(args));
  state.put_number("lr", 0.1);
  state.put_size("epoch", 3);
  state.put_indices("order", {2, 0, 1});
  state.save(dir.path);
  CHECK(names_in(dir.path) == std::vector<std::string>{train::kResumeFile});
  const train::ResumeState loaded = train::ResumeState::load(dir.path, "my_trainer");
  CHECK(train::decode_args(loaded.run_args()) == args);
  CHECK(loaded.number("lr") == 0.1);  // shortest round-trip text: exact
  CHECK(loaded.size("epoch") == 3);
  CHECK(loaded.indices("order") == std::vector<std::size_t>{2, 0, 1});
  CHECK_THROWS_WITH(loaded.size("lr"), Catch::Contains("lr is not a count"));
  CHECK_THROWS_WITH(train::ResumeState::load(dir.path, "other"),
                    Catch::Contains("is a my_trainer run, not a other one"));
}

TEST_CASE("a stop signal is a flag polled between batches, then an Interrupted naming the run",
          "[train][signals]") {
  train::set_program_name("my_trainer");
  {
    const train::StopSignals guard;
    CHECK(train::stop_signal() == 0);
    std::raise(SIGTERM);  // handled: the process goes on
    CHECK(train::stop_signal() == SIGTERM);
    train::StopRequest request("runs/r1");
    REQUIRE(request.requested());
    try {
      request.stopped(2, 7);
      FAIL("stopped() returned");
    } catch (const train::Interrupted& e) {
      CHECK(e.signal() == SIGTERM);
      CHECK(std::string(e.what()) ==
            "SIGTERM during epoch 2; the run is saved at batch 7 of epoch 2; resume with: "
            "my_trainer train --resume 'runs/r1'");
    }
  }
  train::set_program_name("tapegrad");
}
