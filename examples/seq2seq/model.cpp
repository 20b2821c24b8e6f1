// seq2seq model: the encoder, the attention decoder step, the training loss and the decoders.
#include "seq2seq/model.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

#include "tapegrad/autograd/ops.hpp"
#include "tapegrad/autograd/tape.hpp"
#include "common/limits.hpp"
#include "common/text.hpp"
#include "tapegrad/nn/data.hpp"

namespace tg::examples::seq2seq {

namespace {

// The cell kind a config names, or an error naming the known kinds.
nn::CellKind kind_of(const ModelConfig& c) { return nn::parse_cell_kind(c.cell); }

long as_long(std::size_t v) { return static_cast<long>(v); }

// Rows `rows` of a [B, ...] tensor (beam search: each hypothesis's copy of its parent's state).
Tensor rows_of(const Tensor& x, const std::vector<std::int64_t>& rows) {
  return x.defined() ? index_select(x, 0, Indices(rows)) : x;
}

}  // namespace

std::map<std::string, std::string> to_meta(const ModelConfig& c) {
  return {{"cell", c.cell},
          {"embedding", std::to_string(c.embedding)},
          {"hidden", std::to_string(c.hidden)},
          {"decoder_hidden", std::to_string(c.decoder_hidden)},
          {"max_output", std::to_string(c.max_output)},
          {"source_characters", c.source.text()},
          {"target_characters", c.target.text()}};
}

ModelConfig config_from_meta(const std::map<std::string, std::string>& meta, const std::string& path) {
  const tg::train::MetaReader read(meta, path, "the checkpoint has no meta.{} entry");
  constexpr std::size_t kMaxSize = 1u << 16;  // far beyond any sensible model: a damaged entry
  ModelConfig c;
  c.cell = read.text("cell");
  try {
    kind_of(c);
  } catch (const Error& e) {
    throw Error(fmt::format("{}: meta.cell: {}", path, e.what()));
  }
  c.embedding = read.size("embedding", 1, kMaxSize, "a size");
  c.hidden = read.size("hidden", 1, kMaxSize, "a size");
  c.decoder_hidden = read.size("decoder_hidden", 1, kMaxSize, "a size");
  c.max_output = read.size("max_output", 1, kMaxSize, "a length");
  try {
    c.source = Alphabet(decode_utf8(read.text("source_characters")), kSourceReserved);
    c.target = Alphabet(decode_utf8(read.text("target_characters")), kTargetReserved);
  } catch (const Error& e) {
    throw Error(fmt::format("{}: the alphabets are damaged: {}", path, e.what()));
  }
  if (c.target.characters().empty()) throw Error(path + ": meta.target_characters is empty");
  return c;
}

std::string describe(const ModelConfig& c) {
  const std::string cell = nn::cell_spec(kind_of(c)).layer_name;
  return fmt::format("bidirectional {0} {1} -> {0} {2} with Luong attention, embeddings {3}, "
                     "{4} source -> {5} target characters",
                     cell, c.hidden, c.decoder_hidden, c.embedding, c.source.characters().size(),
                     c.target.characters().size());
}

double parameter_estimate(const ModelConfig& c) {
  const std::size_t gates = nn::gate_count(kind_of(c));
  const double E = double(c.embedding), H = double(c.hidden), D = double(c.decoder_hidden);
  const double Vs = double(c.source.size()), Vt = double(c.target.size());
  return (Vs + Vt) * E + recurrent_parameters(gates, c.embedding, c.hidden, 1, true) +
         (2 * H + 1) * D +                                             // bridge
         recurrent_parameters(gates, c.embedding + c.decoder_hidden, c.decoder_hidden, 1, false) +
         2 * H * D +                                                   // attention (no bias)
         (2 * H + D + 1) * D +                                         // combine
         (D + 1) * Vt;                                                 // output
}

EncodedText encode_source(const std::string& text, const Alphabet& alphabet) {
  EncodedText out;
  for (char32_t c : decode_utf8(text)) {
    const std::optional<std::int64_t> id = alphabet.id(c);
    out.ids.push_back(id ? *id : kPad);
    if (!id && out.unknown.find(c) == std::u32string::npos) out.unknown += c;
  }
  return out;
}

std::vector<std::int64_t> encode_target(const std::string& text, const Alphabet& alphabet) {
  std::vector<std::int64_t> ids;
  for (char32_t c : decode_utf8(text)) {
    const std::optional<std::int64_t> id = alphabet.id(c);
    if (!id)
      throw Error(fmt::format("the target '{}' holds '{}', which no training target has", text,
                              encode_utf8(std::u32string(1, c))));
    ids.push_back(*id);
  }
  ids.push_back(kEnd);
  return ids;
}

std::string decode_target(const std::vector<std::int64_t>& ids, const Alphabet& alphabet) {
  std::u32string text;
  for (std::int64_t id : ids) {
    if (id == kEnd) break;
    if (id >= static_cast<std::int64_t>(kTargetReserved)) text += alphabet.character(id);
  }
  return encode_utf8(text);
}

Seq2Seq::Seq2Seq(ModelConfig config, Generator& gen) : config_(std::move(config)) {
  const ModelConfig& c = config_;
  const nn::CellKind kind = kind_of(c);
  if (c.source.reserved() != kSourceReserved || c.target.reserved() != kTargetReserved)
    throw Error("Seq2Seq: alphabets with the wrong reserved ids");
  source_embedding_ = register_module(
      "source_embedding", std::make_shared<nn::Embedding>(c.source.size(), c.embedding, kPad, gen));
  nn::RecurrentOptions o;
  o.input_size(c.embedding);
  o.hidden_size(c.hidden);
  o.bidirectional(true);
  o.batch_first(true);
  encoder_ = register_module("encoder", nn::make_recurrent_layer(kind, o, gen));
  bridge_ = register_module("bridge", std::make_shared<nn::Linear>(2 * c.hidden, c.decoder_hidden, true, gen));
  target_embedding_ = register_module(
      "target_embedding", std::make_shared<nn::Embedding>(c.target.size(), c.embedding, kPad, gen));
  const std::size_t step_input = c.embedding + c.decoder_hidden;  // input feeding
  decoder_ = register_module(
      "decoder", std::make_shared<nn::FusedCell>(kind, step_input, c.decoder_hidden, true, gen));
  attention_ = register_module("attention", std::make_shared<nn::Linear>(2 * c.hidden, c.decoder_hidden, false, gen));
  combine_ = register_module(
      "combine", std::make_shared<nn::Linear>(2 * c.hidden + c.decoder_hidden, c.decoder_hidden, true, gen));
  output_ = register_module("output", std::make_shared<nn::Linear>(c.decoder_hidden, c.target.size(), true, gen));
}

EncoderMemory Seq2Seq::encode(const std::vector<std::vector<std::int64_t>>& sources,
                              DecoderState& state) {
  for (const auto& s : sources)
    if (s.empty()) throw Error("Seq2Seq::encode: an empty source");
  const data::PaddedBatch batch = data::pad_batch(sources, kPad, /*batch_first=*/true);
  EncoderMemory memory;
  const nn::RecurrentOutput out =
      encoder_->forward(source_embedding_->forward(batch.ids), nn::RecurrentState{}, batch.lengths);
  memory.outputs = out.output;
  memory.keys = attention_->forward(out.output);
  memory.mask = batch.mask;
  memory.lengths = batch.lengths;
  state.h = tanh(bridge_->forward(out.last));
  state.c = Tensor();
  state.feed = Tensor::zeros({sources.size(), config_.decoder_hidden});
  return memory;
}

StepResult Seq2Seq::step(const EncoderMemory& memory, const Indices& previous, DecoderState& state) {
  const long B = as_long(previous.size()), T = as_long(memory.outputs.size(1));
  const long D = as_long(config_.decoder_hidden);
  const Tensor x = concat({target_embedding_->forward(previous), state.feed}, 1);
  const Tensor next = decoder_->step(x, state.h, state.c);
  if (nn::cell_spec(decoder_->kind()).has_cell_state) {  // h|c: the LSTM's two halves
    state.h = slice(next, 1, 0, D);
    state.c = slice(next, 1, D, 2 * D);
  } else {
    state.h = next;
  }
  // Luong's general score h^T W_a s_j for every source step j, masked where the source is padding.
  const Tensor scores = reshape(matmul(memory.keys, reshape(state.h, {B, D, 1})), {B, T});
  StepResult r;
  r.weights = masked_softmax(scores, memory.mask, 1);
  const Tensor context = reshape(matmul(reshape(r.weights, {B, 1, T}), memory.outputs), {B, -1});
  r.attentional = tanh(combine_->forward(concat({context, state.h}, 1)));
  state.feed = r.attentional;
  return r;
}

Tensor Seq2Seq::logits(const Tensor& attentional) { return output_->forward(attentional); }

Tensor Seq2Seq::loss(const std::vector<std::vector<std::int64_t>>& sources,
                     const std::vector<std::vector<std::int64_t>>& targets) {
  if (sources.size() != targets.size() || sources.empty())
    throw Error("Seq2Seq::loss: sources and targets must be non-empty lists of the same size");
  DecoderState state;
  const EncoderMemory memory = encode(sources, state);
  std::size_t steps = 0;
  for (const auto& t : targets) steps = std::max(steps, t.size());
  const std::size_t B = sources.size();
  std::vector<Tensor> attentional;
  std::vector<std::int64_t> previous(B, kStart), expected(B * steps, kPad);
  for (std::size_t t = 0; t < steps; ++t) {
    attentional.push_back(step(memory, Indices(previous), state).attentional);
    for (std::size_t b = 0; b < B; ++b) {
      previous[b] = t < targets[b].size() ? targets[b][t] : kPad;
      expected[b * steps + t] = previous[b];
    }
  }
  // One output product for every step: [B, steps, D] -> [B * steps, V].
  const Tensor all = logits(stack(attentional, 1));
  CrossEntropyOptions options;
  options.ignore_index(kPad);
  return cross_entropy(reshape(all, {as_long(B * steps), as_long(config_.target.size())}),
                       Indices(expected), options);
}

Tensor Seq2Seq::next_log_probs(const Tensor& attentional) {
  std::vector<double> impossible(config_.target.size(), 0.0);
  impossible[kPad] = impossible[kStart] = 1.0;
  return masked_fill(log_softmax(logits(attentional), 1),
                     Tensor::from_vector(impossible, {impossible.size()}),
                     -std::numeric_limits<double>::infinity());
}

std::vector<Decoded> Seq2Seq::greedy(const std::vector<std::vector<std::int64_t>>& sources) {
  const NoGradGuard no_grad;
  DecoderState state;
  const EncoderMemory memory = encode(sources, state);
  const std::size_t B = sources.size(), V = config_.target.size();
  const std::size_t T = memory.outputs.size(1);
  std::vector<Decoded> out(B);
  std::vector<bool> done(B, false);
  std::vector<std::int64_t> previous(B, kStart);
  for (std::size_t s = 0; s <= config_.max_output; ++s) {
    const StepResult r = step(memory, Indices(previous), state);
    const Tensor log_probs = next_log_probs(r.attentional);
    const Indices best = argmax(log_probs, 1);
    const float* lp = log_probs.value<float>().data();
    const float* w = r.weights.value<float>().data();
    std::size_t open = 0;
    for (std::size_t b = 0; b < B; ++b) {
      if (done[b]) continue;
      const std::int64_t id = best[b];
      if (id != kEnd && s == config_.max_output) {  // out of length: stop without this character
        done[b] = true;
        continue;
      }
      out[b].attention.emplace_back(w + b * T, w + b * T + memory.lengths[b]);
      out[b].log_prob += lp[b * V + static_cast<std::size_t>(id)];
      if (id == kEnd) {
        done[b] = true;
      } else {
        out[b].ids.push_back(id);
        previous[b] = id;
        ++open;
      }
    }
    if (open == 0) break;
  }
  return out;
}

Decoded Seq2Seq::beam_search(const std::vector<std::int64_t>& source, std::size_t beam) {
  if (beam == 0) throw Error("beam_search: the beam width must be at least 1");
  const NoGradGuard no_grad;
  DecoderState state;
  const EncoderMemory one = encode({source}, state);
  const std::size_t V = config_.target.size(), length = source.size();
  std::vector<Decoded> alive(1), finished;
  const auto best_of = [](const std::vector<Decoded>& hyps) {
    // The first of equal scores, as greedy's argmax.
    return std::max_element(hyps.begin(), hyps.end(), [](const Decoded& a, const Decoded& b) {
      return a.log_prob < b.log_prob;
    });
  };
  for (std::size_t s = 0; s <= config_.max_output && !alive.empty(); ++s) {
    const bool last = s == config_.max_output;  // only an end may follow; others stop as they are
    // Every hypothesis reads the same source: its memory repeated once per hypothesis.
    const std::vector<std::int64_t> zeros(alive.size(), 0);
    EncoderMemory memory{rows_of(one.outputs, zeros), rows_of(one.keys, zeros),
                         rows_of(one.mask, zeros), std::vector<std::size_t>(alive.size(), length)};
    std::vector<std::int64_t> previous;
    for (const Decoded& d : alive) previous.push_back(d.ids.empty() ? kStart : d.ids.back());
    const StepResult r = step(memory, Indices(previous), state);
    const Tensor log_probs = next_log_probs(r.attentional);
    const float* lp = log_probs.value<float>().data();
    const float* w = r.weights.value<float>().data();
    // Candidates in the order topk would give them: by score, ties by position (hypothesis, id).
    std::vector<std::size_t> order(alive.size() * V);
    std::iota(order.begin(), order.end(), 0);
    const auto score = [&](std::size_t k) { return alive[k / V].log_prob + double(lp[k]); };
    std::stable_sort(order.begin(), order.end(),
                     [&](std::size_t a, std::size_t b) { return score(a) > score(b); });
    std::vector<Decoded> next;
    std::vector<std::int64_t> parents;
    std::vector<bool> stopped(alive.size(), false);
    for (std::size_t rank = 0; rank < order.size() && next.size() < beam; ++rank) {
      const std::size_t k = order[rank], parent = k / V;
      const std::int64_t id = static_cast<std::int64_t>(k % V);
      if (!std::isfinite(score(k))) break;
      if (last && id != kEnd) {
        // As greedy at the length limit: the hypothesis ends without this character.
        if (rank < beam && !stopped[parent]) finished.push_back(alive[parent]);
        stopped[parent] = true;
        continue;
      }
      Decoded d = alive[parent];
      d.log_prob = score(k);
      d.attention.emplace_back(w + parent * length, w + (parent + 1) * length);
      if (id == kEnd) {
        // Only an end among the best `beam` candidates finishes a hypothesis: with beam 1 this is
        // greedy's rule.
        if (rank < beam) finished.push_back(std::move(d));
        continue;
      }
      d.ids.push_back(id);
      next.push_back(std::move(d));
      parents.push_back(static_cast<std::int64_t>(parent));
    }
    alive = std::move(next);
    if (alive.empty()) break;
    // Scores only fall: once `beam` hypotheses have ended and the best of them beats every open
    // one, nothing can overtake it.
    if (finished.size() >= beam && best_of(finished)->log_prob >= best_of(alive)->log_prob) break;
    state.h = rows_of(state.h, parents);
    state.c = rows_of(state.c, parents);
    state.feed = rows_of(state.feed, parents);
  }
  if (finished.empty()) return {};
  return *best_of(finished);
}

}  // namespace tg::examples::seq2seq
