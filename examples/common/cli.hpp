// Command-line conventions shared by the examples: one-line errors, exit codes, --threads.
#pragma once

#include <tapegrad/autograd/error.hpp>

#include <cstdint>
#include <cstdio>
#include <functional>
#include <exception>
#include <string>
#include <vector>

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
// "<program>: error: <message>" (tg::train::print_error), and exit code 2: new users see what
// went wrong, not "terminate called after throwing an instance of ...", an abort and a core
// dump. The program name (tg::train::program_name) is argv[0] without its directories.
// A tg::train::Interrupted (a run stopped by a signal) prints "<program>: interrupted: <message>"
// and exits with 128 + signal, as a shell reports a program killed by it.
int run_main(int argc, char** argv, const std::function<int()>& fn);

// The command line to parse. Without --resume: argv as it is. With `train --resume RUN` (nothing
// else is accepted beside it: the flags are the run's), the arguments RUN was started with
// (tg::train::ResumeState::run_args), followed by --resume RUN. `started` receives the arguments
// to record in the run (never holding --resume).
std::vector<std::string> resume_command_line(int argc, char** argv, const std::string& example,
                                             std::string& started);

// app.parse with the examples' conventions: --help and --help-all print to stdout and end the
// program with code 0 (ExitRequest); a parse error (unknown flag, missing value, failed check)
// becomes a UsageError. Errors thrown by option callbacks pass through unchanged.
void parse_args(CLI::App& app, int argc, char** argv);

// Every numeric flag of the examples goes through one of these two checks, so that NaN,
// infinities, negative numbers given to unsigned flags (CLI11 would wrap "-1" to 2^64-1) and
// absurd sizes are refused while parsing, before any work, with one line naming the flag and
// the accepted range ("--epochs: must be an integer in [1, 100000], got -3"). The range also
// shows in --help. CLI::Range is not used: it lets NaN through. Both return `option`.
CLI::Option* integer_in(CLI::Option* option, std::uint64_t min, std::uint64_t max);
// A finite number in [min, max]; `min_open` / `max_open` exclude that end ("(0, 10]").
CLI::Option* number_in(CLI::Option* option, double min, double max, bool min_open = false,
                       bool max_open = false);

// Throws std::logic_error naming the first numeric option of `app` (or its subcommands) that
// has neither check: a flag added without a range is a programming error, caught by every run
// (and by the tests that run --help), not left for a user to find with "nan".
void require_range_checks(const CLI::App& app);

// Adds --threads N to app (default 0: OPENBLAS_NUM_THREADS or all cores; under mpirun, a share).
CLI::Option* add_threads_option(CLI::App& app, int& threads);

// Adds --precision auto|float32|bf16 to a training command; the command runs its
// training inside tg::AutocastGuard(parse_matmul_precision(precision)).
CLI::Option* add_precision_option(CLI::App& app, std::string& precision);

// Sets the BLAS thread count when threads > 0 (or, under mpirun without OPENBLAS_NUM_THREADS,
// to the cores divided by the processes), then prints tg::blas::describe() to `out`
// (kernel and threads: the first thing to know when comparing speeds), once per process.
// A null `out` prints nothing: for commands whose stdout is only their result, or that run at
// batch sizes where BLAS is not what matters.
void apply_threads(int threads, std::FILE* out = stdout);

}  // namespace tg::examples
