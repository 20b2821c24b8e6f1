// name_language run-folder outputs: metrics.csv's columns, the curves, the confusion picture and
// the final text report.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include <tapegrad/train/loggers.hpp>

#include "name_language/evaluate.hpp"

namespace tg::examples::names {

// metrics.csv: one row per epoch, from the Trainer's logs ("best": the best validation accuracy
// so far).
std::vector<tg::train::CsvLogger::Column> metrics_columns();

// curves.svg: training / validation loss above validation accuracy / macro accuracy (with the
// training accuracy), per epoch.
std::vector<tg::train::Curves::Chart> curve_charts();

// The row-normalised confusion matrix (percent of each true language) as a labelled heatmap.
void write_confusion_picture(const std::filesystem::path& path, const Evaluation& e,
                             const std::vector<std::string>& labels, const std::string& title);

// Accuracy line, per-language table, most common confusions and the confusion matrix.
std::string evaluation_report(const std::string& title, const Evaluation& e,
                              const std::vector<std::string>& labels);

}  // namespace tg::examples::names
