// The recurrent layers' driver: per layer and direction one input projection and a loop of cell
// steps, then the outputs, final states and last-step outputs gathered into their layouts.
#include "nn/recurrent.hpp"

#include <fmt/format.h>

#include <algorithm>

#include "autograd/ops/loss.hpp"
#include "nn/rnn_ops.hpp"

namespace tg::nn {

namespace {

const char* layer_name(CellKind kind) {
  switch (kind) {
    case CellKind::Lstm: return "LSTM";
    case CellKind::Gru: return "GRU";
    default: return "RNN";
  }
}

// Which rows step at each time step (null: all of them), and how many steps any sequence takes.
struct Padding {
  std::vector<RowFlags> active;
  std::size_t steps = 0;
};

Padding padding_of(const std::string& name, const std::vector<std::size_t>& lengths,
                   std::size_t steps, std::size_t batch) {
  Padding p{std::vector<RowFlags>(steps), steps};
  if (lengths.empty()) return p;
  if (lengths.size() != batch)
    throw Error(fmt::format("{}: {} lengths for a batch of {}", name, lengths.size(), batch));
  for (std::size_t len : lengths)
    if (len < 1 || len > steps)
      throw Error(fmt::format("{}: length {} outside [1, {}] (the input's steps)", name, len,
                              steps));
  // Steps past the longest sequence change nothing: the loops stop there.
  p.steps = *std::max_element(lengths.begin(), lengths.end());
  for (std::size_t t = 0; t < p.steps; ++t) {
    auto flags = std::make_shared<std::vector<std::uint8_t>>(batch);
    bool all = true;
    for (std::size_t b = 0; b < batch; ++b) {
      (*flags)[b] = lengths[b] > t;
      all = all && (*flags)[b];
    }
    if (!all) p.active[t] = std::move(flags);
  }
  return p;
}

std::string suffix(std::size_t layer, bool reverse) {
  return fmt::format("_l{}{}", layer, reverse ? "_reverse" : "");
}

}  // namespace

RecurrentLayer::RecurrentLayer(CellKind kind, const RecurrentOptions& options, Generator& gen)
    : kind_(kind), options_(options) {
  const char* name = layer_name(kind);
  const RecurrentOptions& o = options_;
  if (o.input_size == 0 || o.hidden_size == 0 || o.num_layers == 0)
    throw Error(fmt::format("{}: input_size {}, hidden_size {} and num_layers {} must be positive",
                            name, o.input_size, o.hidden_size, o.num_layers));
  if (!(o.dropout >= 0.0 && o.dropout < 1.0))
    throw Error(fmt::format("{}: dropout must be in [0, 1), got {}", name, o.dropout));
  const std::size_t dirs = num_directions(), H = o.hidden_size, gh = gate_count(kind) * H;
  for (std::size_t l = 0; l < o.num_layers; ++l) {
    const std::size_t in = l == 0 ? o.input_size : dirs * H;
    for (std::size_t d = 0; d < dirs; ++d) {
      const std::string s = suffix(l, d == 1);
      Weights w;
      w.w_ih = register_parameter("weight_ih" + s, recurrent_init({gh, in}, H, gen));
      w.w_hh = register_parameter("weight_hh" + s, recurrent_init({gh, H}, H, gen));
      if (o.bias) {
        w.b_ih = register_parameter("bias_ih" + s, recurrent_init({gh}, H, gen));
        w.b_hh = register_parameter("bias_hh" + s, recurrent_init({gh}, H, gen));
      }
      weights_.push_back(w);
    }
  }
  dropout_gen_.manual_seed(gen.next_u64());
  workspace_ = std::make_shared<Workspace>();
}

const RecurrentLayer::Weights& RecurrentLayer::weights(std::size_t layer, bool reverse) const {
  if (layer >= options_.num_layers || (reverse && !options_.bidirectional))
    throw Error(fmt::format("{}: no layer {}{}", layer_name(kind_), layer,
                            reverse ? " in reverse" : ""));
  return weights_[layer * num_directions() + (reverse ? 1 : 0)];
}

const Tensor& RecurrentLayer::weight_ih(std::size_t l, bool r) const { return weights(l, r).w_ih; }
const Tensor& RecurrentLayer::weight_hh(std::size_t l, bool r) const { return weights(l, r).w_hh; }
const Tensor& RecurrentLayer::bias_ih(std::size_t l, bool r) const { return weights(l, r).b_ih; }
const Tensor& RecurrentLayer::bias_hh(std::size_t l, bool r) const { return weights(l, r).b_hh; }

RecurrentOutput RecurrentLayer::forward(const Tensor& x, const RecurrentState& state,
                                        const std::vector<std::size_t>& lengths) {
  const std::string name = type_name();
  const RecurrentOptions& o = options_;
  if (!x.defined()) throw Error(name + ": undefined input");
  const Shape sx = x.shape();
  if (sx.size() != 3 || sx[2] != o.input_size || sx[0] == 0 || sx[1] == 0)
    throw Error(fmt::format("{}: input {} (expected [{}, {}])", name, shape_str(sx),
                            o.batch_first ? "B, T" : "T, B", o.input_size));
  if (x.dtype() != weights_.front().w_ih.dtype())
    throw Error(fmt::format("{}: input is {} but the parameters are {}", name,
                            to_string(x.dtype()), to_string(weights_.front().w_ih.dtype())));
  const std::size_t T = o.batch_first ? sx[1] : sx[0], B = o.batch_first ? sx[0] : sx[1];
  const std::size_t L = o.num_layers, D = num_directions(), H = o.hidden_size;
  const std::size_t W = state_width(kind_, H);
  if (state.c.defined() && kind_ != CellKind::Lstm)
    throw Error(name + ": only the LSTM takes a cell state c");
  for (const Tensor* s : {&state.h, &state.c})
    if (s->defined() && (s->shape() != Shape{L * D, B, H} || s->dtype() != x.dtype()))
      throw Error(fmt::format("{}: initial state {} {} (expected {} [{}, {}, {}])", name,
                              to_string(s->dtype()), shape_str(s->shape()), to_string(x.dtype()),
                              L * D, B, H));
  const Padding pad = padding_of(name, lengths, T, B);

  Workspace* ws = workspace_.get();
  ws->recycle();
  // The initial state of layer-direction k as the [B, W] values the steps start from.
  auto initial = [&](std::size_t k) -> Tensor {
    std::vector<GatherPiece> pieces;
    if (state.h.defined()) pieces.push_back({state.h, k * B * H, H, 0, W, B, H, nullptr});
    if (state.c.defined()) pieces.push_back({state.c, k * B * H, H, H, W, B, H, nullptr});
    if (pieces.empty()) return Tensor();
    if (kind_ != CellKind::Lstm && L * D == 1) return state.h;  // already B*H values
    return gather_rows({B, W}, pieces, ws);
  };
  // Where each direction's final state sits in its states tensor [T, B, W].
  auto final_offset = [&](std::size_t d) { return d == 0 ? (pad.steps - 1) * B * W : 0; };

  Tensor input = x;
  bool input_batch_first = o.batch_first;
  std::vector<Tensor> states(L * D);  // per layer-direction: every step's state [T, B, W]
  Tensor output;
  for (std::size_t l = 0; l < L; ++l) {
    for (std::size_t d = 0; d < D; ++d) {
      const Weights& w = weights_[l * D + d];
      const Projection p = input_projection(kind_, input, input_batch_first, w.w_ih, w.w_hh,
                                            w.b_ih, w.b_hh, ws);
      states[l * D + d] =
          cell_steps(p, initial(l * D + d), w.w_hh, w.b_hh, d == 1, pad.steps, pad.active, ws);
    }
    // Every step's h, directions side by side; padded steps stay zero.
    const bool top = l + 1 == L;
    const bool bf = top && o.batch_first;
    std::vector<GatherPiece> pieces;
    for (std::size_t d = 0; d < D; ++d)
      for (std::size_t t = 0; t < pad.steps; ++t)
        pieces.push_back({states[l * D + d], t * B * W, W,
                          bf ? t * D * H + d * H : t * B * D * H + d * H, bf ? T * D * H : D * H,
                          B, H, pad.active[t]});
    output = gather_rows(bf ? Shape{B, T, D * H} : Shape{T, B, D * H}, pieces, ws);
    if (!top && o.dropout > 0.0 && is_training())
      output = tg::dropout(output, o.dropout, true, dropout_gen_);
    input = output;
    input_batch_first = false;
  }

  RecurrentOutput result;
  result.output = output;
  auto stack_finals = [&](std::size_t column) {
    std::vector<GatherPiece> pieces;
    for (std::size_t k = 0; k < L * D; ++k)
      pieces.push_back({states[k], final_offset(k % D) + column, W, k * B * H, H, B, H, nullptr});
    return gather_rows({L * D, B, H}, pieces, ws);
  };
  result.state.h = stack_finals(0);
  if (kind_ == CellKind::Lstm) result.state.c = stack_finals(H);
  std::vector<GatherPiece> last;
  for (std::size_t d = 0; d < D; ++d)
    last.push_back({states[(L - 1) * D + d], final_offset(d), W, d * H, D * H, B, H, nullptr});
  result.last = gather_rows({B, D * H}, last, ws);
  return result;
}

Tensor RecurrentLayer::forward(const Tensor& x) {
  RecurrentOutput out = forward(x, RecurrentState{});
  return options_.return_sequences ? out.output : out.last;
}

Shape RecurrentLayer::output_shape(const Shape& input_shape) const {
  const RecurrentOptions& o = options_;
  if (input_shape.size() != 3 || input_shape[2] != o.input_size)
    throw Error(fmt::format("{}: input shape {} (expected [{}, {}])", type_name(),
                            shape_str(input_shape), o.batch_first ? "B, T" : "T, B",
                            o.input_size));
  const std::size_t features = num_directions() * o.hidden_size;
  if (!o.return_sequences) return {o.batch_first ? input_shape[0] : input_shape[1], features};
  return {input_shape[0], input_shape[1], features};
}

RNN::RNN(const RecurrentOptions& options, Nonlinearity nonlinearity, Generator& gen)
    : RecurrentLayer(rnn_kind(nonlinearity), options, gen) {}

Nonlinearity RNN::nonlinearity() const {
  return kind() == CellKind::RnnRelu ? Nonlinearity::Relu : Nonlinearity::Tanh;
}

LSTM::LSTM(const RecurrentOptions& options, Generator& gen)
    : RecurrentLayer(CellKind::Lstm, options, gen) {}

GRU::GRU(const RecurrentOptions& options, Generator& gen)
    : RecurrentLayer(CellKind::Gru, options, gen) {}

}  // namespace tg::nn
