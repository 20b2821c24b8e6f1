// Command-line conventions shared by the examples: one-line errors, exit codes, --threads.
#include "common/cli.hpp"

#include <autograd/blas.hpp>

#include <CLI/CLI.hpp>

#include <cstdlib>
#include <iostream>

namespace tg::examples {
namespace {

constexpr int kErrorExit = 2;

std::string& name_storage() {
  static std::string name = "tapegrad";
  return name;
}

// Messages from CLI11 or nested errors may hold newlines; the contract is one line.
std::string one_line(const std::string& text) {
  std::string out;
  for (char c : text) {
    if (c == '\n' || c == '\r') {
      if (!out.empty() && out.back() != ' ') out += ' ';
    } else {
      out += c;
    }
  }
  while (!out.empty() && out.back() == ' ') out.pop_back();
  return out;
}

void print_line(const char* kind, const std::string& message) {
  // Whatever stdout holds goes first, so a log that merges both streams keeps the order.
  std::cout.flush();
  std::fflush(stdout);
  std::fprintf(stderr, "%s: %s: %s\n", program_name().c_str(), kind, one_line(message).c_str());
  std::fflush(stderr);
}

}  // namespace

const std::string& program_name() { return name_storage(); }

void print_error(const std::string& message) { print_line("error", message); }

void print_warning(const std::string& message) { print_line("warning", message); }

int run_main(int argc, char** argv, const std::function<int()>& fn) {
  if (argc > 0 && argv && argv[0] && *argv[0]) {
    const std::string path = argv[0];
    name_storage() = path.substr(path.find_last_of('/') + 1);
  }
  try {
    return fn();
  } catch (const ExitRequest& e) {
    return e.code;
  } catch (const std::exception& e) {  // tg::Error, UsageError, std::bad_alloc, ...
    print_error(e.what());
  } catch (...) {
    print_error("unknown error");
  }
  return kErrorExit;
}

void parse_args(CLI::App& app, int argc, char** argv) {
  try {
    app.parse(argc, argv);
  } catch (const CLI::Success& e) {
    // app.exit prints the help of the subcommand that was asked about (or the version).
    throw ExitRequest{app.exit(e, std::cout, std::cerr)};
  } catch (const CLI::ParseError& e) {
    throw UsageError(std::string(e.what()) + " (see --help)");
  }
}

CLI::Option* positive(CLI::Option* option) {
  return option->check(CLI::Validator(
      [](std::string& text) -> std::string {
        char* end = nullptr;
        const double value = std::strtod(text.c_str(), &end);
        if (text.empty() || *end != '\0') return "expected a number, got '" + text + "'";
        if (!(value > 0)) return "must be above 0, got " + text;
        return "";
      },
      "POSITIVE"));
}

CLI::Option* add_threads_option(CLI::App& app, int& threads) {
  return app
      .add_option("--threads", threads,
                  "BLAS threads for matrix products (default: OPENBLAS_NUM_THREADS or "
                  "all cores)")
      ->check(CLI::Range(1, 1024));
}

void apply_threads(int threads, std::FILE* out) {
  if (threads > 0) tg::blas::set_num_threads(threads);
  static bool printed = false;
  if (!out || printed) return;
  printed = true;
  std::fprintf(out, "%s\n", tg::blas::describe().c_str());
  std::fflush(out);
}

}  // namespace tg::examples
