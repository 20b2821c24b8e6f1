// The recurrent driver: per layer and direction one run of the layer's cell, then the outputs,
// final states and last-step outputs gathered into their layouts; and the fused layers.
#include "tapegrad/nn/recurrent.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <atomic>
#include <iterator>
#include <utility>

#include "tapegrad/autograd/ops/loss.hpp"
#include "nn/rnn_detail.hpp"
#include "nn/rnn_ops.hpp"

namespace tg::nn {

namespace {


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

}  // namespace

// ---- driver ------------------------------------------------------------------------------

RecurrentDriver::RecurrentDriver(const RecurrentOptions& options, std::size_t hidden,
                                 std::size_t cell)
    : options_(options), hidden_(hidden), cell_(cell),
      workspace_(std::make_shared<Workspace>()) {}

std::size_t RecurrentDriver::layer_input_size(std::size_t layer) const {
  return layer == 0 ? options_.input_size() : num_directions() * hidden_;
}

std::string RecurrentDriver::suffix(std::size_t layer, bool reverse) {
  return fmt::format("_l{}{}", layer, reverse ? "_reverse" : "");
}

void RecurrentDriver::seed_dropout(Generator& gen) { dropout_gen_.manual_seed(gen.next_u64()); }

RecurrentOutput RecurrentDriver::forward(const Tensor& x, const RecurrentState& state,
                                         const std::vector<std::size_t>& lengths) {
  const AutocastGuard precision = precision_scope();
  const std::string name = type_name();
  const RecurrentOptions& o = options_;
  if (!x.defined()) throw Error(name + ": undefined input");
  const Shape sx = x.shape();
  if (sx.size() != 3 || sx[2] != o.input_size() || sx[0] == 0 || sx[1] == 0)
    throw Error(fmt::format("{}: input {} (expected [{}, {}])", name, shape_str(sx),
                            o.batch_first() ? "B, T" : "T, B", o.input_size()));
  const std::vector<Tensor> params = parameters();
  if (!params.empty() && x.dtype() != params.front().dtype())
    throw Error(fmt::format("{}: input is {} but the parameters are {}", name,
                            to_string(x.dtype()), to_string(params.front().dtype())));
  const std::size_t T = o.batch_first() ? sx[1] : sx[0], B = o.batch_first() ? sx[0] : sx[1];
  const std::size_t L = o.num_layers(), D = num_directions(), H = hidden_, C = cell_, W = H + C;
  if (state.c.defined() && C == 0)
    throw Error(name + ": c given, but the cell has no cell state (only the LSTM and custom cells "
                "with one take c)");
  for (const Tensor* s : {&state.h, &state.c}) {
    const std::size_t width = s == &state.h ? H : C;
    if (s->defined() && (s->shape() != Shape{L * D, B, width} || s->dtype() != x.dtype()))
      throw Error(fmt::format("{}: initial state {} {} (expected {} [{}, {}, {}])", name,
                              to_string(s->dtype()), shape_str(s->shape()), to_string(x.dtype()),
                              L * D, B, width));
  }
  const Padding pad = padding_of(name, lengths, T, B);

  Workspace* ws = workspace_.get();
  ws->recycle();
  // The initial state of layer-direction k as the [B, W] values the steps start from.
  auto initial = [&](std::size_t k) -> Tensor {
    std::vector<GatherPiece> pieces;
    if (state.h.defined())
      pieces.push_back(GatherPiece::of(state.h, B, H).from(k * B * H, H).to(0, W));
    if (state.c.defined())
      pieces.push_back(GatherPiece::of(state.c, B, C).from(k * B * C, C).to(H, W));
    if (pieces.empty()) return Tensor();
    if (C == 0 && L * D == 1) return state.h;  // already B*H values
    return gather_rows({B, W}, pieces, ws);
  };
  // Where each direction's final state sits in its states tensor [T, B, W].
  auto final_offset = [&](std::size_t d) { return d == 0 ? (pad.steps - 1) * B * W : 0; };

  Tensor input = x;
  bool input_batch_first = o.batch_first();
  // Per layer-direction: every step's state [T, B, W], from `first` on in `states`.
  std::vector<Tensor> states(L * D);
  std::vector<std::size_t> first(L * D, 0);
  Tensor output;
  for (std::size_t l = 0; l < L; ++l) {
    SequenceRun run;
    run.batch_first = input_batch_first;
    run.steps = pad.steps;
    run.active = pad.active;
    Tensor both;
    if (D == 2) both = run_both_directions(l, input, initial(l * D), initial(l * D + 1), run);
    if (both.defined()) {
      states[l * D] = states[l * D + 1] = both;
      first[l * D + 1] = T * B * W;
    } else {
      for (std::size_t d = 0; d < D; ++d) {
        run.reverse = d == 1;
        states[l * D + d] = run_direction(l * D + d, input, initial(l * D + d), run);
      }
    }
    // Every step's h, directions side by side; padded steps stay zero.
    const bool top = l + 1 == L;
    const bool out_batch_first = top && o.batch_first();
    const std::size_t row_stride = out_batch_first ? T * D * H : D * H;
    std::vector<GatherPiece> pieces;
    for (std::size_t d = 0; d < D; ++d)
      for (std::size_t t = 0; t < pad.steps; ++t) {
        const std::size_t at = out_batch_first ? t * D * H + d * H : t * B * D * H + d * H;
        pieces.push_back(GatherPiece::of(states[l * D + d], B, H)
                             .from(first[l * D + d] + t * B * W, W)
                             .to(at, row_stride)
                             .only(pad.active[t]));
      }
    output = gather_rows(out_batch_first ? Shape{B, T, D * H} : Shape{T, B, D * H}, pieces, ws);
    if (!top && o.dropout() > 0.0 && is_training())
      output = tg::dropout(output, o.dropout(), true, dropout_gen_);
    input = output;
    input_batch_first = false;
  }

  RecurrentOutput result;
  result.output = output;
  auto stack_finals = [&](std::size_t column, std::size_t width) {
    std::vector<GatherPiece> pieces;
    for (std::size_t k = 0; k < L * D; ++k)
      pieces.push_back(GatherPiece::of(states[k], B, width)
                           .from(first[k] + final_offset(k % D) + column, W)
                           .to(k * B * width, width));
    return gather_rows({L * D, B, width}, pieces, ws);
  };
  result.state.h = stack_finals(0, H);
  if (C > 0) result.state.c = stack_finals(H, C);
  std::vector<GatherPiece> last;
  for (std::size_t d = 0; d < D; ++d)
    last.push_back(
        GatherPiece::of(states[(L - 1) * D + d], B, H)
            .from(first[(L - 1) * D + d] + final_offset(d), W)
            .to(d * H, D * H));
  result.last = gather_rows({B, D * H}, last, ws);
  return result;
}

namespace {
std::atomic<bool> g_side_by_side{true};
}  // namespace

void set_directions_side_by_side(bool on) { g_side_by_side.store(on, std::memory_order_relaxed); }
bool directions_side_by_side() { return g_side_by_side.load(std::memory_order_relaxed); }

Tensor RecurrentDriver::run_both_directions(std::size_t, const Tensor&, const Tensor&,
                                            const Tensor&, const SequenceRun&) {
  return Tensor();
}

Tensor RecurrentDriver::forward(const Tensor& x) {
  RecurrentOutput out = forward(x, RecurrentState{});
  return options_.return_sequences() ? out.output : out.last;
}

Shape RecurrentDriver::output_shape(const Shape& input_shape) const {
  const RecurrentOptions& o = options_;
  if (input_shape.size() != 3 || input_shape[2] != o.input_size())
    throw Error(fmt::format("{}: input shape {} (expected [{}, {}])", type_name(),
                            shape_str(input_shape), o.batch_first() ? "B, T" : "T, B",
                            o.input_size()));
  const std::size_t features = num_directions() * hidden_;
  if (!o.return_sequences()) return {o.batch_first() ? input_shape[0] : input_shape[1], features};
  return {input_shape[0], input_shape[1], features};
}

// ---- fused layers ------------------------------------------------------------------------

RecurrentLayer::~RecurrentLayer() = default;

RecurrentLayer::RecurrentLayer(CellKind kind, const RecurrentOptions& options, Generator& gen)
    : RecurrentDriver(options, options.hidden_size(),
                      cell_spec(kind).has_cell_state ? options.hidden_size() : 0),
      kind_(kind) {
  const char* name = cell_spec(kind).layer_name;
  const RecurrentOptions& o = options;
  if (o.input_size() == 0 || o.hidden_size() == 0 || o.num_layers() == 0)
    throw Error(fmt::format("{}: input_size {}, hidden_size {} and num_layers {} must be positive",
                            name, o.input_size(), o.hidden_size(), o.num_layers()));
  if (!(o.dropout() >= 0.0 && o.dropout() < 1.0))
    throw Error(fmt::format("{}: dropout must be in [0, 1), got {}", name, o.dropout()));
  const std::size_t dirs = num_directions(), H = o.hidden_size(), gh = gate_count(kind) * H;
  for (std::size_t l = 0; l < o.num_layers(); ++l) {
    for (std::size_t d = 0; d < dirs; ++d) {
      const std::string s = suffix(l, d == 1);
      CellWeights w;
      w.w_ih = register_parameter("weight_ih" + s, recurrent_init({gh, layer_input_size(l)}, H, gen));
      w.w_hh = register_parameter("weight_hh" + s, recurrent_init({gh, H}, H, gen));
      if (o.bias()) {
        w.b_ih = register_parameter("bias_ih" + s, recurrent_init({gh}, H, gen));
        w.b_hh = register_parameter("bias_hh" + s, recurrent_init({gh}, H, gen));
      }
      weights_.push_back(w);
    }
  }
  seed_dropout(gen);
}

Tensor RecurrentLayer::run_direction(std::size_t k, const Tensor& input, const Tensor& initial,
                                     const SequenceRun& run) {
  return cell_sequence(kind_, input, initial, weights_[k], run, workspace());
}

Tensor RecurrentLayer::run_both_directions(std::size_t layer, const Tensor& input,
                                           const Tensor& initial_forward,
                                           const Tensor& initial_reverse,
                                           const SequenceRun& run) {
  if (!directions_side_by_side() || blas::num_threads() < 2) return Tensor();
  if (!reverse_workspace_) reverse_workspace_ = std::make_shared<Workspace>();
  if (layer == 0) reverse_workspace_->recycle();  // once per forward, as the driver's own
  return cell_sequences_both_ways(kind_, input, {initial_forward, initial_reverse},
                                  {weights_[2 * layer], weights_[2 * layer + 1]}, run,
                                  {workspace(), reverse_workspace_.get()});
}

const CellWeights& RecurrentLayer::weights(std::size_t layer, bool reverse) const {
  if (layer >= options().num_layers() || (reverse && !options().bidirectional()))
    throw Error(fmt::format("{}: no layer {}{}", cell_spec(kind_).layer_name, layer,
                            reverse ? " in reverse" : ""));
  return weights_[layer * num_directions() + (reverse ? 1 : 0)];
}

const Tensor& RecurrentLayer::weight_ih(std::size_t l, bool r) const { return weights(l, r).w_ih; }
const Tensor& RecurrentLayer::weight_hh(std::size_t l, bool r) const { return weights(l, r).w_hh; }
const Tensor& RecurrentLayer::bias_ih(std::size_t l, bool r) const { return weights(l, r).b_ih; }
const Tensor& RecurrentLayer::bias_hh(std::size_t l, bool r) const { return weights(l, r).b_hh; }

RNN::RNN(const RecurrentOptions& options, Nonlinearity nonlinearity, Generator& gen)
    : RecurrentLayer(rnn_kind(nonlinearity), options, gen) {}

Nonlinearity RNN::nonlinearity() const {
  return cell_spec(kind()).relu ? Nonlinearity::Relu : Nonlinearity::Tanh;
}

namespace {

template <CellKind K>
std::shared_ptr<RecurrentLayer> make_fused(const RecurrentOptions& options, Generator& gen) {
  if constexpr (K == CellKind::RnnTanh || K == CellKind::RnnRelu)
    return std::make_shared<RNN>(options, K == CellKind::RnnRelu ? Nonlinearity::Relu
                                                                 : Nonlinearity::Tanh, gen);
  else
    return std::make_shared<FusedRecurrent<K>>(options, gen);
}

template <std::size_t... I>
std::shared_ptr<RecurrentLayer> make_of_kind(CellKind kind, const RecurrentOptions& options,
                                             Generator& gen, std::index_sequence<I...>) {
  std::shared_ptr<RecurrentLayer> made;
  ((kind == kCellKinds[I] ? void(made = make_fused<kCellKinds[I]>(options, gen)) : void()), ...);
  if (!made) throw Error("make_recurrent_layer: not a CellKind");
  return made;
}

}  // namespace

std::shared_ptr<RecurrentLayer> make_recurrent_layer(CellKind kind, const RecurrentOptions& options,
                                                     Generator& gen) {
  return make_of_kind(kind, options, gen, std::make_index_sequence<std::size(kCellKinds)>{});
}

}  // namespace tg::nn
