// The examples' shared utilities: UTF-8 text and CLI conventions (tg::train's utilities are
// tested in test_train_utilities.cpp).
#include <catch2/catch.hpp>

#include <CLI/CLI.hpp>

#include <unistd.h>

#include <cstdio>
#include <string>
#include <vector>

#include "tapegrad/autograd/blas.hpp"
#include "tapegrad/train/messages.hpp"
#include "common/cli.hpp"
#include "common/text.hpp"
#include "test_support.hpp"

using namespace tg::examples;
using namespace tg::testing;

namespace {

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

}  // namespace

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
  CHECK(tg::train::program_name() == "name_language");

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
