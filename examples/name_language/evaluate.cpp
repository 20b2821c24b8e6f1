// name_language evaluation: batched inference, the confusion matrix and its text / SVG reports.
#include "name_language/evaluate.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <tuple>

#include "tapegrad/autograd/ops.hpp"
#include "tapegrad/autograd/tape.hpp"
#include "common/text.hpp"

namespace tg::examples::names {

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

double ratio(std::size_t a, std::size_t b) {
  return b == 0 ? kNaN : static_cast<double>(a) / static_cast<double>(b);
}

std::string pad_right(const std::string& s, std::size_t width) {
  return s + std::string(width > display_width(s) ? width - display_width(s) : 0, ' ');
}

std::size_t label_width(const std::vector<std::string>& labels, std::size_t min) {
  std::size_t w = min;
  for (const std::string& l : labels) w = std::max(w, display_width(l));
  return w;
}

}  // namespace

std::string percent(double v) { return std::isnan(v) ? "-" : fmt::format("{:.1f}%", 100 * v); }

Evaluation::Evaluation(std::size_t classes) : classes_(classes), matrix_(classes * classes, 0) {}

void Evaluation::add(std::size_t truth, std::size_t predicted) {
  ++matrix_.at(truth * classes_ + predicted);
  ++count_;
  if (predicted == truth) ++any_language_correct_;
}

void Evaluation::add(std::size_t truth, std::size_t predicted,
                     const std::vector<std::size_t>& languages) {
  add(truth, predicted);
  if (predicted != truth &&
      std::find(languages.begin(), languages.end(), predicted) != languages.end())
    ++any_language_correct_;
  if (languages.size() > 1) ++multi_language_;
}

double Evaluation::any_language_accuracy() const { return ratio(any_language_correct_, count_); }

std::size_t Evaluation::at(std::size_t truth, std::size_t pred) const {
  return matrix_.at(truth * classes_ + pred);
}

std::size_t Evaluation::support(std::size_t truth) const {
  std::size_t n = 0;
  for (std::size_t p = 0; p < classes_; ++p) n += at(truth, p);
  return n;
}

std::size_t Evaluation::predicted(std::size_t label) const {
  std::size_t n = 0;
  for (std::size_t t = 0; t < classes_; ++t) n += at(t, label);
  return n;
}

double Evaluation::accuracy() const {
  std::size_t correct = 0;
  for (std::size_t c = 0; c < classes_; ++c) correct += at(c, c);
  return ratio(correct, count_);
}

double Evaluation::recall(std::size_t c) const { return ratio(at(c, c), support(c)); }

double Evaluation::precision(std::size_t c) const { return ratio(at(c, c), predicted(c)); }

double Evaluation::macro_accuracy() const {
  double sum = 0;
  std::size_t present = 0;
  for (std::size_t c = 0; c < classes_; ++c) {
    if (support(c) == 0) continue;
    sum += recall(c);
    ++present;
  }
  return present ? sum / static_cast<double>(present) : kNaN;
}

std::vector<std::vector<float>> predict_probabilities(
    NameClassifier& model, const std::vector<std::vector<std::int64_t>>& ids,
    std::size_t batch_size) {
  NoGradGuard no_grad;
  nn::EvalModeGuard mode(model);
  std::vector<std::vector<float>> out;
  for (const auto& positions : sequential_batches(ids.size(), batch_size)) {
    std::vector<std::vector<std::int64_t>> names;
    for (std::size_t p : positions) names.push_back(ids[p]);
    const Batch batch = make_batch(names, std::vector<std::int64_t>(names.size(), 0));
    const Tensor probs = softmax(model.forward(batch), -1);
    const std::size_t C = probs.size(1);
    const float* p = probs.value<float>().data();
    for (std::size_t b = 0; b < names.size(); ++b) out.emplace_back(p + b * C, p + (b + 1) * C);
  }
  return out;
}

Evaluation evaluate(NameClassifier& model, const EncodedSet& set, std::size_t batch_size) {
  NoGradGuard no_grad;
  nn::EvalModeGuard mode(model);
  const std::size_t C = model.config().labels.size();
  Evaluation e(C);
  double loss_sum = 0;
  for (const auto& positions : sequential_batches(set.size(), batch_size)) {
    const Batch batch = gather_batch(set, positions);
    const Tensor logits = model.forward(batch);
    CrossEntropyOptions sum;
    sum.reduction(Reduction::Sum);
    loss_sum += cross_entropy(logits, Indices(batch.labels), sum).item();
    const float* l = logits.value<float>().data();
    for (std::size_t b = 0; b < batch.size(); ++b) {
      const float* row = l + b * C;
      e.add(static_cast<std::size_t>(batch.labels[b]),
            static_cast<std::size_t>(std::max_element(row, row + C) - row),
            set.languages.at(positions[b]));
    }
  }
  e.loss = set.size() ? loss_sum / static_cast<double>(set.size()) : kNaN;
  return e;
}

std::string per_class_table(const Evaluation& e, const std::vector<std::string>& labels) {
  const std::size_t w = label_width(labels, 8);
  std::string out = pad_right("language", w) + "  support  precision  recall      f1\n";
  double sum_p = 0, sum_f = 0;
  std::size_t n_p = 0, n_f = 0;
  for (std::size_t c = 0; c < e.classes(); ++c) {
    const double p = e.precision(c), r = e.recall(c);
    const double f = (p + r > 0) ? 2 * p * r / (p + r) : (p == 0 && r == 0 ? 0.0 : kNaN);
    if (!std::isnan(p)) sum_p += p, ++n_p;
    if (!std::isnan(f)) sum_f += f, ++n_f;
    out += fmt::format("{}  {:>7}  {:>9}  {:>6}  {:>6}\n", pad_right(labels.at(c), w), e.support(c),
                       percent(p), percent(r), percent(f));
  }
  out += fmt::format("{}  {:>7}  {:>9}  {:>6}  {:>6}\n", pad_right("macro", w), e.count(),
                     percent(n_p ? sum_p / static_cast<double>(n_p) : kNaN),
                     percent(e.macro_accuracy()),
                     percent(n_f ? sum_f / static_cast<double>(n_f) : kNaN));
  return out;
}

std::string top_confusions(const Evaluation& e, const std::vector<std::string>& labels,
                           std::size_t k) {
  std::vector<std::tuple<std::size_t, std::size_t, std::size_t>> mistakes;  // count, true, pred
  for (std::size_t t = 0; t < e.classes(); ++t)
    for (std::size_t p = 0; p < e.classes(); ++p)
      if (t != p && e.at(t, p) > 0) mistakes.emplace_back(e.at(t, p), t, p);
  std::stable_sort(mistakes.begin(), mistakes.end(),
                   [](const auto& a, const auto& b) { return std::get<0>(a) > std::get<0>(b); });
  if (mistakes.empty()) return "no confusions\n";
  const std::size_t w = label_width(labels, 4);
  std::string out;
  for (std::size_t i = 0; i < std::min(k, mistakes.size()); ++i) {
    const auto [count, t, p] = mistakes[i];
    out += fmt::format("  {} -> {}  {:>5}  ({} of {})\n", pad_right(labels.at(t), w),
                       pad_right(labels.at(p), w), count, percent(ratio(count, e.support(t))),
                       labels.at(t));
  }
  return out;
}

std::string confusion_table(const Evaluation& e, const std::vector<std::string>& labels) {
  const std::string corner = "true \\ predicted";
  const std::size_t w = std::max(label_width(labels, 4), corner.size() + 1);
  std::size_t cell = 4;
  for (std::size_t n : e.matrix()) cell = std::max(cell, std::to_string(n).size() + 1);
  std::string out = pad_right(corner, w);
  for (const std::string& l : labels) {
    const std::u32string cps = decode_utf8(sanitize_utf8(l));
    const std::string abbreviation = encode_utf8(cps.substr(0, std::min<std::size_t>(3, cell - 1)));
    out += std::string(cell - display_width(abbreviation), ' ') + abbreviation;
  }
  out += "\n";
  for (std::size_t t = 0; t < e.classes(); ++t) {
    out += pad_right(labels.at(t), w);
    for (std::size_t p = 0; p < e.classes(); ++p) {
      const std::string n = e.at(t, p) ? std::to_string(e.at(t, p)) : ".";
      out += std::string(cell - n.size(), ' ') + n;
    }
    out += "\n";
  }
  return out;
}

std::string summary_line(const Evaluation& e) {
  std::size_t correct = 0;
  for (std::size_t c = 0; c < e.classes(); ++c) correct += e.at(c, c);
  std::string line = fmt::format("accuracy {} ({}/{}), macro accuracy {}, loss {:.4f}",
                                 percent(e.accuracy()), correct, e.count(),
                                 percent(e.macro_accuracy()), e.loss);
  if (e.multi_language() > 0)
    line += fmt::format("; {} with a name's other languages counted right ({} names of several "
                        "languages)",
                        percent(e.any_language_accuracy()), e.multi_language());
  return line;
}

}  // namespace tg::examples::names
