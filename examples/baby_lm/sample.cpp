// baby_lm's text generation: the sampling distribution, drawing from it, and the generation loop.
#include "baby_lm/sample.hpp"

#include <algorithm>
#include <cmath>
#include <numeric>

#include <fmt/format.h>

#include <tapegrad/autograd/tape.hpp>

#include "common/text.hpp"

namespace tg::baby_lm {

void check_sampling(const SamplingOptions& o) {
  if (!(o.temperature >= 0.0) || !std::isfinite(o.temperature))
    throw Error(fmt::format("--temperature: must be 0 (greedy) or above, got {}", o.temperature));
  if (!(o.top_p > 0.0 && o.top_p <= 1.0))
    throw Error(fmt::format("--top-p: must be in (0, 1], got {}", o.top_p));
}

std::vector<double> sampling_distribution(const float* logits, std::size_t n,
                                          const SamplingOptions& options) {
  check_sampling(options);
  if (n == 0) throw Error("sampling_distribution: no logits");
  std::vector<double> p(n, 0.0);
  const std::size_t best = static_cast<std::size_t>(std::max_element(logits, logits + n) - logits);
  if (options.temperature == 0.0) {
    p[best] = 1.0;
    return p;
  }
  double sum = 0;
  for (std::size_t i = 0; i < n; ++i) {
    p[i] = std::exp((static_cast<double>(logits[i]) - logits[best]) / options.temperature);
    sum += p[i];
  }
  for (double& v : p) v /= sum;
  const std::size_t k = options.top_k == 0 ? n : std::min(options.top_k, n);
  if (k == n && options.top_p >= 1.0) return p;

  // Most likely first; stable, so equal probabilities keep the lower index first.
  std::vector<std::size_t> order(n);
  std::iota(order.begin(), order.end(), std::size_t{0});
  std::stable_sort(order.begin(), order.end(),
                   [&p](std::size_t a, std::size_t b) { return p[a] > p[b]; });
  // Top-k, then the nucleus of what remains (renormalised to the top k, as in common practice).
  double top_k_mass = 0;
  for (std::size_t i = 0; i < k; ++i) top_k_mass += p[order[i]];
  std::size_t keep = 0;
  double mass = 0;
  // A tolerance so that p = 0.5 keeps exactly a 0.5 token despite rounding in the softmax.
  while (keep < k && (keep == 0 || mass < options.top_p * top_k_mass - 1e-12)) mass += p[order[keep++]];
  std::vector<double> out(n, 0.0);
  for (std::size_t i = 0; i < keep; ++i) out[order[i]] = p[order[i]] / mass;
  return out;
}

std::size_t sample_token(const float* logits, std::size_t n, const SamplingOptions& options,
                         Generator& gen) {
  const std::vector<double> p = sampling_distribution(logits, n, options);
  if (options.temperature == 0.0)
    return static_cast<std::size_t>(std::max_element(p.begin(), p.end()) - p.begin());
  const double u = gen.uniform();
  double cumulative = 0;
  std::size_t last = 0;
  for (std::size_t i = 0; i < n; ++i) {
    if (p[i] <= 0) continue;
    last = i;
    cumulative += p[i];
    if (u < cumulative) return i;
  }
  return last;  // u beyond a sum rounded below 1
}

std::string generate(BabyLM& model, const Vocabulary& vocab, const std::string& prompt,
                     std::size_t length, const SamplingOptions& options, Generator& gen,
                     const std::string& what) {
  check_sampling(options);
  std::vector<std::int64_t> ids = vocab.encode(examples::decode_utf8(prompt, {what, 0}), what);
  if (ids.empty()) {
    if (!vocab.contains(U'\n'))
      throw Error(what + ": empty, and the vocabulary has no newline to start a line with");
    ids.push_back(vocab.find(U'\n'));
  }
  if (length == 0) return "";
  NoGradGuard no_grad;
  nn::EvalModeGuard eval(model);
  const std::size_t V = vocab.size();
  LmOutput out = model.forward(Indices(ids, {1, ids.size()}), {}, false);
  std::vector<std::int64_t> drawn;
  drawn.reserve(length);
  for (std::size_t i = 0; i < length; ++i) {
    const std::size_t token = sample_token(out.logits.value<float>().data(), V, options, gen);
    drawn.push_back(static_cast<std::int64_t>(token));
    if (i + 1 < length)
      out = model.forward(Indices({static_cast<std::int64_t>(token)}, {1, 1}), out.state, false);
  }
  return vocab.decode(drawn);
}

WordCount count_known_words(std::u32string_view prompt, std::u32string_view continuation,
                            const std::vector<std::string>& known) {
  const std::u32string text = std::u32string(prompt) + std::u32string(continuation);
  const auto separator = [](char32_t c) { return c == U' ' || c == U'\n'; };
  WordCount count;
  std::size_t start = 0;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const bool ends = i + 1 == text.size() ? false : separator(text[i + 1]);
    if (separator(text[i])) {
      start = i + 1;
      continue;
    }
    // A word is complete at a separator; the text's last word is cut off (not counted).
    if (!ends) continue;
    if (i + 1 > prompt.size()) {
      ++count.total;
      const std::string word = examples::encode_utf8(text.substr(start, i + 1 - start));
      if (std::binary_search(known.begin(), known.end(), word)) ++count.known;
    }
  }
  return count;
}

std::string one_line(const std::string& text) {
  std::string out;
  for (char c : text) {
    if (c == '\n')
      out += " | ";
    else
      out += c;
  }
  return out;
}

}  // namespace tg::baby_lm
