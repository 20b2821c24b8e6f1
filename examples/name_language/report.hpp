// name_language run-folder outputs: metrics.csv rows, the curves picture, the confusion picture
// and the final text report.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include <tapegrad/train/files.hpp>

#include "name_language/evaluate.hpp"
#include "name_language/train.hpp"

namespace tg::examples::names {

std::vector<std::string> metrics_header();
std::vector<tg::train::CsvField> metrics_row(const EpochRecord& r);

// Two charts in one SVG: training / validation loss, and validation accuracy / macro accuracy
// (with training accuracy), per epoch.
void write_curves_svg(const std::filesystem::path& path, const std::vector<EpochRecord>& history);

// The row-normalised confusion matrix (percent of each true language) as a labelled heatmap.
void write_confusion_picture(const std::filesystem::path& path, const Evaluation& e,
                             const std::vector<std::string>& labels, const std::string& title);

// Accuracy line, per-language table, most common confusions and the confusion matrix.
std::string evaluation_report(const std::string& title, const Evaluation& e,
                              const std::vector<std::string>& labels);

}  // namespace tg::examples::names
