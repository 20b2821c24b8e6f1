// The sequence ops (a fused layer-direction, the row gather), forward and backward side by side,
// and the workspace that recycles their buffers between forwards.
#include "nn/rnn_ops.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <functional>
#include <numeric>

#include "tapegrad/autograd/ops/shape.hpp"
#include "nn/rnn_detail.hpp"
#include "nn/side_lane.hpp"

namespace tg::nn {

using namespace detail;

namespace {

std::size_t element_count(const Shape& shape) {
  return std::accumulate(shape.begin(), shape.end(), std::size_t{1}, std::multiplies<>());
}

}  // namespace

// ---- workspace ---------------------------------------------------------------------------

template <class T>
Workspace::Pool<T>& Workspace::spare() {
  if constexpr (std::is_same_v<T, float>)
    return spare_float_;
  else
    return spare_double_;
}

template <class T>
void Workspace::give_back(xt::xarray<T>&& a) {
  const std::size_t size = a.size();  // before the move below: argument order is unspecified
  if (size > 0) spare<T>().emplace(size, std::make_pair(generation_, std::move(a)));
}

template void Workspace::give_back<float>(xt::xarray<float>&&);
template void Workspace::give_back<double>(xt::xarray<double>&&);

void Workspace::take(TensorImpl& dying) {
  std::visit(
      [this](auto& arrays) {
        give_back(std::move(arrays.value));
        give_back(std::move(arrays.grad));
      },
      dying.arrays);
}

void Workspace::recycle() {
  auto drop_stale = [this](auto& pool) {
    for (auto it = pool.begin(); it != pool.end();)
      it = it->second.first < generation_ ? pool.erase(it) : std::next(it);
  };
  drop_stale(spare_float_);
  drop_stale(spare_double_);
  ++generation_;
}

template <class T>
xt::xarray<T> Workspace::array(const Shape& shape) {
  auto& pool = spare<T>();
  auto found = pool.find(element_count(shape));
  if (found == pool.end()) return xt::xarray<T>::from_shape(shape);
  xt::xarray<T> a = std::move(found->second.second);
  pool.erase(found);
  a.reshape(shape);
  return a;
}

template xt::xarray<float> Workspace::array<float>(const Shape&);
template xt::xarray<double> Workspace::array<double>(const Shape&);

Tensor Workspace::tensor(const Shape& shape, DType dtype) {
  return dispatch(dtype, [&](auto tag) {
    using T = decltype(tag);
    Tensor t(array<T>(shape));
    // A spare gradient buffer of the right size: the first accumulation writes into it.
    auto& pool = spare<T>();
    auto found = pool.find(element_count(shape));
    if (found != pool.end()) {
      xt::xarray<T>& g = t.impl().template get<T>().grad;
      g = std::move(found->second.second);
      pool.erase(found);
      g.reshape(shape);
    }
    t.impl().recycler = weak_from_this();
    return t;
  });
}

namespace {

template <class T>
Tensor new_tensor(Workspace* ws, const Shape& shape) {
  return ws ? ws->tensor(shape, dtype_of<T>()) : Tensor(xt::xarray<T>::from_shape(shape));
}

}  // namespace

// ---- fused sequence ----------------------------------------------------------------------

namespace {

// The sizes of one layer-direction and where step i of the run sits.
struct Geometry {
  CellKind kind = CellKind::Lstm;
  MatmulPrecision precision = MatmulPrecision::Float32;  // of the forward, reused by backward
  bool split = false, has_c = false, reverse = false, batch_first = false;
  std::size_t total = 0, steps = 0, batch = 0, in = 0, hidden = 0, gh = 0, width = 0;
  std::size_t time(std::size_t i) const { return reverse ? steps - 1 - i : i; }
  std::size_t state_slice() const { return batch * width; }
};

// What a sequence node keeps for its backward: the activated gates of every step, the input
// reordered time-major (batch-first input only), h_{t-1} of every step (for dW_hh) and the
// GRU's W_hn h_{t-1} + b_hn. The arrays go back to the workspace when the node dies.
template <class T>
struct Saved {
  std::weak_ptr<Workspace> pool;
  xt::xarray<T> gates, x_time_major, h_prev, hn;

  Saved() = default;
  Saved(const Saved&) = delete;
  Saved& operator=(const Saved&) = delete;
  ~Saved() {
    if (auto ws = pool.lock())
      for (xt::xarray<T>* a : {&gates, &x_time_major, &h_prev, &hn}) ws->give_back(std::move(*a));
  }
};

template <class T>
xt::xarray<T> draw(Workspace* ws, const Shape& shape) {
  return ws ? ws->array<T>(shape) : xt::xarray<T>::from_shape(shape);
}

// Step i's rows for the kernels: its gates, the previous state (`initial` for the first step,
// null: zero) and its new state, all in the states tensor `sv` [T, B, W].
template <class T>
CellRows<T> step_rows(const Geometry& g, Saved<T>& saved, T* sv, const T* initial,
                      std::size_t i, T* hn, const RowFlags& flags) {
  const std::size_t t = g.time(i), H = g.hidden;
  const T* hp = i == 0 ? initial : sv + (g.reverse ? t + 1 : t - 1) * g.state_slice();
  CellRows<T> rows;
  rows.kind = g.kind;
  rows.rows = g.batch;
  rows.hidden = H;
  rows.gates = saved.gates.data() + t * g.batch * g.gh;
  rows.hn = hn;
  rows.h_prev = hp;
  rows.ld_h_prev = g.width;
  rows.c_prev = hp && g.has_c ? hp + H : nullptr;
  rows.ld_c_prev = g.width;
  rows.h = sv + t * g.state_slice();
  rows.c = g.has_c ? rows.h + H : nullptr;
  rows.ld_out = g.width;
  rows.active = flags ? flags->data() : nullptr;
  return rows;
}

template <class T>
RowFlags flags_at(const SequenceRun& run, std::size_t t) {
  return t < run.active.size() ? run.active[t] : nullptr;
}

template <class T>
void add_time_major_grad(const Geometry& geo, const Tensor& x, const T* tm);

// BPTT over the recorded steps, last first, then the weight gradients with one product each.
// The input's gradient goes to x, or when `dx_time_major` is given into it ([steps, B, in],
// overwritten) for the caller to add: then this touches no tensor another direction touches.
template <class T>
void sequence_backward(const Geometry& geo, const SequenceRun& run, Saved<T>& saved,
                       const Tensor& x, const Tensor& initial, const CellWeights& w,
                       const T* g, T* sv, xt::xarray<T>* dx_time_major = nullptr) {
  const std::size_t B = geo.batch, H = geo.hidden, GH = geo.gh, W = geo.width;
  const std::size_t rows = geo.steps * B, slice = geo.state_slice();
  auto ws = saved.pool.lock();
  Workspace* pool = ws.get();
  xt::xarray<T> dgates = draw<T>(pool, {geo.steps, B, GH});
  xt::xarray<T> dhidden_side;
  if (geo.split) dhidden_side = draw<T>(pool, {geo.steps, B, GH});
  // The state gradient of the step being replayed, and of the one before it, which collects
  // the output's gradient of that step plus what flows back from this one.
  xt::xarray<T> dcur = draw<T>(pool, {B, W}), dnext = draw<T>(pool, {B, W});
  const T* whh = w.w_hh.value<T>().data();
  const blas::How how{geo.precision};
  // W_hh converted for the steps' state-gradient products once, not once per step.
  const auto whh_prepared = prepare_times<T>(B, H, GH, GH, whh, T(1), W, geo.precision);
  const blas::How step_how{geo.precision, whh_prepared.get()};
  std::copy_n(g + geo.time(geo.steps - 1) * slice, slice, dcur.data());
  for (std::size_t i = geo.steps; i-- > 0;) {
    const std::size_t t = geo.time(i);
    T* dprev = nullptr;
    if (i > 0) {
      std::copy_n(g + geo.time(i - 1) * slice, slice, dnext.data());
      dprev = dnext.data();
    } else if (initial.requires_grad()) {
      std::fill_n(dnext.data(), slice, T(0));
      dprev = dnext.data();
    }
    T* hn = geo.split ? saved.hn.data() + t * B * H : nullptr;
    const CellRows<T> f = step_rows<T>(geo, saved, sv, initial.defined() ? initial.value<T>().data()
                                                                         : nullptr,
                                       i, hn, flags_at<T>(run, t));
    CellGrads<T> grads;
    grads.dh = dcur.data();
    grads.dc = geo.has_c ? dcur.data() + H : nullptr;
    grads.ld_dout = W;
    grads.dgates = dgates.data() + t * B * GH;
    grads.dhh = geo.split ? dhidden_side.data() + t * B * GH : nullptr;
    grads.dh_prev = dprev;
    grads.ld_dh_prev = W;
    grads.dc_prev = dprev && geo.has_c ? dprev + H : nullptr;
    grads.ld_dc_prev = W;
    cell_backward(f, grads);
    const T* dhh = geo.split ? grads.dhh : grads.dgates;
    if (dprev) times<T>(B, H, GH, dhh, GH, whh, T(1), dprev, W, step_how);
    std::swap(dcur, dnext);
  }
  if (initial.requires_grad()) {  // dcur now holds the gradient of the initial state
    T* d = grad_buffer_for_add<T>(initial);
    for (std::size_t j = 0; j < slice; ++j) d[j] += dcur[j];
  }

  const T* dg = dgates.data();
  const T* wih = w.w_ih.value<T>().data();
  const std::size_t in = geo.in;
  if (x.requires_grad() && dx_time_major) {
    *dx_time_major = draw<T>(pool, {geo.steps, B, in});
    times<T>(rows, in, GH, dg, GH, wih, T(0), dx_time_major->data(), in, how);
  } else if (x.requires_grad()) {
    if (!geo.batch_first) {
      T beta;
      T* dx = grad_for_accumulation<T>(x, beta);
      if (beta == T(0)) std::fill(dx + rows * in, dx + geo.total * B * in, T(0));  // steps not run
      times<T>(rows, in, GH, dg, GH, wih, beta, dx, in, how);
    } else {  // a time-major product, added back batch-first
      xt::xarray<T> tmp = draw<T>(pool, {geo.steps, B, in});
      times<T>(rows, in, GH, dg, GH, wih, T(0), tmp.data(), in, how);
      add_time_major_grad<T>(geo, x, tmp.data());
      if (pool) pool->give_back(std::move(tmp));
    }
  }
  const T* xv = geo.batch_first ? saved.x_time_major.data() : x.value<T>().data();
  if (w.w_ih.requires_grad()) add_weight_grad<T>(w.w_ih, GH, in, rows, dg, GH, xv, in, how);
  const T* dh_side = geo.split ? dhidden_side.data() : dg;
  if (w.w_hh.requires_grad())
    add_weight_grad<T>(w.w_hh, GH, H, rows, dh_side, GH, saved.h_prev.data(), H, how);
  add_bias_grads<T>(geo.kind, w.b_ih, w.b_hh, dg, dh_side, rows, H);
  if (pool)
    for (xt::xarray<T>* a : {&dgates, &dhidden_side, &dcur, &dnext}) pool->give_back(std::move(*a));
}

// x's gradient += tm, the gradient of x's first geo.steps steps laid out time-major.
template <class T>
void add_time_major_grad(const Geometry& geo, const Tensor& x, const T* tm) {
  const std::size_t B = geo.batch, in = geo.in;
  T* dx = grad_buffer_for_add<T>(x);
  for (std::size_t t = 0; t < geo.steps; ++t)
    for (std::size_t b = 0; b < B; ++b) {
      const T* src = tm + (t * B + b) * in;
      T* dst = dx + (geo.batch_first ? b * geo.total + t : t * B + b) * in;
      for (std::size_t j = 0; j < in; ++j) dst[j] += src[j];
    }
}

}  // namespace

namespace {

// Checks one layer-direction's operands and returns its sizes; `inputs` gets the defined ones.
Geometry sequence_geometry(CellKind kind, const Tensor& x, const Tensor& initial,
                           const CellWeights& w, const SequenceRun& run,
                           std::vector<Tensor>& inputs) {
  const CellSpec& spec = cell_spec(kind);
  const char* op = spec.sequence_op;
  if (!x.defined() || !w.w_ih.defined() || !w.w_hh.defined())
    throw Error(fmt::format("{}: undefined input or weight", op));
  inputs = defined_of({x, initial, w.w_ih, w.w_hh, w.b_ih, w.b_hh});
  check_same_dtype(op, inputs);
  const Dims d = check_weights(op, kind, w.w_ih, w.w_hh, w.b_ih, w.b_hh);
  const Shape sx = x.shape();
  if (sx.size() != 3 || sx[2] != d.in)
    throw Error(fmt::format("{}: input {} does not match weight_ih {} (expected [{}, {}])", op,
                            shape_str(sx), shape_str(w.w_ih.shape()),
                            run.batch_first ? "B, T" : "T, B", d.in));
  Geometry geo;
  geo.kind = kind;
  geo.precision = matmul_precision();
  geo.split = spec.split_hidden_gate;
  geo.has_c = spec.has_cell_state;
  geo.reverse = run.reverse;
  geo.batch_first = run.batch_first;
  geo.total = run.batch_first ? sx[1] : sx[0];
  geo.steps = run.steps == 0 ? geo.total : run.steps;
  geo.batch = run.batch_first ? sx[0] : sx[1];
  geo.in = d.in;
  geo.hidden = d.hidden;
  geo.gh = d.gh;
  geo.width = state_width(kind, d.hidden);
  if (geo.steps > geo.total)
    throw Error(fmt::format("{}: {} steps of a sequence of {}", op, geo.steps, geo.total));
  if (initial.defined() && initial.size() != geo.batch * geo.width)
    throw Error(fmt::format("{}: initial state {} does not hold [{}, {}]", op,
                            shape_str(initial.shape()), geo.batch, geo.width));
  for (const RowFlags& f : run.active)
    if (f && f->size() != geo.batch)
      throw Error(fmt::format("{}: {} padding flags for a batch of {}", op, f->size(), geo.batch));
  return geo;
}

// The forward of one layer-direction into `sv` ([total, B, W], its slices past the steps run
// set to zero), keeping in `saved` what backward needs when `recording`. Draws its buffers from
// `ws` only, so two directions with their own workspaces can run at once.
template <class T>
void sequence_forward(const Geometry& geo, const SequenceRun& run, const Tensor& x,
                      const Tensor& initial, const CellWeights& w, bool recording,
                      Saved<T>& saved, Workspace* ws, T* sv) {
  const CellSpec& spec = cell_spec(geo.kind);
  const std::size_t B = geo.batch, H = geo.hidden, GH = geo.gh, steps = geo.steps;
  const std::size_t rows = steps * B, slice = geo.state_slice();
  if (ws) saved.pool = ws->weak_from_this();
  // The input projection of every step run, as one product over time-major rows.
  const T* xv = x.value<T>().data();
  if (geo.batch_first) {
    saved.x_time_major = draw<T>(ws, {steps, B, geo.in});
    T* xtm = saved.x_time_major.data();
    for (std::size_t b = 0; b < B; ++b)
      for (std::size_t t = 0; t < steps; ++t)
        std::copy_n(xv + (b * geo.total + t) * geo.in, geo.in, xtm + (t * B + b) * geo.in);
    xv = xtm;
  }
  saved.gates = draw<T>(ws, {steps, B, GH});
  T* gates = saved.gates.data();
  const bool has_bias = fill_gate_bias<T>(geo.kind, w.b_ih, w.b_hh, rows, H, gates);
  const blas::How how{geo.precision};
  times_transposed<T>(rows, GH, geo.in, xv, geo.in, w.w_ih.value<T>().data(),
                      has_bias ? T(1) : T(0), gates, GH, how);
  const bool keep_h_prev = recording && w.w_hh.requires_grad();
  if (keep_h_prev) saved.h_prev = draw<T>(ws, {steps, B, H});
  if (geo.split) saved.hn = draw<T>(ws, recording ? Shape{steps, B, H} : Shape{B, H});
  xt::xarray<T> hh;  // GRU: h_{t-1} W_hh^T, kept apart from the gates
  if (geo.split) hh = draw<T>(ws, {B, GH});

  std::fill(sv + steps * slice, sv + geo.total * slice, T(0));
  const T* whh = w.w_hh.value<T>().data();
  // W_hh converted (bf16) and laid out for the step products once per forward, not per step.
  const T step_beta = geo.split ? T(0) : T(1);
  const auto whh_prepared = prepare_times_transposed<T>(B, GH, H, geo.width, whh, step_beta,
                                                        GH, geo.precision);
  const blas::How step_how{geo.precision, whh_prepared.get()};
  const T* init = initial.defined() ? initial.value<T>().data() : nullptr;
  const T* bhn =
      geo.split && w.b_hh.defined() ? w.b_hh.value<T>().data() + spec.split_offset(H) : nullptr;
  for (std::size_t i = 0; i < steps; ++i) {
    const std::size_t t = geo.time(i);
    T* hn = geo.split ? saved.hn.data() + (recording ? t * B * H : 0) : nullptr;
    CellRows<T> r = step_rows<T>(geo, saved, sv, init, i, hn, flags_at<T>(run, t));
    if (keep_h_prev) {
      T* dst = saved.h_prev.data() + t * B * H;
      if (r.h_prev)
        for (std::size_t b = 0; b < B; ++b) std::copy_n(r.h_prev + b * geo.width, H, dst + b * H);
      else
        std::fill_n(dst, B * H, T(0));
    }
    if (r.h_prev && geo.split) {
      times_transposed<T>(B, GH, H, r.h_prev, geo.width, whh, T(0), hh.data(), GH, step_how);
      r.hh = hh.data();
    } else if (r.h_prev) {
      times_transposed<T>(B, GH, H, r.h_prev, geo.width, whh, T(1), r.gates, GH, step_how);
    }
    r.b_hn = bhn;
    cell_forward(r);
  }
  if (ws && geo.split) ws->give_back(std::move(hh));
}

}  // namespace

Tensor cell_sequence(CellKind kind, const Tensor& x, const Tensor& initial,
                     const CellWeights& w, const SequenceRun& run, Workspace* ws) {
  std::vector<Tensor> inputs;
  const Geometry geo = sequence_geometry(kind, x, initial, w, run, inputs);
  const bool recording = any_requires_grad_in(inputs);
  return dispatch(x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    auto saved = std::make_shared<Saved<T>>();
    Tensor states = new_tensor<T>(ws, {geo.total, geo.batch, geo.width});
    sequence_forward<T>(geo, run, x, initial, w, recording, *saved, ws,
                        states.mutable_value<T>().data());
    if (!recording) return states;
    // The closure holds its inputs and plain data, never `states`: that arrives as `out`.
    record_fused<T>(cell_spec(kind).sequence_op, states, inputs,
              [geo, run, saved, x, initial, w](const xt::xarray<T>& g, const Tensor& out) {
                sequence_backward<T>(geo, run, *saved, x, initial, w, g.data(),
                                     out.impl().get<T>().value.data());
              });
    return states;
  });
}

Tensor cell_sequences_both_ways(CellKind kind, const Tensor& x, const BothWays<Tensor>& initial,
                                const BothWays<CellWeights>& w, const SequenceRun& run,
                                const BothWays<Workspace*>& ws) {
  const char* op = "rnn_both_ways";
  if (run.reverse) throw Error(fmt::format("{}: run.reverse set; the op runs both ways", op));
  if (initial.forward.defined() && initial.reverse.defined() &&
      &initial.forward.impl() == &initial.reverse.impl())
    throw Error(fmt::format("{}: one tensor as both directions' initial state", op));
  if (ws.forward && ws.forward == ws.reverse)
    throw Error(fmt::format("{}: one workspace for both directions", op));
  SequenceRun backwards = run;
  backwards.reverse = true;
  std::vector<Tensor> inputs, reverse_inputs;
  const Geometry geo = sequence_geometry(kind, x, initial.forward, w.forward, run, inputs);
  const Geometry back = sequence_geometry(kind, x, initial.reverse, w.reverse, backwards,
                                          reverse_inputs);
  inputs.insert(inputs.end(), reverse_inputs.begin() + 1, reverse_inputs.end());  // x once
  const bool recording = any_requires_grad_in(inputs);
  return dispatch(x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    auto saved = std::make_shared<Saved<T>>(), saved_back = std::make_shared<Saved<T>>();
    Tensor states = new_tensor<T>(ws.forward, {2, geo.total, geo.batch, geo.width});
    T* sv = states.mutable_value<T>().data();
    const std::size_t half = geo.total * geo.state_slice();
    {
      blas::SerialProducts one_thread_each;
      run_side_by_side(
          [&] { sequence_forward<T>(geo, run, x, initial.forward, w.forward, recording, *saved,
                                    ws.forward, sv); },
          [&] { sequence_forward<T>(back, backwards, x, initial.reverse, w.reverse, recording,
                                    *saved_back, ws.reverse, sv + half); });
    }
    if (!recording) return states;
    record_fused<T>(op, states, inputs,
                    [geo, back, run, backwards, saved, saved_back, x, initial, w, half](
                        const xt::xarray<T>& g, const Tensor& out) {
                      T* sv = out.impl().get<T>().value.data();
                      xt::xarray<T> dx_back;
                      {
                        blas::SerialProducts one_thread_each;
                        run_side_by_side(
                            [&] { sequence_backward<T>(geo, run, *saved, x, initial.forward,
                                                       w.forward, g.data(), sv); },
                            [&] { sequence_backward<T>(back, backwards, *saved_back, x,
                                                       initial.reverse, w.reverse,
                                                       g.data() + half, sv + half, &dx_back); });
                      }
                      if (x.requires_grad()) add_time_major_grad<T>(back, x, dx_back.data());
                      if (auto pool = saved_back->pool.lock()) pool->give_back(std::move(dx_back));
                    });
    return states;
  });
}

// ---- gather ------------------------------------------------------------------------------

Tensor gather_rows(const Shape& shape, const std::vector<GatherPiece>& pieces, Workspace* ws) {
  const char* op = "rnn_gather";
  if (pieces.empty()) throw Error("rnn_gather: no pieces");
  std::vector<Tensor> sources;
  for (const GatherPiece& pc : pieces) sources.push_back(pc.source);
  check_same_dtype(op, sources);
  const std::size_t total = element_count(shape);
  for (const GatherPiece& pc : pieces) {
    if (pc.rows == 0) continue;
    const std::size_t src_end = pc.source_offset + (pc.rows - 1) * pc.source_stride + pc.width;
    const std::size_t dst_end = pc.offset + (pc.rows - 1) * pc.stride + pc.width;
    if (src_end > pc.source.size() || dst_end > total || (pc.rows > 1 && pc.width > pc.stride))
      throw Error(fmt::format("rnn_gather: a piece of {} rows x {} reads {} of source {} and "
                              "writes {} of {}",
                              pc.rows, pc.width, src_end, shape_str(pc.source.shape()), dst_end,
                              shape_str(shape)));
    if (pc.active && pc.active->size() != pc.rows)
      throw Error(fmt::format("rnn_gather: {} flags for {} rows", pc.active->size(), pc.rows));
  }
  return dispatch(sources.front().dtype(), [&](auto tag) {
    using T = decltype(tag);
    Tensor result = new_tensor<T>(ws, shape);
    T* out = result.mutable_value<T>().data();
    std::fill_n(out, total, T(0));
    for (const GatherPiece& pc : pieces) {
      const T* src = pc.source.value<T>().data() + pc.source_offset;
      T* dst = out + pc.offset;
      for (std::size_t r = 0; r < pc.rows; ++r)
        if (!pc.active || (*pc.active)[r])
          std::copy_n(src + r * pc.source_stride, pc.width, dst + r * pc.stride);
    }
    if (any_requires_grad_in(sources))
      record_fused<T>(op, result, sources, [pieces](const xt::xarray<T>& g) {
        for (const GatherPiece& pc : pieces) {
          if (!pc.source.requires_grad()) continue;
          T* dsrc = grad_buffer_for_add<T>(pc.source) + pc.source_offset;
          const T* dout = g.data() + pc.offset;
          for (std::size_t r = 0; r < pc.rows; ++r) {
            if (pc.active && !(*pc.active)[r]) continue;
            T* d = dsrc + r * pc.source_stride;
            const T* gr = dout + r * pc.stride;
            for (std::size_t j = 0; j < pc.width; ++j) d[j] += gr[j];
          }
        }
      });
    return result;
  });
}

Tensor state_part(const Tensor& state, std::size_t begin, std::size_t width) {
  const Shape s = state.shape();
  if (s.size() != 2 || begin + width > s[1])
    throw Error(fmt::format("state_part: columns [{}, {}) of state {}", begin, begin + width,
                            shape_str(s)));
  return slice(state, 1, static_cast<long>(begin), static_cast<long>(begin + width));
}

}  // namespace tg::nn
