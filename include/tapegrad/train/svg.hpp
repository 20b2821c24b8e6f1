// Dependency-free SVG pictures of a run: line charts (loss curves) and confusion-matrix heatmaps.
#pragma once

#include <cstddef>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace tg::train {

struct Point {
  double x = 0;
  double y = 0;
};

struct Series {
  std::string name;           // legend entry
  std::vector<Point> points;  // drawn in order; non-finite y values break the line
  bool dashed = false;        // e.g. validation next to training in the same colour family
};

struct LineChart {
  std::string title;
  std::string x_label;
  std::string y_label;
  std::vector<Series> series;
  std::optional<double> y_min;  // fixed ends, e.g. 0 and 1 for an accuracy;
  std::optional<double> y_max;  // otherwise the data's range widened to round ticks
  int width = 720;              // pixels; the plot area is what remains after the margins
  int height = 420;
};

struct Heatmap {
  std::string title;
  std::vector<std::string> row_labels;  // true classes, top to bottom
  std::vector<std::string> col_labels;  // predicted classes, left to right
  std::vector<double> values;           // row-major, rows x cols
  std::string row_title = "true";
  std::string col_title = "predicted";
  // Colour each cell by its share of the row: with unbalanced classes (9000 Russian names,
  // 100 Vietnamese) raw counts would leave every small class white. The printed values stay raw.
  bool normalize_rows = true;
  // Values are printed inside the cells up to this many rows and columns; beyond that they
  // are unreadable and the tooltips (SVG <title>) still carry them.
  std::size_t max_annotated = 20;
};

// The SVG documents as text; labels are escaped and invalid UTF-8 replaced, so the result is
// well-formed XML whatever the data's class names hold. tg::Error for inconsistent input.
std::string line_chart_svg(const LineChart& chart);
std::string heatmap_svg(const Heatmap& map);
// Charts stacked top to bottom in one document (a run's loss above its accuracy).
std::string stacked_line_charts_svg(const std::vector<LineChart>& charts);

// The same, written with write_file_atomic.
void write_line_chart(const std::filesystem::path& path, const LineChart& chart);
void write_stacked_line_charts(const std::filesystem::path& path,
                               const std::vector<LineChart>& charts);
void write_heatmap(const std::filesystem::path& path, const Heatmap& map);

// Text safe inside XML content and attribute values: & < > " ' escaped, characters XML 1.0
// forbids (control characters) dropped, invalid UTF-8 replaced by U+FFFD.
std::string xml_escape(std::string_view text);

}  // namespace tg::train
