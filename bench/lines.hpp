// The JSON lines and timing shared by bench_recurrent (tapegrad) and libtorch_workloads (the
// libtorch peer): the contract is bench/pytorch_workloads.py's docstring.
#pragma once

#include <cstddef>
#include <functional>
#include <string>
#include <utility>
#include <vector>

namespace tg::bench {

// Stamped on every record: "tapegrad" (default) or "libtorch"; and, unless "float32", the
// tapegrad precision of the run (bench_recurrent --precision).
void set_framework(const std::string& name);
const std::string& framework();
void set_precision_label(const std::string& precision);

// ---- JSON lines -----------------------------------------------------------------------------

// A config or record as ordered (key, JSON text) pairs: keys keep PyTorch's order.
using Fields = std::vector<std::pair<std::string, std::string>>;
std::string json_number(double v);
std::string json_string(const std::string& s);
std::string json_object(const Fields& fields);
void emit(const Fields& record);  // one line on stdout, flushed
void log(const std::string& message);  // "bench_recurrent: ..." on stderr

// One measurement line: value = median of samples (or their max with stat "max").
void emit_metric(const std::string& workload, const Fields& config, const std::string& metric,
                 const std::vector<double>& samples, const std::string& unit,
                 const std::string& stat = "median", const Fields& extra = {});

// The line (and stderr message) of workload b or e skipped for want of the names data folder.
void emit_names_skipped(const std::string& workload, const std::string& names_dir);

// ---- timing ---------------------------------------------------------------------------------

// Seconds per call of step() in each of `repeats` repeats, after a warm-up of at least
// warmup_time (and 2 calls); each repeat runs the same number of calls, enough to last min_time.
struct Timing {
  std::vector<double> samples;
  std::size_t steps_per_repeat = 0;
  std::size_t warmup_steps = 0;  // run before the repeats (all steps: warm-up + repeats x per repeat)
};
Timing per_step_seconds(const std::function<void()>& step, int repeats, double min_time,
                        double warmup_time);

// How long each side of the comparison times a workload, the same for all: `--repeats` (0: the
// default, 3 with --quick, else 5), and the seconds of a timed repeat and of the warm-up.
struct RunLength {
  int repeats;
  double min_time, warmup_time;
};
RunLength run_length(int repeats_flag, bool quick);

}  // namespace tg::bench
