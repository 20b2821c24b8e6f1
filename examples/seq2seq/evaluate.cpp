// seq2seq evaluation: decoding a part, exact match by group, common errors, attention pictures.
#include "seq2seq/evaluate.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <map>

#include <tapegrad/train/svg.hpp>

#include "common/text.hpp"

namespace tg::examples::seq2seq {

namespace {

std::string percent(double fraction) { return fmt::format("{:.2f}%", 100 * fraction); }

// What differs between a target and an output: both with their common prefix and suffix cut,
// and the prefix's length, e.g. ("1999-03-03", "1999-03-08") -> "03 -> 08 at 8". Whole
// characters only (UTF-8 aware); a field cut in the middle shows one character of context.
std::string difference(const std::string& target, const std::string& output) {
  const std::u32string t = decode_utf8(target), o = decode_utf8(output);
  std::size_t prefix = 0;
  while (prefix < t.size() && prefix < o.size() && t[prefix] == o[prefix]) ++prefix;
  std::size_t suffix = 0;
  while (suffix < t.size() - prefix && suffix < o.size() - prefix &&
         t[t.size() - 1 - suffix] == o[o.size() - 1 - suffix])
    ++suffix;
  const auto middle = [&](const std::u32string& s) {
    const std::string text = encode_utf8(s.substr(prefix, s.size() - prefix - suffix));
    return text.empty() ? std::string("(nothing)") : "'" + text + "'";
  };
  return fmt::format("{} -> {} at position {}", middle(t), middle(o), prefix + 1);
}

std::string shown_character(char32_t c) {
  if (c == U' ') return "\u2423";  // OPEN BOX: a space must be visible on an axis
  return encode_utf8(std::u32string(1, c));
}

}  // namespace

EncodedPairs encode_pairs(const std::vector<Pair>& pairs, const ModelConfig& config,
                          const std::string& part) {
  EncodedPairs out;
  for (const Pair& p : pairs) {
    EncodedText source = encode_source(p.source, config.source);
    if (source.ids.empty()) throw Error(part + ": a pair with an empty source");
    out.unknown_characters += source.unknown.size();
    out.sources.push_back(std::move(source.ids));
    try {
      out.targets.push_back(encode_target(p.target, config.target));
    } catch (const Error& e) {
      throw Error(part + ": " + e.what());
    }
  }
  return out;
}

std::vector<Decoded> translate(Seq2Seq& model, const std::vector<std::vector<std::int64_t>>& sources,
                               std::size_t beam, std::size_t batch) {
  std::vector<Decoded> out;
  out.reserve(sources.size());
  if (beam > 1) {
    for (const auto& s : sources) out.push_back(model.beam_search(s, beam));
    return out;
  }
  for (std::size_t start = 0; start < sources.size(); start += batch) {
    const std::vector<std::vector<std::int64_t>> part(
        sources.begin() + static_cast<std::ptrdiff_t>(start),
        sources.begin() + static_cast<std::ptrdiff_t>(std::min(sources.size(), start + batch)));
    for (Decoded& d : model.greedy(part)) out.push_back(std::move(d));
  }
  return out;
}

double Evaluation::exact_match() const {
  if (outcomes.empty()) return 0;
  return 1.0 - static_cast<double>(errors()) / static_cast<double>(outcomes.size());
}

std::size_t Evaluation::errors() const {
  return static_cast<std::size_t>(std::count_if(outcomes.begin(), outcomes.end(),
                                                [](const Outcome& o) { return !o.correct(); }));
}

Evaluation evaluate(Seq2Seq& model, const std::vector<Pair>& pairs, const EncodedPairs& encoded,
                    std::size_t beam) {
  std::vector<Decoded> decoded = translate(model, encoded.sources, beam);
  Evaluation e;
  for (std::size_t i = 0; i < pairs.size(); ++i) {
    Outcome o;
    o.pair = &pairs[i];
    o.output = decode_target(decoded[i].ids, model.config().target);
    o.decoded = std::move(decoded[i]);
    e.outcomes.push_back(std::move(o));
  }
  return e;
}

std::string evaluation_report(const std::string& part, const Evaluation& greedy,
                              const Evaluation* beam, std::size_t beam_width) {
  std::string out;
  const std::size_t n = greedy.outcomes.size();
  out += fmt::format("{}: {} pairs; exact match greedy {} ({} wrong)", part, n,
                     percent(greedy.exact_match()), greedy.errors());
  if (beam)
    out += fmt::format(", beam {} {} ({} wrong)", beam_width, percent(beam->exact_match()),
                       beam->errors());
  out += "\n";
  const Evaluation& best = beam ? *beam : greedy;

  // Per group (the date formats), when the pairs have groups.
  std::map<std::string, std::pair<std::size_t, std::size_t>> groups;  // group -> (right, all)
  std::map<std::string, std::size_t> greedy_right;
  for (std::size_t i = 0; i < n; ++i) {
    const Outcome& o = best.outcomes[i];
    if (o.pair->group.empty()) continue;
    auto& g = groups[o.pair->group];
    g.first += o.correct();
    ++g.second;
    greedy_right[o.pair->group] += greedy.outcomes[i].correct();
  }
  if (!groups.empty()) {
    out += fmt::format("\nexact match per group ({}):\n", beam ? "greedy / beam" : "greedy");
    std::size_t width = 5;
    for (const auto& [name, g] : groups) width = std::max(width, display_width(name));
    for (const auto& [name, g] : groups) {
      out += fmt::format("  {}{}  {:5d}  {:>8}", name, std::string(width - display_width(name), ' '),
                         g.second, percent(double(greedy_right[name]) / double(g.second)));
      if (beam) out += fmt::format("  {:>8}", percent(double(g.first) / double(g.second)));
      out += "\n";
    }
  }

  // The most common errors: what differs, counted, with one example each.
  std::map<std::string, std::pair<std::size_t, const Outcome*>> kinds;
  for (const Outcome& o : best.outcomes) {
    if (o.correct()) continue;
    auto& k = kinds[difference(o.pair->target, o.output)];
    if (k.first++ == 0) k.second = &o;
  }
  if (!kinds.empty()) {
    std::vector<std::pair<std::string, std::pair<std::size_t, const Outcome*>>> sorted(kinds.begin(),
                                                                                       kinds.end());
    std::stable_sort(sorted.begin(), sorted.end(),
                     [](const auto& a, const auto& b) { return a.second.first > b.second.first; });
    out += "\nmost common errors (target part -> output part):\n";
    for (std::size_t i = 0; i < std::min<std::size_t>(sorted.size(), 10); ++i) {
      const Outcome& o = *sorted[i].second.second;
      out += fmt::format("  {:4d}x  {}   e.g. '{}' -> '{}' (expected '{}')\n", sorted[i].second.first,
                         sorted[i].first, o.pair->source, o.output, o.pair->target);
    }
  }

  out += "\nexamples:\n";
  for (std::size_t i = 0; i < std::min<std::size_t>(n, 8); ++i) {
    const Outcome& o = best.outcomes[i];
    out += fmt::format("  {:<34} -> {}{}\n", "'" + o.pair->source + "'", o.output,
                       o.correct() ? "" : fmt::format("   (expected {})", o.pair->target));
  }
  return out;
}

std::vector<std::filesystem::path> write_attention_maps(const std::filesystem::path& dir,
                                                        const Evaluation& evaluation,
                                                        std::size_t count) {
  std::vector<const Outcome*> chosen;
  for (const Outcome& o : evaluation.outcomes)
    if (!o.correct() && chosen.size() < count / 2) chosen.push_back(&o);
  for (const Outcome& o : evaluation.outcomes)
    if (o.correct() && chosen.size() < count) chosen.push_back(&o);
  std::vector<std::filesystem::path> written;
  for (const Outcome* o : chosen) {
    const std::u32string source = decode_utf8(o->pair->source);
    const std::u32string output = decode_utf8(o->output);
    tg::train::Heatmap map;
    map.title = fmt::format("Attention: '{}' -> '{}'{}", o->pair->source, o->output,
                            o->correct() ? "" : " (expected '" + o->pair->target + "')");
    for (char32_t c : source) map.col_labels.push_back(shown_character(c));
    for (std::size_t s = 0; s < o->decoded.attention.size(); ++s) {
      map.row_labels.push_back(s < output.size() ? shown_character(output[s]) : "</s>");
      for (float w : o->decoded.attention[s]) map.values.push_back(w);
    }
    map.row_title = "output";
    map.col_title = "source";
    map.max_annotated = 0;  // the shades say it; the tooltips carry the numbers
    if (map.row_labels.empty() || map.col_labels.empty()) continue;
    const std::filesystem::path path = dir / fmt::format("attention_{}.svg", written.size() + 1);
    tg::train::write_heatmap(path, map);
    written.push_back(path);
  }
  return written;
}

}  // namespace tg::examples::seq2seq
