// name_language evaluation: predictions, the confusion matrix and the reports built from it
// (accuracy, macro accuracy, per-language precision / recall, common confusions).
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "name_language/data.hpp"
#include "name_language/model.hpp"

namespace tg::examples::names {

// Counts of (true, predicted) pairs and the mean cross-entropy of one pass over a set.
class Evaluation {
 public:
  explicit Evaluation(std::size_t classes = 0);
  void add(std::size_t truth, std::size_t predicted);
  // `languages`: all the name's languages in the data (truth among them).
  void add(std::size_t truth, std::size_t predicted, const std::vector<std::size_t>& languages);

  std::size_t classes() const { return classes_; }
  std::size_t count() const { return count_; }
  std::size_t at(std::size_t truth, std::size_t predicted) const;
  std::size_t support(std::size_t truth) const;      // examples of the class
  std::size_t predicted(std::size_t label) const;    // examples predicted as it
  double accuracy() const;                           // NaN when empty
  double recall(std::size_t c) const;                // NaN without support
  double precision(std::size_t c) const;             // NaN when never predicted
  // Mean of the per-class recalls over the classes present: every language counts the same,
  // whatever its size (always guessing the largest class scores 1/classes).
  double macro_accuracy() const;
  // Predictions that are one of the name's languages in the data, its other ones counted right
  // too (an upper reading of accuracy for names of several languages); NaN when empty.
  double any_language_accuracy() const;
  std::size_t multi_language() const { return multi_language_; }  // examples of such names
  const std::vector<std::size_t>& matrix() const { return matrix_; }  // row-major [true][pred]

  double loss = 0;  // mean cross-entropy, unweighted

 private:
  std::size_t classes_;
  std::size_t count_ = 0;
  std::size_t any_language_correct_ = 0;
  std::size_t multi_language_ = 0;
  std::vector<std::size_t> matrix_;
};

// Class probabilities [n][classes] of encoded names, in eval mode and under NoGradGuard.
std::vector<std::vector<float>> predict_probabilities(NameClassifier& model,
                                                      const std::vector<std::vector<std::int64_t>>& ids,
                                                      std::size_t batch_size = 512);

// One pass over a set in eval mode and under NoGradGuard; restores the model's mode.
Evaluation evaluate(NameClassifier& model, const EncodedSet& set, std::size_t batch_size = 512);

// "82.4%", one decimal; "-" for NaN (a ratio without data, e.g. a class never predicted).
std::string percent(double fraction);

// Text reports (each ends with a newline).
// "language  support  precision  recall  f1" per class, then the totals.
std::string per_class_table(const Evaluation& e, const std::vector<std::string>& labels);
// The `k` most frequent (true -> predicted) mistakes with their counts and share of the class.
std::string top_confusions(const Evaluation& e, const std::vector<std::string>& labels,
                           std::size_t k = 10);
// Counts, rows true and columns predicted, columns headed by 3-letter abbreviations.
std::string confusion_table(const Evaluation& e, const std::vector<std::string>& labels);
// "accuracy 82.4% (1485/1802), macro accuracy 55.1%, loss 0.5832", then, when the set holds
// names of several languages, "; 85.0% with a name's other languages counted right (111 names
// of several languages)".
std::string summary_line(const Evaluation& e);

}  // namespace tg::examples::names
