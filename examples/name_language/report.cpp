// name_language run-folder outputs: metrics columns, SVG pictures and the text report.
#include "name_language/report.hpp"

#include <fmt/format.h>

#include <cmath>

#include <tapegrad/train/svg.hpp>

namespace tg::examples::names {

std::vector<tg::train::CsvLogger::Column> metrics_columns() {
  return {{"epoch", "epoch"},
          {"steps", "step"},
          {"lr", "lr"},
          {"train_loss", "loss"},
          {"train_accuracy", "accuracy"},
          {"val_loss", "val_loss"},
          {"val_accuracy", "val_accuracy"},
          {"val_macro_accuracy", "val_macro_accuracy"},
          {"epoch_seconds", "epoch_seconds"},
          {"names_per_second", "items_per_second"},
          {"elapsed_seconds", "train_seconds"},
          {"best", "best"}};
}

std::vector<tg::train::Curves::Chart> curve_charts() {
  tg::train::Curves::Chart loss;
  loss.title = "Loss";
  loss.x_key = loss.x_label = "epoch";
  loss.y_label = "cross-entropy";
  loss.lines = {{"loss", "training (mean over the epoch)"}, {"val_loss", "validation", true}};
  tg::train::Curves::Chart accuracy;
  accuracy.title = "Accuracy";
  accuracy.x_key = accuracy.x_label = "epoch";
  accuracy.y_label = "accuracy";
  accuracy.y_min = 0;
  accuracy.y_max = 1;
  accuracy.lines = {{"accuracy", "training (dropout on)"},
                    {"val_accuracy", "validation", true},
                    {"val_macro_accuracy", "validation macro (mean recall)", true}};
  return {loss, accuracy};
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
