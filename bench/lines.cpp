// The JSON lines and timing that tapegrad's bench_recurrent and the libtorch peer share
// (the contract is bench/pytorch_workloads.py's docstring).
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "bench_util.hpp"
#include "lines.hpp"

namespace tg::bench {

namespace {
std::string g_framework = "tapegrad";
std::string g_precision = "float32";  // --precision, stamped on records unless float32
}  // namespace

void set_framework(const std::string& name) { g_framework = name; }
void set_precision_label(const std::string& precision) { g_precision = precision; }
const std::string& framework() { return g_framework; }

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
  std::fprintf(stderr, "%s: %s\n", g_framework == "tapegrad" ? "bench_recurrent"
                                                                : "libtorch_workloads",
               message.c_str());
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
  Fields record{{"framework", json_string(g_framework)},
                {"workload", json_string(workload)},
                {"config", json_object(config)},
                {"metric", json_string(metric)},
                {"value", json_number(value)},
                {"repeats", json_number(static_cast<double>(n))},
                {"median_of", list},
                {"unit", json_string(unit)}};
  if (stat != "median") record.push_back({"stat", json_string(stat)});
  if (g_precision != "float32") record.push_back({"precision", json_string(g_precision)});
  record.insert(record.end(), extra.begin(), extra.end());
  emit(record);
}

void emit_names_skipped(const std::string& workload, const std::string& names_dir) {
  const std::string reason = fmt::format(
      "names data folder {} absent or empty: workload {} skipped", names_dir, workload);
  log(reason);
  emit({{"framework", json_string(g_framework)}, {"workload", json_string(workload)},
        {"skipped", json_string(reason)}});
}

// ---- timing ---------------------------------------------------------------------------------

RunLength run_length(int repeats_flag, bool quick) {
  return {repeats_flag > 0 ? repeats_flag : (quick ? 3 : 5), quick ? 0.2 : 1.0, quick ? 0.1 : 0.5};
}

Timing per_step_seconds(const std::function<void()>& step, int repeats, double min_time,
                        double warmup_time) {
  const double start = now_seconds();
  std::vector<double> recent;
  std::size_t warmup_steps = 0;
  while (recent.size() < 2 || now_seconds() - start < warmup_time) {
    const double t0 = now_seconds();
    step();
    ++warmup_steps;
    recent.push_back(now_seconds() - t0);
    if (recent.size() > 3) recent.erase(recent.begin());
  }
  const double fastest = std::max(*std::min_element(recent.begin(), recent.end()), 1e-9);
  Timing timing;
  timing.steps_per_repeat = static_cast<std::size_t>(std::max(1.0, std::ceil(min_time / fastest)));
  timing.warmup_steps = warmup_steps;
  for (int r = 0; r < repeats; ++r) {
    const double t0 = now_seconds();
    for (std::size_t s = 0; s < timing.steps_per_repeat; ++s) step();
    timing.samples.push_back((now_seconds() - t0) / static_cast<double>(timing.steps_per_repeat));
  }
  return timing;
}

}  // namespace tg::bench
