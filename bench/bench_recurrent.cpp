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

// ---- JSON lines -----------------------------------------------------------------------------

std::string json_number(double v) {
  if (!std::isfinite(v)) return "null";
  if (v == std::floor(v) && std::fabs(v) < 1e15)
    return fmt::format("{}", static_cast<long long>(v));
  return fmt::format("{}", v);
}

std::string json_string(const std::string& s) {
  std::string out = "\"";
  for (char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += ch;
    } else if (c < 0x20) {
      out += fmt::format("\\u{:04x}", c);
    } else {
      out += ch;
    }
  }
  return out + "\"";
}

std::string json_object(const Fields& fields) {
  std::string out = "{";
  for (std::size_t i = 0; i < fields.size(); ++i)
    out += (i ? ", " : "") + json_string(fields[i].first) + ": " + fields[i].second;
  return out + "}";
}

void emit(const Fields& record) {
  std::fputs((json_object(record) + "\n").c_str(), stdout);
  std::fflush(stdout);
}

void log(const std::string& message) {
  std::fprintf(stderr, "bench_recurrent: %s\n", message.c_str());
  std::fflush(stderr);
}

void emit_metric(const std::string& workload, const Fields& config, const std::string& metric,
                 const std::vector<double>& samples, const std::string& unit,
                 const std::string& stat, const Fields& extra) {
  std::vector<double> sorted = samples;
  std::sort(sorted.begin(), sorted.end());
  const std::size_t n = sorted.size();
  const double median = n % 2 ? sorted[n / 2] : (sorted[n / 2 - 1] + sorted[n / 2]) / 2;
  const double value = stat == "max" ? sorted.back() : median;
  std::string list = "[";
  for (std::size_t i = 0; i < samples.size(); ++i)
    list += (i ? ", " : "") + json_number(samples[i]);
  list += "]";
  Fields record{{"framework", json_string("tapegrad")},
                {"workload", json_string(workload)},
                {"config", json_object(config)},
                {"metric", json_string(metric)},
                {"value", json_number(value)},
                {"repeats", json_number(static_cast<double>(n))},
                {"median_of", list},
                {"unit", json_string(unit)}};
  if (stat != "median") record.push_back({"stat", json_string(stat)});
  record.insert(record.end(), extra.begin(), extra.end());
  emit(record);
}

void emit_names_skipped(const std::string& workload, const std::string& names_dir) {
  const std::string reason = fmt::format(
      "names data folder {} absent or empty: workload {} skipped", names_dir, workload);
  log(reason);
  emit({{"framework", json_string("tapegrad")}, {"workload", json_string(workload)},
        {"skipped", json_string(reason)}});
}

// ---- timing ---------------------------------------------------------------------------------

Timing per_step_seconds(const std::function<void()>& step, int repeats, double min_time,
                        double warmup_time) {
  const double start = now_seconds();
  std::vector<double> recent;
  while (recent.size() < 2 || now_seconds() - start < warmup_time) {
    const double t0 = now_seconds();
    step();
    recent.push_back(now_seconds() - t0);
    if (recent.size() > 3) recent.erase(recent.begin());
  }
  const double fastest = std::max(*std::min_element(recent.begin(), recent.end()), 1e-9);
  Timing timing;
  timing.steps_per_repeat = static_cast<std::size_t>(std::max(1.0, std::ceil(min_time / fastest)));
  for (int r = 0; r < repeats; ++r) {
    const double t0 = now_seconds();
    for (std::size_t s = 0; s < timing.steps_per_repeat; ++s) step();
    timing.samples.push_back((now_seconds() - t0) / static_cast<double>(timing.steps_per_repeat));
  }
  return timing;
}

std::vector<double> sgemm_gflops(int samples) {
  const std::size_t n = kPeakN;
  const Tensor a = Tensor::uniform({n, n}, -0.5, 0.5);
  const Tensor b = Tensor::uniform({n, n}, -0.5, 0.5);
  Tensor c = Tensor::zeros({n, n});
  const int ni = static_cast<int>(n);
  auto product = [&] {
    blas::gemm<float>(false, false, ni, ni, ni, 1.0f, a.value().data(), ni, b.value().data(), ni,
                      0.0f, c.value().data(), ni);
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
    "usage: bench_recurrent --workload a|b|c|d|e|peak [--threads N] [--repeats N] [--quick]\n"
    "                       [--names-dir DIR] [--steps N] [--grid-point B,H,T,L]\n"
    "tapegrad's side of bench/compare_pytorch.py; the workloads and the JSON lines printed on\n"
    "stdout are defined in bench/pytorch_workloads.py. --grid-point (tapegrad only, for\n"
    "profiling) runs one point of workload c: batch, hidden, sequence, layers.\n";

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
  const std::vector<std::string> known{"a", "b", "c", "d", "e", "peak", "e-child"};
  if (std::find(known.begin(), known.end(), o.workload) == known.end())
    throw std::invalid_argument("--workload must be one of a, b, c, d, e, peak");
  if (o.of != "a" && o.of != "b") throw std::invalid_argument("--of must be a or b");
  o.repeats = repeats > 0 ? repeats : (o.quick ? 3 : 5);
  if (o.repeats < 5 && !o.quick)
    log(fmt::format("warning: {} repeats; figures should be medians of at least 5", o.repeats));
  o.steps = steps > 0 ? steps : (o.quick ? 10 : 50);
  o.min_time = o.quick ? 0.2 : 1.0;
  o.warmup_time = o.quick ? 0.1 : 0.5;
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
    if (o.workload == "e-child") {
      run_e_child(o);
      return 0;
    }
    const std::string blas = tg::blas::describe();
    log(blas);
    emit({{"framework", json_string("tapegrad")},
          {"info", json_object({{"workload", json_string(o.workload)},
                                {"threads", json_number(o.threads)},
                                {"blas", json_string(blas)}})}});
    if (o.workload == "a") run_a(o);
    else if (o.workload == "b") run_b(o);
    else if (o.workload == "c") run_c(o);
    else if (o.workload == "d") run_d(o);
    else if (o.workload == "e") run_e(o);
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
