// Dependency-free SVG pictures of a run: line charts (loss curves) and confusion-matrix heatmaps.
#include "tapegrad/train/svg.hpp"

#include "nn/utf8.hpp"
#include "tapegrad/autograd/error.hpp"
#include "tapegrad/train/files.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <set>

namespace tg::train {
namespace {

// No font metrics without a font library: widths are estimated from DejaVu Sans (the widest
// common sans-serif, and what rsvg and most Linux browsers pick), so layouts err on the roomy
// side with Helvetica or Arial.
constexpr double kCharEm = 0.62;
constexpr const char* kFonts = "DejaVu Sans, Helvetica, Arial, sans-serif";

double text_width(const std::string& s, double font_size) {
  return static_cast<double>(utf8::display_width(s)) * kCharEm * font_size;
}

// Coordinates with at most two decimals keep the files small and diffable.
std::string num(double v) {
  std::string s = fmt::format("{:.2f}", v);
  while (s.back() == '0') s.pop_back();
  if (s.back() == '.') s.pop_back();
  return s == "-0" ? "0" : s;
}

// Appends elements; every piece of user text passes through xml_escape here and nowhere else.
class SvgBuilder {
 public:
  SvgBuilder(double width, double height) {
    out_ = fmt::format(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{0}\" height=\"{1}\" "
        "viewBox=\"0 0 {0} {1}\" font-family=\"{2}\">\n"
        "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n",
        num(width), num(height), kFonts);
  }
  // attrs: extra attributes, written by this file only (never user text).
  void text(double x, double y, const std::string& s, double size, const std::string& attrs = "") {
    out_ += fmt::format("<text x=\"{}\" y=\"{}\" font-size=\"{}\"{}{}>{}</text>\n", num(x), num(y),
                        num(size), attrs.empty() ? "" : " ", attrs, xml_escape(s));
  }
  void line(double x1, double y1, double x2, double y2, const std::string& stroke,
            double stroke_width = 1) {
    out_ += fmt::format(
        "<line x1=\"{}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" stroke=\"{}\" stroke-width=\"{}\"/>\n",
        num(x1), num(y1), num(x2), num(y2), stroke, num(stroke_width));
  }
  void raw(const std::string& s) { out_ += s; }
  std::string finish() { return out_ + "</svg>\n"; }

 private:
  std::string out_;
};

struct Rgb {
  double r, g, b;
};

std::string hex(const Rgb& c) {
  const auto byte = [](double v) {
    return static_cast<int>(std::lround(std::clamp(v, 0.0, 255.0)));
  };
  return fmt::format("#{:02x}{:02x}{:02x}", byte(c.r), byte(c.g), byte(c.b));
}

// ColorBrewer "Blues": white for zero, so an empty confusion cell looks empty.
constexpr std::array<Rgb, 9> kBlues{{{247, 251, 255},
                                     {222, 235, 247},
                                     {198, 219, 239},
                                     {158, 202, 225},
                                     {107, 174, 214},
                                     {66, 146, 198},
                                     {33, 113, 181},
                                     {8, 81, 156},
                                     {8, 48, 107}}};

Rgb blues(double t) {
  t = std::isfinite(t) ? std::clamp(t, 0.0, 1.0) : 0.0;
  const double pos = t * (kBlues.size() - 1);
  const auto i = std::min(static_cast<std::size_t>(pos), kBlues.size() - 2);
  const double f = pos - static_cast<double>(i);
  const Rgb& a = kBlues[i];
  const Rgb& b = kBlues[i + 1];
  return {a.r + (b.r - a.r) * f, a.g + (b.g - a.g) * f, a.b + (b.b - a.b) * f};
}

// Relative luminance decides black or white text on a cell.
bool is_dark(const Rgb& c) { return 0.2126 * c.r + 0.7152 * c.g + 0.0722 * c.b < 140; }

// Tableau 10: distinct, colour-blind-friendlier than pure hues.
constexpr std::array<const char*, 10> kSeriesColours{"#1f77b4", "#ff7f0e", "#2ca02c", "#d62728",
                                                     "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
                                                     "#bcbd22", "#17becf"};

struct Axis {
  double lo = 0, hi = 1;
  std::vector<double> ticks;
  int decimals = 0;
  std::string label(double v) const {
    return fmt::format("{:.{}f}", std::abs(v) < 1e-12 ? 0.0 : v, decimals);
  }
  double max_label_width(double font_size) const {
    double w = 0;
    for (double t : ticks) w = std::max(w, text_width(label(t), font_size));
    return w;
  }
};

// Round ticks (1, 2 or 5 times a power of ten) over [lo, hi], the ends widened to a tick unless
// fixed. Integer data (epochs, steps) never gets fractional ticks.
Axis nice_axis(double lo, double hi, bool integer_steps, bool fix_lo = false, bool fix_hi = false,
               int intervals = 5) {
  if (!(hi > lo)) {  // one value (or none): give it some room
    const double pad = lo != 0 ? std::abs(lo) * 0.1 : 1;
    if (!fix_lo) lo -= pad;
    if (!fix_hi) hi += pad;
    if (!(hi > lo)) hi = lo + 1;
  }
  const double raw = (hi - lo) / intervals;
  const double mag = std::pow(10, std::floor(std::log10(raw)));
  const double norm = raw / mag;
  double step = (norm < 1.5 ? 1 : norm < 3 ? 2 : norm < 7 ? 5 : 10) * mag;
  if (integer_steps) step = std::max(1.0, std::round(step));
  Axis axis;
  axis.lo = fix_lo ? lo : std::floor(lo / step + 1e-9) * step;
  axis.hi = fix_hi ? hi : std::ceil(hi / step - 1e-9) * step;
  // Multiples of the step, not a running sum: no drift, and no "-0" from ceil(-tiny) * step.
  for (double k = std::ceil(axis.lo / step - 1e-9); k * step <= axis.hi + step * 1e-9; ++k)
    axis.ticks.push_back(k == 0 ? 0.0 : k * step);
  axis.decimals = std::max(0, static_cast<int>(-std::floor(std::log10(step) + 1e-9)));
  return axis;
}

// Cells as large as reads well, the grid near 520 px when there are many classes.
double cell_size(std::size_t rows, std::size_t cols) {
  return std::clamp(std::floor(520.0 / static_cast<double>(std::max(rows, cols))), 14.0, 44.0);
}

}  // namespace

std::string xml_escape(std::string_view text) {
  const std::string clean = utf8::sanitize(text);
  std::string out;
  out.reserve(clean.size());
  for (char c : clean) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&apos;";
        break;
      default:
        // XML 1.0 allows no control characters but tab, newline and carriage return.
        if (static_cast<unsigned char>(c) >= 0x20 || c == '\t' || c == '\n' || c == '\r') out += c;
    }
  }
  return out;
}

namespace {

// A line chart's document and its size. `clip_id` names its plot's clip path: unique per chart
// when several share a document.
struct DrawnChart {
  std::string svg;
  double width = 0, height = 0;
};

DrawnChart draw_line_chart(const LineChart& chart, const std::string& clip_id) {
  double x_lo = INFINITY, x_hi = -INFINITY, y_lo = INFINITY, y_hi = -INFINITY;
  bool integer_x = true;
  for (const Series& s : chart.series) {
    for (const Point& p : s.points) {
      if (!std::isfinite(p.x) || !std::isfinite(p.y)) continue;
      x_lo = std::min(x_lo, p.x);
      x_hi = std::max(x_hi, p.x);
      y_lo = std::min(y_lo, p.y);
      y_hi = std::max(y_hi, p.y);
      integer_x = integer_x && p.x == std::round(p.x);
    }
  }
  const bool empty = !(x_lo <= x_hi);
  if (empty) x_lo = 0, x_hi = 1, y_lo = 0, y_hi = 1;
  if (chart.y_min) y_lo = *chart.y_min;
  if (chart.y_max) y_hi = *chart.y_max;
  if (chart.y_min && chart.y_max && !(*chart.y_max > *chart.y_min))
    throw Error(
        fmt::format("line_chart_svg: y_max {} is not above y_min {}", *chart.y_max, *chart.y_min));
  const Axis xa = nice_axis(x_lo, x_hi, integer_x);
  const Axis ya = nice_axis(y_lo, y_hi, false, chart.y_min.has_value(), chart.y_max.has_value());

  constexpr double kTick = 12, kLabel = 13, kTitle = 16;
  double legend_w = 0;
  for (const Series& s : chart.series) legend_w = std::max(legend_w, text_width(s.name, kTick));
  if (legend_w > 0) legend_w += 34;  // swatch and gap
  const double left = 14 + (chart.y_label.empty() ? 0 : 22) + ya.max_label_width(kTick) + 10;
  const double right = legend_w > 0 ? legend_w + 28 : 24;
  const double top = chart.title.empty() ? 18 : 46;
  const double bottom = 12 + 16 + (chart.x_label.empty() ? 0 : 24) + 6;
  const double width = std::max({static_cast<double>(chart.width), left + 160 + right,
                                 text_width(chart.title, kTitle) * 1.1 + 32});
  const double height = std::max(static_cast<double>(chart.height), top + 120 + bottom);
  const double pw = width - left - right, ph = height - top - bottom;
  const auto sx = [&](double x) { return left + (x - xa.lo) / (xa.hi - xa.lo) * pw; };
  const auto sy = [&](double y) { return top + ph - (y - ya.lo) / (ya.hi - ya.lo) * ph; };

  SvgBuilder svg(width, height);
  if (!chart.title.empty())
    svg.text(width / 2, 28, chart.title, kTitle, "text-anchor=\"middle\" font-weight=\"bold\"");
  // Grid and tick labels first, so the data is drawn over them.
  for (double t : ya.ticks) {
    svg.line(left, sy(t), left + pw, sy(t), "#e6e6e6");
    svg.line(left - 5, sy(t), left, sy(t), "#333");
    svg.text(left - 8, sy(t) + kTick * 0.35, ya.label(t), kTick,
             "text-anchor=\"end\" fill=\"#333\"");
  }
  for (double t : xa.ticks) {
    svg.line(sx(t), top, sx(t), top + ph, "#f0f0f0");
    svg.line(sx(t), top + ph, sx(t), top + ph + 5, "#333");
    svg.text(sx(t), top + ph + 8 + kTick, xa.label(t), kTick,
             "text-anchor=\"middle\" fill=\"#333\"");
  }
  svg.line(left, top, left, top + ph, "#333");
  svg.line(left, top + ph, left + pw, top + ph, "#333");
  if (!chart.x_label.empty())
    svg.text(left + pw / 2, height - 12, chart.x_label, kLabel, "text-anchor=\"middle\"");
  if (!chart.y_label.empty())
    svg.text(14 + kLabel * 0.8, top + ph / 2, chart.y_label, kLabel,
             fmt::format("text-anchor=\"middle\" transform=\"rotate(-90 {} {})\"",
                         num(14 + kLabel * 0.8), num(top + ph / 2)));
  if (empty)
    svg.text(left + pw / 2, top + ph / 2, "no data", kLabel,
             "text-anchor=\"middle\" fill=\"#999\"");

  // Fixed y ends may cut the data (a loss spike): clip to the plot instead of drawing over labels.
  svg.raw(
      fmt::format("<clipPath id=\"{0}\"><rect x=\"{1}\" y=\"{2}\" width=\"{3}\" height=\"{4}\"/>"
                  "</clipPath>\n<g clip-path=\"url(#{0})\" fill=\"none\" stroke-width=\"2\" "
                  "stroke-linejoin=\"round\" stroke-linecap=\"round\">\n",
                  clip_id, num(left - 4), num(top - 4), num(pw + 8), num(ph + 8)));
  for (std::size_t i = 0; i < chart.series.size(); ++i) {
    const Series& s = chart.series[i];
    const char* colour = kSeriesColours[i % kSeriesColours.size()];
    const std::string dash = s.dashed ? " stroke-dasharray=\"6 4\"" : "";
    // A non-finite value (a diverged step) ends one polyline and the next finite one starts anew.
    std::string pts;
    const auto flush = [&] {
      if (!pts.empty())
        svg.raw(fmt::format("<polyline points=\"{}\" stroke=\"{}\"{}/>\n", pts, colour, dash));
      pts.clear();
    };
    for (const Point& p : s.points) {
      if (!std::isfinite(p.x) || !std::isfinite(p.y)) {
        flush();
        continue;
      }
      pts += (pts.empty() ? "" : " ") + num(sx(p.x)) + "," + num(sy(p.y));
    }
    flush();
    // Markers show where the measurements are when there are few (per-epoch values).
    if (s.points.size() <= 60) {
      for (const Point& p : s.points) {
        if (std::isfinite(p.x) && std::isfinite(p.y))
          svg.raw(fmt::format("<circle cx=\"{}\" cy=\"{}\" r=\"3\" fill=\"{}\" stroke=\"none\"/>\n",
                              num(sx(p.x)), num(sy(p.y)), colour));
      }
    }
  }
  svg.raw("</g>\n");

  // Legend outside the plot, on the right: it can never hide a curve.
  const double lx = left + pw + 20;
  for (std::size_t i = 0; i < chart.series.size(); ++i) {
    const double ly = top + 10 + 20 * static_cast<double>(i);
    const char* colour = kSeriesColours[i % kSeriesColours.size()];
    svg.raw(
        fmt::format("<line x1=\"{}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" stroke=\"{}\" "
                    "stroke-width=\"2\"{}/>\n",
                    num(lx), num(ly), num(lx + 24), num(ly), colour,
                    chart.series[i].dashed ? " stroke-dasharray=\"6 4\"" : ""));
    svg.text(lx + 32, ly + kTick * 0.35, chart.series[i].name, kTick);
  }
  return {svg.finish(), width, height};
}

}  // namespace

std::string line_chart_svg(const LineChart& chart) { return draw_line_chart(chart, "plot").svg; }

std::string stacked_line_charts_svg(const std::vector<LineChart>& charts) {
  if (charts.empty()) throw Error("stacked_line_charts_svg: no charts");
  double width = 0, height = 0;
  std::string inner;
  for (std::size_t i = 0; i < charts.size(); ++i) {
    const DrawnChart drawn = draw_line_chart(charts[i], fmt::format("plot{}", i + 1));
    // A nested <svg> placed by x / y; the XML declaration may only open the outer document.
    std::string nested = drawn.svg.substr(drawn.svg.find("<svg"));
    nested.insert(4, fmt::format(" x=\"0\" y=\"{}\"", num(height)));
    inner += nested;
    width = std::max(width, drawn.width);
    height += drawn.height;
  }
  SvgBuilder svg(width, height);
  svg.raw(inner);
  return svg.finish();
}

std::string heatmap_svg(const Heatmap& map) {
  const std::size_t rows = map.row_labels.size(), cols = map.col_labels.size();
  if (map.values.size() != rows * cols)
    throw Error(fmt::format("heatmap_svg: {} values for {} row labels x {} column labels",
                            map.values.size(), rows, cols));
  if (rows == 0 || cols == 0) throw Error("heatmap_svg: no rows or no columns");

  // Colour position of each cell in [0, 1].
  std::vector<double> shade(map.values.size());
  double v_lo = INFINITY, v_hi = -INFINITY;
  for (double v : map.values)
    if (std::isfinite(v)) v_lo = std::min(v_lo, v), v_hi = std::max(v_hi, v);
  if (!(v_lo <= v_hi)) v_lo = 0, v_hi = 1;
  const double cell = cell_size(rows, cols);
  // Scale ticks at least ~30 px apart: a 2x2 matrix has a short colour bar.
  const int intervals = std::clamp(static_cast<int>(static_cast<double>(rows) * cell / 30), 2, 5);
  const Axis scale = map.normalize_rows
                         ? nice_axis(0, 1, false, true, true, intervals)
                         : nice_axis(std::min(v_lo, 0.0), v_hi, false, true, true, intervals);
  std::vector<double> row_sum(rows, 0);
  for (std::size_t r = 0; r < rows; ++r)
    for (std::size_t c = 0; c < cols; ++c)
      if (std::isfinite(map.values[r * cols + c])) row_sum[r] += map.values[r * cols + c];
  // On an axis whose labels repeat (an attention map's characters), a tooltip also names the
  // position, 1-based: "output 4 '1'" tells which of the 1s it is.
  const auto tip_labels = [](const std::vector<std::string>& labels) {
    const bool repeated =
        std::set<std::string>(labels.begin(), labels.end()).size() != labels.size();
    std::vector<std::string> out;
    for (std::size_t i = 0; i < labels.size(); ++i)
      out.push_back(repeated ? fmt::format("{} '{}'", i + 1, labels[i]) : labels[i]);
    return out;
  };
  const std::vector<std::string> row_tips = tip_labels(map.row_labels),
                                 col_tips = tip_labels(map.col_labels);
  for (std::size_t r = 0; r < rows; ++r) {
    for (std::size_t c = 0; c < cols; ++c) {
      const double v = map.values[r * cols + c];
      shade[r * cols + c] = map.normalize_rows ? (row_sum[r] > 0 ? v / row_sum[r] : 0)
                                               : (v - scale.lo) / (scale.hi - scale.lo);
    }
  }

  constexpr double kTitle = 16, kAxisTitle = 13, kScale = 11, kRoot = 0.7071;
  // Labels one cell apart must not touch: rotated 45 degrees they are only 0.7 cells apart.
  const double label_font = std::clamp(cell * 0.6, 7.0, 12.0);
  double row_w = 0, col_w = 0;
  for (const auto& l : map.row_labels) row_w = std::max(row_w, text_width(l, label_font));
  for (const auto& l : map.col_labels) col_w = std::max(col_w, text_width(l, label_font));
  // Column labels run down-left at 45 degrees from under their column: the first one reaches
  // left of the grid, so the left margin must hold it as well as the row labels.
  const double col_drop = col_w * kRoot + label_font * kRoot;
  const double row_title_w = map.row_title.empty() ? 0 : 24;
  const double gx = std::max(16 + row_title_w + row_w + 8, 12 + col_drop - cell / 2);
  const double gy = map.title.empty() ? 16 : 48;
  const double gw = cell * static_cast<double>(cols), gh = cell * static_cast<double>(rows);
  const std::string scale_title = map.normalize_rows ? "share of the row" : "";
  const double bar_x = gx + gw + 20, bar_w = 14;
  const auto scale_label = [&](double t) {
    return map.normalize_rows ? fmt::format("{:.0f}%", t * 100) : scale.label(t);
  };
  double scale_w = 0;
  for (double t : scale.ticks) scale_w = std::max(scale_w, text_width(scale_label(t), kScale));
  const double col_title_y = gy + gh + 10 + col_drop + kAxisTitle + 4;
  const double width = std::max(bar_x + bar_w + 8 + scale_w + (scale_title.empty() ? 0 : 24) + 16,
                                text_width(map.title, kTitle) * 1.1 + 32);
  const double height = (map.col_title.empty() ? gy + gh + 10 + col_drop : col_title_y) + 16;

  SvgBuilder svg(width, height);
  if (!map.title.empty())
    svg.text(width / 2, 28, map.title, kTitle, "text-anchor=\"middle\" font-weight=\"bold\"");

  // Cell values: integers when every value is one (counts), else two decimals; a font that
  // fits the widest value in a cell, or none below a readable size.
  bool integral = true;
  for (double v : map.values) integral = integral && (!std::isfinite(v) || v == std::round(v));
  const auto value_text = [&](double v) {
    return integral ? fmt::format("{:.0f}", v) : fmt::format("{:.2f}", v);
  };
  double widest = 1;
  for (double v : map.values) widest = std::max(widest, text_width(value_text(v), 1));
  const double value_font = std::min({11.0, cell * 0.4, (cell - 4) / widest});
  const bool annotate = rows <= map.max_annotated && cols <= map.max_annotated && value_font >= 7;

  for (std::size_t r = 0; r < rows; ++r) {
    for (std::size_t c = 0; c < cols; ++c) {
      const double v = map.values[r * cols + c];
      const double x = gx + cell * static_cast<double>(c), y = gy + cell * static_cast<double>(r);
      const Rgb colour = blues(shade[r * cols + c]);
      // The tooltip carries the exact value even where none is printed.
      const std::string tip = map.row_title + " " + row_tips[r] + ", " + map.col_title + " " +
                              col_tips[c] + ": " + value_text(v) +
                              (map.normalize_rows && row_sum[r] > 0
                                   ? fmt::format(" ({:.1f}% of the row)", 100 * v / row_sum[r])
                                   : "");
      svg.raw(
          fmt::format("<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"{}\">"
                      "<title>{}</title></rect>\n",
                      num(x), num(y), num(cell), num(cell), hex(colour), xml_escape(tip)));
      if (annotate) {
        // Zeros in grey: the eye goes to the cells that hold something.
        const char* ink = is_dark(colour) ? "white" : v == 0 ? "#b0b0b0" : "#222";
        svg.text(x + cell / 2, y + cell / 2 + value_font * 0.36, value_text(v), value_font,
                 fmt::format("text-anchor=\"middle\" fill=\"{}\"", ink));
      }
    }
  }
  svg.raw(
      fmt::format("<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"none\" "
                  "stroke=\"#999\"/>\n",
                  num(gx), num(gy), num(gw), num(gh)));

  for (std::size_t r = 0; r < rows; ++r)
    svg.text(gx - 8, gy + cell * (static_cast<double>(r) + 0.5) + label_font * 0.35,
             map.row_labels[r], label_font, "text-anchor=\"end\"");
  for (std::size_t c = 0; c < cols; ++c) {
    // Anchored at the label's end; shifting it right by a third of the font centres the
    // rotated glyphs, not their baseline, under the column.
    const double ax = gx + cell * (static_cast<double>(c) + 0.5) + label_font * 0.3;
    const double ay = gy + gh + 10;
    svg.text(ax, ay, map.col_labels[c], label_font,
             fmt::format("text-anchor=\"end\" transform=\"rotate(-45 {} {})\"", num(ax), num(ay)));
  }
  if (!map.col_title.empty())
    svg.text(gx + gw / 2, col_title_y, map.col_title, kAxisTitle,
             "text-anchor=\"middle\" font-weight=\"bold\"");
  if (!map.row_title.empty()) {
    const double tx = 16 + kAxisTitle * 0.8, ty = gy + gh / 2;
    svg.text(
        tx, ty, map.row_title, kAxisTitle,
        fmt::format("text-anchor=\"middle\" font-weight=\"bold\" transform=\"rotate(-90 {} {})\"",
                    num(tx), num(ty)));
  }

  // Colour scale: the palette's stops as a vertical gradient, low at the bottom.
  std::string stops;
  for (std::size_t i = 0; i < kBlues.size(); ++i)
    stops += fmt::format("<stop offset=\"{}\" stop-color=\"{}\"/>",
                         num(static_cast<double>(i) / (kBlues.size() - 1)), hex(kBlues[i]));
  svg.raw(
      fmt::format("<linearGradient id=\"scale\" x1=\"0\" y1=\"1\" x2=\"0\" y2=\"0\">{}"
                  "</linearGradient>\n<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" "
                  "fill=\"url(#scale)\" stroke=\"#999\"/>\n",
                  stops, num(bar_x), num(gy), num(bar_w), num(gh)));
  for (double t : scale.ticks) {
    const double y = gy + gh - (t - scale.lo) / (scale.hi - scale.lo) * gh;
    svg.line(bar_x + bar_w, y, bar_x + bar_w + 4, y, "#333");
    svg.text(bar_x + bar_w + 7, y + (kScale)*0.35, scale_label(t), kScale, "fill=\"#333\"");
  }
  if (!scale_title.empty()) {
    const double tx = bar_x + bar_w + 8 + scale_w + 16, ty = gy + gh / 2;
    svg.text(tx, ty, scale_title, kScale,
             fmt::format("text-anchor=\"middle\" fill=\"#333\" transform=\"rotate(90 {} {})\"",
                         num(tx), num(ty)));
  }
  return svg.finish();
}

void write_line_chart(const std::filesystem::path& path, const LineChart& chart) {
  write_file_atomic(path, line_chart_svg(chart));
}

void write_stacked_line_charts(const std::filesystem::path& path,
                               const std::vector<LineChart>& charts) {
  write_file_atomic(path, stacked_line_charts_svg(charts));
}

void write_heatmap(const std::filesystem::path& path, const Heatmap& map) {
  write_file_atomic(path, heatmap_svg(map));
}

}  // namespace tg::train
