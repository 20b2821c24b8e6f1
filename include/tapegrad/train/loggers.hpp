// Callbacks that record a run in its folder: metrics as CSV (Keras' CSVLogger) and as SVG curves.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "tapegrad/train/callbacks.hpp"

namespace tg::train {

class CsvWriter;

// One row per validation point in <run_dir>/<file>, flushed at once; a resumed run keeps the rows
// written before its resume point. Columns: a header and the log key it shows (a missing value is
// written as nan); none given: "epoch", "step", then every key of the first row.
class CsvLogger : public Callback {
 public:
  struct Column {
    std::string header;
    std::string key;
  };
  explicit CsvLogger(std::string file = "metrics.csv", std::vector<Column> columns = {});
  ~CsvLogger() override;
  void on_fit_start(Trainer& trainer) override;
  void on_validation_end(Trainer& trainer, const Logs& logs) override;

 private:
  void open(Trainer& trainer, std::size_t kept_rows);
  std::string file_;
  std::vector<Column> columns_;
  std::unique_ptr<CsvWriter> writer_;
};

// How Curves writes several charts: each in its own file (<file>, <stem>_2.svg, ...), or stacked
// top to bottom in <file>.
enum class ChartFiles { Separate, Stacked };

// <run_dir>/<file>, redrawn from the history at each validation point.
class Curves : public Callback {
 public:
  struct Line {
    std::string key;    // the log key
    std::string label;  // in the legend; empty: the key
    bool dashed = false;
  };
  struct Chart {
    std::string title;
    std::string x_key = "step";  // "epoch", "train_seconds", ...
    std::string x_label = "optimizer steps";
    std::string y_label;
    std::vector<Line> lines;  // empty: every metric (not epoch, step, lr, train_seconds)
    std::optional<double> y_min, y_max;
  };
  // Charts none given: one chart of every metric against the steps.
  explicit Curves(std::string file = "curves.svg", std::vector<Chart> charts = {},
                  ChartFiles files = ChartFiles::Separate);
  void on_validation_end(Trainer& trainer, const Logs& logs) override;

 private:
  std::string file_;
  std::vector<Chart> charts_;
  ChartFiles files_;
};

}  // namespace tg::train
