// A live progress line for training loops: step/total, running loss, rate, elapsed and ETA.
#pragma once

#include <cstddef>
#include <cstdio>
#include <functional>
#include <optional>
#include <string>

namespace tg::train {

// "0.4s", "42s", "1m05s", "2h03m"; "--" for a negative or non-finite value (an unknown ETA).
std::string format_duration(double seconds);
// "850/s", "12.3k/s", "4.56M/s", three significant digits; with a unit: "12.3k names/s".
std::string format_rate(double per_second, const std::string& unit = "");

struct ProgressOptions {
  std::string label;              // leads the line, e.g. "epoch 3/10"
  std::string unit;               // what items are, e.g. "names": "12.3k names/s"
  double redraw_seconds = 0.1;    // terminal redraws at most this often: printing is not free
  int log_every_percent = 10;     // without a terminal: one plain line per this many percent
  std::optional<bool> terminal;   // default: isatty() of the stream
  std::function<double()> clock;  // seconds from any origin; default: steady_clock (tests fake it)
};

// Options of an epoch's progress line labelled `label` (e.g. "epoch 3/10") counting `unit`s;
// without a terminal (a log) it prints a line every `log_percent` percent, 100 being only the
// epoch's final line.
ProgressOptions epoch_progress(const std::string& label, const std::string& unit,
                               int log_percent = 100);

// On a terminal the line is redrawn in place with '\r', throttled in time; when the stream is a
// pipe or a file (CI logs, `| tee`) it prints a plain line every few percent instead, because
// hundreds of '\r' redraws make a log unreadable. finish() ends the line; the destructor ends a
// half-drawn line too, so an error message printed during unwinding starts on a fresh line.
class Progress {
 public:
  // total_steps 0 means unknown: no percentage or ETA.
  explicit Progress(std::size_t total_steps, ProgressOptions options = {},
                    std::FILE* stream = stdout);
  ~Progress();
  Progress(const Progress&) = delete;
  Progress& operator=(const Progress&) = delete;

  // One step done, whose mean loss over `items` items was `loss`. The shown loss is the mean
  // over all items so far (an epoch's training loss, not one noisy batch).
  void step(double loss, std::size_t items = 1);
  // Extra text shown after the loss, e.g. "acc 81.2%"; updated lazily with the next draw.
  void set_note(std::string note);
  // Prints a message on its own line without breaking the progress line (e.g. a warning).
  void message(const std::string& text);
  // Draws the final state and ends the line, followed by `summary` if given. Idempotent.
  void finish(const std::string& summary = "");

  std::size_t steps() const { return done_; }
  std::size_t items() const { return items_; }
  double mean_loss() const;  // NaN before the first step
  double loss_sum() const { return loss_sum_; }  // sum of loss x items
  // Continues an epoch resumed in its middle: as if `steps` steps of `items` items in all, with
  // this loss sum, had been done (the rate and ETA count only the steps done since).
  void resume_from(std::size_t steps, std::size_t items, double loss_sum);
  double elapsed() const;
  // The text of the line for the current state (no '\r' or newline).
  std::string line() const;

 private:
  void draw(const std::string& tail, bool final_draw);
  double now() const;

  std::size_t total_;
  ProgressOptions options_;
  std::FILE* stream_;
  bool terminal_;
  double start_;
  double last_draw_ = -1e300;
  std::size_t done_ = 0;
  std::size_t items_ = 0;
  double loss_sum_ = 0;  // sum of loss * items
  int next_log_percent_;
  std::size_t drawn_width_ = 0;  // width of the last '\r' line, to blank out leftovers
  bool line_open_ = false;
  bool finished_ = false;
  std::string note_;
};

}  // namespace tg::train
