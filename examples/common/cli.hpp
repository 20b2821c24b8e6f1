// Command-line conventions shared by the examples: one-line errors, exit codes, --threads.
#pragma once

#include <autograd/error.hpp>

#include <cstdio>
#include <functional>
#include <string>

// CLI11 stays out of this header: it is large, and only the files that build an App need it.
namespace CLI {
class App;
class Option;
}  // namespace CLI

namespace tg::examples {

// Bad command-line input, reported like any other error but with a pointer to --help.
class UsageError : public Error {
 public:
  using Error::Error;
};

// Ends the program through run_main with `code` once the output is complete (after --help).
// Not a std::exception, so that no `catch (const std::exception&)` on the way swallows it.
struct ExitRequest {
  int code = 0;
};

// Runs fn and returns its exit code. Anything it throws becomes one line on stderr,
// "<program>: error: <message>", and exit code 2: new users see what went wrong, not
// "terminate called after throwing an instance of ...", an abort and a core dump.
// The program name is argv[0] without its directories.
int run_main(int argc, char** argv, const std::function<int()>& fn);

// The program name run_main saw ("tapegrad" before that).
const std::string& program_name();

// "<program>: error: <message>" / "<program>: warning: <message>" on stderr, on one line.
void print_error(const std::string& message);
void print_warning(const std::string& message);

// app.parse with the examples' conventions: --help and --help-all print to stdout and end the
// program with code 0 (ExitRequest); a parse error (unknown flag, missing value, failed check)
// becomes a UsageError. Errors thrown by option callbacks pass through unchanged.
void parse_args(CLI::App& app, int argc, char** argv);

// Requires a numeric option to be > 0 with a readable message ("--epochs: must be above 0,
// got -3"); CLI11's PositiveNumber prints the largest double instead. Returns `option`.
CLI::Option* positive(CLI::Option* option);

// Adds --threads N to app (default 0: OpenBLAS's own choice, OPENBLAS_NUM_THREADS or all cores).
CLI::Option* add_threads_option(CLI::App& app, int& threads);

// Sets the BLAS thread count when threads > 0, then prints tg::blas::describe() to `out`
// (kernel and threads: the first thing to know when comparing speeds), once per process.
// A null `out` prints nothing: for commands whose stdout is only their result, or that run at
// batch sizes where BLAS is not what matters.
void apply_threads(int threads, std::FILE* out = stdout);

}  // namespace tg::examples
