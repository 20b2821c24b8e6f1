// A live progress line for training loops: step/total, running loss, rate, elapsed and ETA.
#include "tapegrad/train/progress.hpp"

#include <sys/ioctl.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <limits>

#include "nn/utf8.hpp"

namespace tg::train {
namespace {

double steady_seconds() {
  using namespace std::chrono;
  return duration<double>(steady_clock::now().time_since_epoch()).count();
}

// The longest prefix of `s` that fits `columns`, cut on a character boundary.
std::string fit_width(const std::string& s, std::size_t columns) {
  std::size_t n = 0;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if ((static_cast<unsigned char>(s[i]) & 0xC0) != 0x80 && n++ == columns) return s.substr(0, i);
  }
  return s;
}

// 0 when unknown; read at every draw, so a resized window is followed.
std::size_t terminal_columns(std::FILE* stream) {
  winsize ws{};
  if (::ioctl(::fileno(stream), TIOCGWINSZ, &ws) == 0) return ws.ws_col;
  return 0;
}

std::string printf_string(const char* format, double value) {
  char buf[64];
  std::snprintf(buf, sizeof buf, format, value);
  return buf;
}

}  // namespace

ProgressOptions epoch_progress(const std::string& label, const std::string& unit, int log_percent) {
  ProgressOptions p;
  p.label = label;
  p.unit = unit;
  p.log_every_percent = log_percent;
  return p;
}

std::string format_duration(double seconds) {
  if (!std::isfinite(seconds) || seconds < 0) return "--";
  if (seconds < 9.95) return printf_string("%.1fs", seconds);
  // Whole seconds from here on: rounding once first keeps "59.7s" from printing as "0m60s".
  const auto total = static_cast<long long>(std::llround(seconds));
  if (total < 60) return std::to_string(total) + "s";
  char buf[64];
  if (total < 3600)
    std::snprintf(buf, sizeof buf, "%lldm%02llds", total / 60, total % 60);
  else
    std::snprintf(buf, sizeof buf, "%lldh%02lldm", total / 3600, total % 3600 / 60);
  return buf;
}

std::string format_rate(double per_second, const std::string& unit) {
  const std::string suffix = (unit.empty() ? "" : " " + unit) + "/s";
  if (!std::isfinite(per_second) || per_second < 0) return "--" + suffix;
  static const char* const prefixes[] = {"", "k", "M", "G", "T"};
  std::size_t p = 0;
  double v = per_second;
  // Step up when the value would print as 1000 after rounding to three digits.
  while (v >= 999.5 && p + 1 < std::size(prefixes)) {
    v /= 1000;
    ++p;
  }
  const char* format = v >= 99.95 ? "%.0f" : v >= 9.995 ? "%.1f" : "%.2f";
  return printf_string(format, v) + prefixes[p] + suffix;
}

Progress::Progress(std::size_t total_steps, ProgressOptions options, std::FILE* stream)
    : total_(total_steps), options_(std::move(options)), stream_(stream) {
  if (!options_.clock) options_.clock = steady_seconds;
  terminal_ = options_.terminal.value_or(::isatty(::fileno(stream_)) != 0);
  if (options_.log_every_percent < 1) options_.log_every_percent = 1;
  next_log_percent_ = options_.log_every_percent;
  start_ = now();
}

Progress::~Progress() {
  if (line_open_) {
    std::fputc('\n', stream_);
    std::fflush(stream_);
  }
}

double Progress::now() const { return options_.clock(); }

double Progress::elapsed() const { return now() - start_; }

void Progress::resume_from(std::size_t steps, std::size_t items, double loss_sum) {
  done_ = steps;
  items_ = items;
  loss_sum_ = loss_sum;
}

double Progress::mean_loss() const {
  return items_ ? loss_sum_ / static_cast<double>(items_)
                : std::numeric_limits<double>::quiet_NaN();
}

void Progress::set_note(std::string note) { note_ = std::move(note); }

std::string Progress::line() const {
  std::string s = options_.label;
  const auto add = [&s](const std::string& part) {
    if (!s.empty()) s += "  ";
    s += part;
  };
  if (total_) {
    // Fixed widths keep the fields from jittering as the counts grow.
    const int width = static_cast<int>(std::to_string(total_).size());
    char buf[96];
    std::snprintf(
        buf, sizeof buf, "%*zu/%zu %3d%%", width, done_, total_,
        static_cast<int>(100.0 * static_cast<double>(done_) / static_cast<double>(total_)));
    add(buf);
  } else {
    add("step " + std::to_string(done_));
  }
  if (items_) add(printf_string("loss %.4f", mean_loss()));
  if (!note_.empty()) add(note_);
  const double t = elapsed();
  add(format_rate(t > 0 ? static_cast<double>(items_) / t : -1, options_.unit));
  add("elapsed " + format_duration(t));
  if (total_ && done_ < total_)
    add("ETA " +
        format_duration(done_ ? t / static_cast<double>(done_) * static_cast<double>(total_ - done_)
                              : -1));
  return s;
}

void Progress::step(double loss, std::size_t items) {
  if (finished_) return;
  ++done_;
  items_ += items;
  loss_sum_ += loss * static_cast<double>(items);
  if (terminal_) {
    if (now() - last_draw_ >= options_.redraw_seconds) draw("", false);
    return;
  }
  // The last step is left to finish(), which prints the complete line once.
  if (total_ && done_ < total_) {
    const auto percent = static_cast<int>(100 * done_ / total_);
    if (percent >= next_log_percent_) {
      draw("", false);
      next_log_percent_ = (percent / options_.log_every_percent + 1) * options_.log_every_percent;
    }
  } else if (!total_ && now() - last_draw_ >= 30) {
    draw("", false);  // unknown length: every 30 s keeps a log alive without flooding it
  }
}

void Progress::draw(const std::string& tail, bool final_draw) {
  last_draw_ = now();
  std::string text = line() + tail;
  if (!terminal_) {
    std::fprintf(stream_, "%s\n", text.c_str());
    std::fflush(stream_);
    return;
  }
  // A line longer than the window wraps, and '\r' then redraws only its last row: cut it. The
  // final line is not redrawn, so it may wrap and keeps its summary whole.
  if (const std::size_t columns = terminal_columns(stream_); columns > 1 && !final_draw)
    text = fit_width(text, columns - 1);
  const std::size_t width = utf8::display_width(text);
  // Blank what a longer previous line left behind; spaces work on every terminal.
  const std::string pad(drawn_width_ > width ? drawn_width_ - width : 0, ' ');
  std::fprintf(stream_, "\r%s%s%s", text.c_str(), pad.c_str(), final_draw ? "\n" : "");
  drawn_width_ = final_draw ? 0 : width;
  line_open_ = !final_draw;
  std::fflush(stream_);
}

void Progress::message(const std::string& text) {
  if (terminal_ && line_open_) {
    std::fprintf(stream_, "\r%s\r%s\n", std::string(drawn_width_, ' ').c_str(), text.c_str());
    drawn_width_ = 0;
    draw("", false);
  } else {
    std::fprintf(stream_, "%s\n", text.c_str());
    std::fflush(stream_);
  }
}

void Progress::finish(const std::string& summary) {
  if (finished_) return;
  finished_ = true;
  draw(summary.empty() ? "" : "  " + summary, true);
}

}  // namespace tg::train
