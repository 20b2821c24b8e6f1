// tg::train's utilities: progress line, SVG charts, run files, checkpoints, resume state, the
// single-process Parallel. They are tested through the library alone (no examples linked).
#include <catch2/catch.hpp>

#include <cmath>
#include <cstdio>
#include <string>

#include "tapegrad/train/progress.hpp"
#include "test_support.hpp"

namespace train = tg::train;
using tg::testing::occurrences;
using tg::testing::written_to;

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

