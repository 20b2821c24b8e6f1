// CsvLogger and Curves.
#include "tapegrad/train/loggers.hpp"

#include <fmt/format.h>

#include <cmath>
#include <map>

#include "tapegrad/train/files.hpp"
#include "tapegrad/train/svg.hpp"

namespace tg::train {

namespace {

// Bookkeeping keys: columns of the metrics file, never curves of their own.
bool is_bookkeeping(const std::string& key) {
  return key == "epoch" || key == "step" || key == "lr" || key == "train_seconds" ||
         key == "epoch_seconds" || key == "items_per_second";
}

}  // namespace

CsvLogger::CsvLogger(std::string file, std::vector<Column> columns)
    : file_(std::move(file)), columns_(std::move(columns)) {}

CsvLogger::~CsvLogger() = default;

void CsvLogger::open(Trainer& trainer, std::size_t kept) {
  const Logs& first = trainer.history().front();
  if (columns_.empty()) {
    columns_ = {{"epoch", "epoch"}, {"step", "step"}};
    for (const auto& [key, value] : first)
      if (key != "epoch" && key != "step") columns_.push_back({key, key});
  }
  std::vector<std::string> header;
  for (const Column& c : columns_) header.push_back(c.header);
  const auto path = trainer.run_dir() / file_;
  writer_ = kept > 0 ? std::make_unique<CsvWriter>(path, header, kept)
                     : std::make_unique<CsvWriter>(path, header);
}

void CsvLogger::on_fit_start(Trainer& trainer) {
  // A resumed run continues its file: the rows of the validations before the resume point.
  if (trainer.writes_files() && !trainer.history().empty())
    open(trainer, trainer.history().size());
}

void CsvLogger::on_validation_end(Trainer& trainer, const Logs& logs) {
  if (!trainer.writes_files()) return;
  if (!writer_) open(trainer, trainer.history().size() - 1);  // all but this row's
  std::vector<CsvField> row;
  for (const Column& c : columns_) {
    const auto it = logs.find(c.key);
    const double value = it == logs.end() ? std::nan("") : it->second;
    // Counts print as integers: %.7g would turn step 12345678 into 1.234568e+07.
    if (value == std::floor(value) && std::abs(value) < 1e15)
      row.emplace_back(static_cast<long long>(value));
    else
      row.emplace_back(value);
  }
  writer_->write_row(row);
}

Curves::Curves(std::string file, std::vector<Chart> charts, ChartFiles files)
    : file_(std::move(file)), charts_(std::move(charts)), files_(files) {
  if (charts_.empty()) charts_.emplace_back();
}

void Curves::on_validation_end(Trainer& trainer, const Logs&) {
  if (!trainer.writes_files()) return;
  std::vector<LineChart> drawn;
  for (std::size_t k = 0; k < charts_.size(); ++k) {
    const Chart& c = charts_[k];
    LineChart chart;
    chart.title = c.title.empty() ? trainer.options().program() + ": training" : c.title;
    chart.x_label = c.x_label;
    chart.y_label = c.y_label;
    chart.y_min = c.y_min;
    chart.y_max = c.y_max;
    std::vector<Line> lines = c.lines;
    if (lines.empty()) {
      std::map<std::string, bool> keys;
      for (const Logs& row : trainer.history())
        for (const auto& [key, value] : row)
          if (!is_bookkeeping(key)) keys[key] = key.rfind("val_", 0) == 0;
      for (const auto& [key, dashed] : keys) lines.push_back({key, "", dashed});
    }
    for (const Line& line : lines) {
      Series s;
      s.name = line.label.empty() ? line.key : line.label;
      s.dashed = line.dashed;
      for (const Logs& row : trainer.history()) {
        const auto x = row.find(c.x_key), y = row.find(line.key);
        if (x != row.end()) s.points.push_back({x->second, y == row.end() ? std::nan("") : y->second});
      }
      chart.series.push_back(std::move(s));
    }
    drawn.push_back(std::move(chart));
  }
  if (files_ == ChartFiles::Stacked) {
    write_stacked_line_charts(trainer.run_dir() / file_, drawn);
    return;
  }
  for (std::size_t k = 0; k < drawn.size(); ++k) {
    std::string name = file_;
    if (k > 0) {
      const std::filesystem::path p(file_);
      name = fmt::format("{}_{}{}", p.stem().string(), k + 1, p.extension().string());
    }
    write_line_chart(trainer.run_dir() / name, drawn[k]);
  }
}

}  // namespace tg::train
