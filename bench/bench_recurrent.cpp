// bench_recurrent: tapegrad's side of the recurrent benchmark against PyTorch (command line, JSON
// lines, timing, the sgemm peak and the fresh-process memory workload).
#include <fmt/format.h>
#include <sys/resource.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <stdexcept>
#include <sstream>
#include <string>

#include "tapegrad/autograd/blas.hpp"
#include "workloads.hpp"

namespace tg::bench {

std::vector<double> sgemm_gflops(int samples) {
  const std::size_t n = kPeakN;
  const Tensor a = Tensor::uniform({n, n}, -0.5, 0.5);
  const Tensor b = Tensor::uniform({n, n}, -0.5, 0.5);
  Tensor c = Tensor::zeros({n, n});
  const int ni = static_cast<int>(n);
  const auto prepared = blas::prepare_b<float>(matmul_precision(), false, false, ni, ni, ni, ni,
                                               b.value().data(), ni, 0.0f, ni);
  const blas::How how{matmul_precision(), prepared.get()};
  auto product = [&] {
    blas::gemm<float>(false, false, ni, ni, ni, 1.0f, a.value().data(), ni, b.value().data(), ni,
                      0.0f, c.mutable_value().data(), ni, how);
  };
  product();
  std::vector<double> result;
  for (int s = 0; s < samples; ++s) {
    const double t0 = now_seconds();
    product();
    result.push_back(2.0 * n * n * n / (now_seconds() - t0) / 1e9);
  }
  return result;
}

double max_rss_mib() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return static_cast<double>(usage.ru_maxrss) / 1024.0;  // Linux: KiB
}

namespace {

// ---- peak and memory ------------------------------------------------------------------------

void run_peak(const Options& o) {
  emit_metric("peak", {{"n", json_number(kPeakN)}, {"threads", json_number(o.threads)}},
              "sgemm_gflops", sgemm_gflops(std::max(5, o.repeats)), "GFLOP/s", "max");
}

void run_e_child(const Options& o) {
  if (o.of == "a") {
    const auto step = baby_lm_trainer();
    for (int i = 0; i < o.steps; ++i) step();
  } else {
    const NameData data = load_names(o.names_dir);
    if (data.pairs.empty()) throw std::runtime_error("no names in " + o.names_dir);
    NameClassifier model(data.languages.size());
    const std::size_t n = data.pairs.size();
    for (int i = 0; i < o.steps; ++i) {
      const std::size_t begin = (static_cast<std::size_t>(i) * kNamesBatch) % n;
      model.step(names_batch(data.pairs, begin, std::min(n, begin + kNamesBatch)));
    }
  }
  emit({{"peak_rss_mib", json_number(max_rss_mib())},
        {"baseline_rss_mib", json_number(o.baseline_rss_mib)}});
}

std::string shell_quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

// The last line a child process prints on stdout.
std::string run_child(const std::string& command) {
  FILE* pipe = popen(command.c_str(), "r");
  if (!pipe) throw std::runtime_error("cannot start " + command);
  std::string out, last;
  char buffer[4096];
  while (std::fgets(buffer, sizeof buffer, pipe)) out += buffer;
  const int status = pclose(pipe);
  if (status != 0) throw std::runtime_error(fmt::format("'{}' failed ({})", command, status));
  std::size_t end = out.find_last_not_of('\n');
  if (end == std::string::npos) throw std::runtime_error("no output from " + command);
  const std::size_t begin = out.rfind('\n', end);
  return out.substr(begin == std::string::npos ? 0 : begin + 1, end + 1 - (begin + 1));
}

double json_field(const std::string& line, const std::string& key) {
  const std::size_t at = line.find(json_string(key));
  if (at == std::string::npos) throw std::runtime_error("no " + key + " in " + line);
  const std::size_t colon = line.find(':', at);
  return std::strtod(line.c_str() + colon + 1, nullptr);
}

void run_e(const Options& o) {
  const std::string self = std::filesystem::read_symlink("/proc/self/exe").string();
  for (const char* of : {"a", "b"}) {
    if (std::string(of) == "b" && load_names(o.names_dir).pairs.empty()) {
      emit_names_skipped("e", o.names_dir);
      continue;
    }
    const std::string command = fmt::format(
        "{} --workload e-child --of {} --steps {} --threads {} --names-dir {}", shell_quote(self),
        of, o.steps, o.threads, shell_quote(o.names_dir));
    std::vector<double> peak, baseline;
    for (int r = 0; r < o.repeats; ++r) {
      const std::string line = run_child(command);
      peak.push_back(json_field(line, "peak_rss_mib"));
      baseline.push_back(json_field(line, "baseline_rss_mib"));
    }
    const Fields config{{"of", json_string(of)}, {"steps", json_number(o.steps)},
                        {"threads", json_number(o.threads)}};
    emit_metric("e", config, "peak_rss_mib", peak, "MiB");
    emit_metric("e", config, "baseline_rss_mib", baseline, "MiB");
  }
}

// ---- command line ---------------------------------------------------------------------------

const char* const kUsage =
    "usage: bench_recurrent --workload a|b|c|d|e|f|peak [--threads N] [--repeats N] [--quick]\n"
    "                       [--names-dir DIR] [--steps N] [--grid-point B,H,T,L]\n"
    "                       [--precision float32|float32-openblas|float32-onednn|bf16]\n"
    "tapegrad's side of bench/compare_pytorch.py; the workloads and the JSON lines printed on\n"
    "stdout are defined in bench/pytorch_workloads.py. --grid-point (tapegrad only, for\n"
    "profiling) runs one point of workload c: batch, hidden, sequence, layers. --precision\n"
    "(tapegrad only) runs everything, the peak too, with float32 products by shape (default),\n"
    "all on OpenBLAS or all on oneDNN, or in tg::AutocastGuard (bf16 products).\n";

std::string default_names_dir() {
  return std::filesystem::path(TAPEGRAD_SOURCE_DIR "/../shared/data/names")
      .lexically_normal()
      .string();
}

Options parse(int argc, char** argv) {
  Options o;
  o.names_dir = default_names_dir();
  int repeats = -1, steps = -1;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) throw std::invalid_argument(arg + " needs a value");
      return argv[++i];
    };
    auto number = [&]() {
      const std::string v = value();
      char* end = nullptr;
      const long n = std::strtol(v.c_str(), &end, 10);
      if (v.empty() || *end != '\0' || n < 1)
        throw std::invalid_argument(arg + ": not a positive integer: " + v);
      return static_cast<int>(n);
    };
    if (arg == "--workload") o.workload = value();
    else if (arg == "--threads") o.threads = number();
    else if (arg == "--repeats") repeats = number();
    else if (arg == "--quick") o.quick = true;
    else if (arg == "--names-dir") o.names_dir = value();
    else if (arg == "--steps") steps = number();
    else if (arg == "--of") o.of = value();
    else if (arg == "--precision") {
      o.precision = value();
      o.report_gflops = true;
    }
    else if (arg == "--grid-point") {
      std::stringstream in(value());
      for (std::string part; std::getline(in, part, ',');) o.grid_point.push_back(std::stoul(part));
      if (o.grid_point.size() != 4) throw std::invalid_argument("--grid-point takes B,H,T,L");
    }
    else if (arg == "-h" || arg == "--help") {
      std::fputs(kUsage, stdout);
      std::exit(0);
    } else {
      throw std::invalid_argument("unknown argument " + arg);
    }
  }
  const std::vector<std::string> known{"a", "b", "c", "d", "e", "f", "peak", "e-child"};
  if (std::find(known.begin(), known.end(), o.workload) == known.end())
    throw std::invalid_argument("--workload must be one of a, b, c, d, e, f, peak");
  if (o.of != "a" && o.of != "b") throw std::invalid_argument("--of must be a or b");
  const std::vector<std::string> precisions{"float32", "float32-openblas", "float32-onednn",
                                            "bf16"};
  if (std::find(precisions.begin(), precisions.end(), o.precision) == precisions.end())
    throw std::invalid_argument(
        "--precision must be one of float32, float32-openblas, float32-onednn, bf16");
  const RunLength length = run_length(repeats, o.quick);
  o.repeats = length.repeats;
  o.min_time = length.min_time;
  o.warmup_time = length.warmup_time;
  if (o.repeats < 5 && !o.quick)
    log(fmt::format("warning: {} repeats; figures should be medians of at least 5", o.repeats));
  o.steps = steps > 0 ? steps : (o.quick ? 10 : 50);
  return o;
}

}  // namespace
}  // namespace tg::bench

int main(int argc, char** argv) {
  tg::tune_malloc_for_training();
  using namespace tg::bench;
  const double baseline = max_rss_mib();
  try {
    Options o = parse(argc, argv);
    o.baseline_rss_mib = baseline;
    tg::blas::set_num_threads(o.threads);
    set_precision_label(o.precision);
    if (o.precision == "float32-openblas")
      tg::blas::set_float32_provider(tg::blas::Float32Provider::OpenBlas);
    if (o.precision == "float32-onednn")
      tg::blas::set_float32_provider(tg::blas::Float32Provider::OneDnn);
    // Every workload runs on this thread, inside the guard when bf16.
    tg::AutocastGuard autocast(o.precision == "bf16");
    if (o.workload == "e-child") {
      run_e_child(o);
      return 0;
    }
    const std::string blas = tg::blas::describe();
    log(blas);
    emit({{"framework", json_string(framework())},
          {"info", json_object({{"workload", json_string(o.workload)},
                                {"threads", json_number(o.threads)},
                                {"precision", json_string(o.precision)},
                                {"blas", json_string(blas)}})}});
    if (o.workload == "a") run_a(o);
    else if (o.workload == "b") run_b(o);
    else if (o.workload == "c") run_c(o);
    else if (o.workload == "d") run_d(o);
    else if (o.workload == "e") run_e(o);
    else if (o.workload == "f") run_f(o);
    else run_peak(o);
  } catch (const std::invalid_argument& e) {
    std::fprintf(stderr, "bench_recurrent: %s\n%s", e.what(), kUsage);
    return 2;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_recurrent: error: %s\n", e.what());
    return 1;
  }
  return 0;
}
