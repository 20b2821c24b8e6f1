// name_language run-folder outputs: metrics rows, SVG pictures and the text report.
#include "name_language/report.hpp"

#include <fmt/format.h>

#include <cmath>

#include <tapegrad/train/svg.hpp>

namespace tg::examples::names {

std::vector<std::string> metrics_header() {
  return {"epoch",        "steps",          "lr",         "train_loss",
          "train_accuracy", "val_loss",     "val_accuracy", "val_macro_accuracy",
          "epoch_seconds", "names_per_second", "elapsed_seconds", "best"};
}

std::vector<tg::train::CsvField> metrics_row(const EpochRecord& r) {
  return {r.epoch,        r.steps,          r.lr,         r.train_loss,
          r.train_accuracy, r.val_loss,     r.val_accuracy, r.val_macro_accuracy,
          r.seconds,      r.names_per_second, r.elapsed,  static_cast<int>(r.best)};
}

namespace {

// A line_chart_svg document placed at (0, y) inside another <svg>: nested <svg> elements take
// x / y, and the XML declaration may only open the outer document.
std::string nested_at(const std::string& document, int y) {
  std::string inner = document.substr(document.find("<svg"));
  inner.insert(4, fmt::format(" x=\"0\" y=\"{}\"", y));
  return inner;
}

tg::train::Series series(const std::string& name, const std::vector<EpochRecord>& history,
                         double EpochRecord::*field, bool dashed = false) {
  tg::train::Series s;
  s.name = name;
  s.dashed = dashed;
  for (const EpochRecord& r : history)
    s.points.push_back({static_cast<double>(r.epoch), r.*field});
  return s;
}

}  // namespace

void write_curves_svg(const std::filesystem::path& path, const std::vector<EpochRecord>& history) {
  tg::train::LineChart loss;
  loss.title = "Loss";
  loss.x_label = "epoch";
  loss.y_label = "cross-entropy";
  loss.series = {series("training (mean over the epoch)", history, &EpochRecord::train_loss),
                 series("validation", history, &EpochRecord::val_loss, true)};
  tg::train::LineChart accuracy;
  accuracy.title = "Accuracy";
  accuracy.x_label = "epoch";
  accuracy.y_label = "accuracy";
  accuracy.y_min = 0;
  accuracy.y_max = 1;
  accuracy.series = {series("training (dropout on)", history, &EpochRecord::train_accuracy),
                     series("validation", history, &EpochRecord::val_accuracy, true),
                     series("validation macro (mean recall)", history,
                            &EpochRecord::val_macro_accuracy, true)};
  const int width = loss.width, height = loss.height;
  const std::string doc = fmt::format(
      "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
      "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{0}\" height=\"{1}\" "
      "viewBox=\"0 0 {0} {1}\">\n{2}{3}</svg>\n",
      width, 2 * height, nested_at(tg::train::line_chart_svg(loss), 0),
      nested_at(tg::train::line_chart_svg(accuracy), height));
  tg::train::write_file_atomic(path, doc);
}

void write_confusion_picture(const std::filesystem::path& path, const Evaluation& e,
                             const std::vector<std::string>& labels, const std::string& title) {
  tg::train::Heatmap map;
  map.title = title;
  map.row_labels = labels;
  map.col_labels = labels;
  map.row_title = "true language";
  map.col_title = "predicted language";
  for (std::size_t t = 0; t < e.classes(); ++t) {
    const double support = static_cast<double>(e.support(t));
    for (std::size_t p = 0; p < e.classes(); ++p)
      map.values.push_back(support > 0 ? std::round(100.0 * static_cast<double>(e.at(t, p)) / support)
                                       : 0.0);
  }
  tg::train::write_heatmap(path, map);
}

std::string evaluation_report(const std::string& title, const Evaluation& e,
                              const std::vector<std::string>& labels) {
  return fmt::format(
      "{}: {}\n\nper language:\n{}\nmost common confusions (true -> predicted):\n{}\n"
      "confusion matrix (rows: true language, columns: predicted):\n{}",
      title, summary_line(e), per_class_table(e, labels), top_confusions(e, labels),
      confusion_table(e, labels));
}

}  // namespace tg::examples::names
