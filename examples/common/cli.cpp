// Command-line conventions shared by the examples: one-line errors, exit codes, --threads.
#include "common/cli.hpp"

#include <fmt/format.h>

#include <tapegrad/autograd/blas.hpp>
#include <tapegrad/autograd/tensor.hpp>
#include <tapegrad/train/messages.hpp>
#include <tapegrad/train/parallel.hpp>
#include <tapegrad/train/resume.hpp>

#include "common/job.hpp"

#include <CLI/CLI.hpp>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <stdexcept>
#include <thread>

namespace tg::examples {
namespace {

constexpr int kErrorExit = 2;

}  // namespace

int run_main(int argc, char** argv, const std::function<int()>& fn) {
  if (argc > 0 && argv && argv[0]) tg::train::set_program_name(argv[0]);
  tg::tune_malloc_for_training();  // a training program: keep freed memory (see tensor.hpp)
  const Job* job = nullptr;
  std::string error;
  try {
    job = &Job::current();  // joins the mpirun job, if mpirun started this process
    return fn();
  } catch (const ExitRequest& e) {
    return e.code;
  } catch (const tg::train::Interrupted& e) {
    // Every rank stops at the same batch (the signal is agreed on); rank 0 says how to resume.
    if (!job || job->is_root()) tg::train::print_message("interrupted", e.what());
    return 128 + e.signal();
  } catch (const std::exception& e) {  // tg::Error, UsageError, std::bad_alloc, ...
    error = e.what();
  } catch (...) {
    error = "unknown error";
  }
  // In a job of several ranks the others may be waiting for this one in a collective: end them
  // all rather than leave them hanging.
  if (job && job->size() > 1)
    job->abort(tg::train::message_line("error", error), kErrorExit);
  tg::train::print_error(error);
  return kErrorExit;
}

std::vector<std::string> resume_command_line(int argc, char** argv, const std::string& example,
                                             std::string& started) {
  std::vector<std::string> args(argv + 1, argv + argc);
  std::string run;
  std::size_t at = args.size();
  for (std::size_t i = 0; i < args.size(); ++i) {
    if (args[i] == "--resume" && i + 1 < args.size()) {
      run = args[i + 1];
      at = i;
    } else if (args[i].compare(0, 9, "--resume=") == 0) {
      run = args[i].substr(9);
      at = i;
    }
  }
  if (at == args.size()) {
    started = tg::train::encode_args(args);
    return {argv, argv + argc};
  }
  const std::size_t used = args[at] == "--resume" ? 2 : 1;
  const bool allow_data_change =
      std::count(args.begin(), args.end(), std::string("--allow-data-change")) == 1;
  if (args.size() != used + 1 + (allow_data_change ? 1 : 0) || args[0] != "train")
    throw UsageError("--resume: give only `train --resume RUN` (and --allow-data-change); the "
                     "other flags are the run's own (see --help)");
  const tg::train::ResumeState state = [&] {
    try {
      return tg::train::ResumeState::load(run, example);
    } catch (const Error& e) {
      throw Error(std::string("--resume: ") + e.what());
    }
  }();
  std::vector<std::string> out{argv[0]};
  try {
    for (std::string& a : tg::train::decode_args(state.run_args())) out.push_back(std::move(a));
  } catch (const Error& e) {
    const std::filesystem::path file = std::filesystem::path(run) / tg::train::kResumeFile;
    throw Error(fmt::format("{}: {}", file.string(), e.what()));
  }
  started = state.run_args();
  out.push_back("--resume");
  out.push_back(run);
  if (allow_data_change) out.push_back("--allow-data-change");
  return out;
}

void parse_args(CLI::App& app, int argc, char** argv) {
  require_range_checks(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::Success& e) {
    // app.exit prints the help of the subcommand that was asked about (or the version).
    throw ExitRequest{app.exit(e, std::cout, std::cerr)};
  } catch (const CLI::ParseError& e) {
    throw UsageError(std::string(e.what()) + " (see --help)");
  }
}

namespace {

constexpr const char* kRangeCheck = "tg-range";

std::string format_bound(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g", v);
  return buf;
}

}  // namespace

CLI::Option* integer_in(CLI::Option* option, std::uint64_t min, std::uint64_t max) {
  const std::string range = "[" + std::to_string(min) + ", " + std::to_string(max) + "]";
  return option->check(CLI::Validator(
      [min, max, range](std::string& text) -> std::string {
        const std::string refused = "must be an integer in " + range + ", got '" + text + "'";
        // Digits only: no sign (strtoull would wrap "-1"), no exponent, no spaces.
        if (text.empty() || text.size() > 20 ||
            text.find_first_not_of("0123456789") != std::string::npos)
          return refused;
        errno = 0;
        const unsigned long long v = std::strtoull(text.c_str(), nullptr, 10);
        if (errno == ERANGE || v < min || v > max) return refused;
        return "";
      },
      range, kRangeCheck));
}

CLI::Option* number_in(CLI::Option* option, double min, double max, bool min_open, bool max_open) {
  const std::string range = std::string(min_open ? "(" : "[") + format_bound(min) + ", " +
                            format_bound(max) + (max_open ? ")" : "]");
  return option->check(CLI::Validator(
      [=](std::string& text) -> std::string {
        char* end = nullptr;
        const double v = std::strtod(text.c_str(), &end);
        // !(a <= b) rather than a > b: NaN fails every comparison and must be refused.
        const bool ok = !text.empty() && *end == '\0' && std::isfinite(v) &&
                        (min_open ? v > min : v >= min) && (max_open ? v < max : v <= max);
        return ok ? "" : "must be a number in " + range + ", got '" + text + "'";
      },
      range, kRangeCheck));
}

void require_range_checks(const CLI::App& app) {
  for (const CLI::Option* option : app.get_options()) {
    const std::string type = option->get_type_name();
    const std::string base = type.substr(0, type.find(':'));
    if (base != "INT" && base != "UINT" && base != "FLOAT") continue;
    try {
      const_cast<CLI::Option*>(option)->get_validator(kRangeCheck);
    } catch (const CLI::OptionNotFound&) {
      throw std::logic_error(app.get_name() + " " + option->get_name() +
                             ": numeric flag without integer_in / number_in");
    }
  }
  for (const CLI::App* sub : app.get_subcommands([](const CLI::App*) { return true; }))
    require_range_checks(*sub);
}

CLI::Option* add_threads_option(CLI::App& app, int& threads) {
  return integer_in(app.add_option("--threads", threads,
                                   "BLAS threads for matrix products (default: "
                                   "OPENBLAS_NUM_THREADS, or all cores; under mpirun, the "
                                   "cores shared out among the processes)"),
                    1, 1024);
}

CLI::Option* add_precision_option(CLI::App& app, std::string& precision) {
  return app
      .add_option("--precision", precision,
                  "Matrix products: float32, or bf16 (bfloat16 operands, float32 accumulation; "
                  "weights, gradients, optimizer and recurrent state stay float32), or auto: "
                  "bf16 where the CPU has AMX or AVX512-BF16 and the build has oneDNN, float32 "
                  "elsewhere (the BLAS line says which runs). bf16 asked for where it cannot run "
                  "runs float32 with a notice")
      ->check(CLI::IsMember({"auto", "float32", "bf16"}))
      ->capture_default_str();
}

void apply_threads(int threads, std::FILE* out) {
  // Under mpirun, N processes share the machine's cores: each takes its share, not all of them.
  const int processes = tg::train::parallel().size();
  if (threads <= 0 && processes > 1 && !std::getenv("OPENBLAS_NUM_THREADS"))
    threads = std::max(1, static_cast<int>(std::thread::hardware_concurrency()) / processes);
  if (threads > 0) tg::blas::set_num_threads(threads);
  static bool printed = false;
  if (!out || printed) return;
  printed = true;
  std::fprintf(out, "%s\n", tg::blas::describe().c_str());
  std::fflush(out);
}

}  // namespace tg::examples
