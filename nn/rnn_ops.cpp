// The sequence ops (input projection, cell steps, row gather), forward and backward side by
// side, and the workspace that recycles their buffers between forwards.
#include "nn/rnn_ops.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <functional>
#include <numeric>
#include <variant>

#include "autograd/ops/shape.hpp"
#include "nn/rnn_detail.hpp"

namespace tg::nn {

using namespace detail;

namespace {

std::size_t element_count(const Shape& shape) {
  return std::accumulate(shape.begin(), shape.end(), std::size_t{1}, std::multiplies<>());
}

template <class T>
struct SequenceBuffers {
  xt::xarray<T> x_time_major;  // a batch-first input reordered time-major, for dW_ih
  xt::xarray<T> h_prev;        // [T, B, H]: h_{t-1} of every step, for dW_hh (zeros if not run)
  xt::xarray<T> dhh;           // GRU [T, B, 3H]: hidden-side gate gradients of every step
  xt::xarray<T> hn;            // GRU [T, B, H]: W_hn h_{t-1} + b_hn of every step
  xt::xarray<T> hh;            // GRU [B, 3H] scratch: h_{t-1} W_hh^T
  xt::xarray<T> scratch;       // [B, G*H] scratch: gates gradient that has nowhere else to go
  xt::xarray<T> scratch_dhh;   // GRU [B, 3H]
  xt::xarray<T> scratch_hn;    // GRU [B, H]

  template <class F>
  void for_each(F&& f) {
    for (xt::xarray<T>* a : {&x_time_major, &h_prev, &dhh, &hn, &hh, &scratch, &scratch_dhh,
                             &scratch_hn})
      f(*a);
  }
};

}  // namespace

struct Sequence {
  CellKind kind = CellKind::Lstm;
  std::size_t steps = 0, batch = 0, hidden = 0, gh = 0, in = 0;
  bool batch_first = false;
  bool recorded = false;     // the projection node is on the tape (the gates require grad)
  bool keep_h_prev = false;  // weight_hh requires grad: steps save h_{t-1}
  // Whether a step allocated the gates' gradient in this backward pass: then the steps own it and
  // write their slices directly, and the projection zeroes the slices of steps that did not run.
  bool owns_grad = false;
  // cell_steps ran steps [0, steps_run), in either direction. Their nodes share one output and
  // are recorded one after another, so in a backward pass they run all or none: `stepped` says
  // they did, i.e. that slices [0, steps_run) of the gate gradients are written.
  std::size_t steps_run = 0;
  bool stepped = false;
  Workspace* workspace = nullptr;  // only while the forward runs
  std::weak_ptr<Workspace> pool;   // gets the buffers back when the sequence's nodes are gone
  std::variant<SequenceBuffers<float>, SequenceBuffers<double>> buffers;

  Sequence() = default;
  Sequence(const Sequence&) = delete;
  Sequence& operator=(const Sequence&) = delete;
  ~Sequence() {
    if (auto ws = pool.lock())
      std::visit([&](auto& bf) { bf.for_each([&](auto& a) { ws->give_back(std::move(a)); }); },
                 buffers);
  }

  template <class T>
  SequenceBuffers<T>& get() { return std::get<SequenceBuffers<T>>(buffers); }

  // a with `shape`, kept if it has the size already, else from the workspace or new.
  template <class T>
  T* sized(xt::xarray<T>& a, const Shape& shape) {
    if (a.size() != element_count(shape))
      a = workspace ? workspace->array<T>(shape) : xt::xarray<T>::from_shape(shape);
    return a.data();
  }
};

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

// ---- input projection --------------------------------------------------------------------

Projection input_projection(CellKind kind, const Tensor& x, bool batch_first,
                            const Tensor& w_ih, const Tensor& w_hh, const Tensor& b_ih,
                            const Tensor& b_hh, Workspace* ws) {
  const char* op = "rnn_input_projection";
  if (!x.defined() || !w_ih.defined() || !w_hh.defined())
    throw Error(fmt::format("{}: undefined input or weight", op));
  const std::vector<Tensor> inputs = defined_of({x, w_ih, w_hh, b_ih, b_hh});
  check_same_dtype(op, inputs);
  const Dims d = check_weights(op, kind, w_ih, w_hh, b_ih, b_hh);
  const Shape sx = x.shape();
  if (sx.size() != 3 || sx[2] != d.in)
    throw Error(fmt::format("{}: input {} does not match weight_ih {} (expected [{}, {}])", op,
                            shape_str(sx), shape_str(w_ih.shape()),
                            batch_first ? "B, T" : "T, B", d.in));
  auto seq = std::make_shared<Sequence>();
  Sequence& s = *seq;
  s.kind = kind;
  s.steps = batch_first ? sx[1] : sx[0];
  s.batch = batch_first ? sx[0] : sx[1];
  s.hidden = d.hidden;
  s.gh = d.gh;
  s.in = d.in;
  s.batch_first = batch_first;
  s.workspace = ws;
  if (ws) s.pool = ws->weak_from_this();
  const std::size_t steps = s.steps, batch = s.batch, rows = steps * batch;

  return dispatch(x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    SequenceBuffers<T>& bf = s.buffers.template emplace<SequenceBuffers<T>>();
    const T* xv = x.value<T>().data();
    if (batch_first) {  // one product over time-major rows: reorder the input once
      T* xtm = s.sized(bf.x_time_major, {steps, batch, d.in});
      for (std::size_t b = 0; b < batch; ++b)
        for (std::size_t t = 0; t < steps; ++t)
          std::copy_n(xv + (b * steps + t) * d.in, d.in, xtm + (t * batch + b) * d.in);
      xv = xtm;
    }
    Tensor out = new_tensor<T>(ws, {steps, batch, d.gh});
    T* gates = out.value<T>().data();
    const bool has_bias = fill_gate_bias<T>(kind, b_ih, b_hh, rows, d.hidden, gates);
    times_transposed<T>(rows, d.gh, d.in, xv, d.in, w_ih.value<T>().data(),
                        has_bias ? T(1) : T(0), gates, d.gh);
    s.recorded = any_requires_grad_in(inputs);
    if (!s.recorded) return Projection{out, seq};
    s.keep_h_prev = w_hh.requires_grad();
    if (s.keep_h_prev) std::fill_n(s.sized(bf.h_prev, {steps, batch, d.hidden}), rows * d.hidden, T(0));
    if (kind == CellKind::Gru) s.sized(bf.dhh, {steps, batch, d.gh});
    record<T>(op, out, inputs, [seq, x, w_ih, w_hh, b_ih, b_hh](const xt::xarray<T>& g) {
      Sequence& s = *seq;
      SequenceBuffers<T>& bf = s.template get<T>();
      const std::size_t steps = s.steps, batch = s.batch, H = s.hidden, gh = s.gh, in = s.in;
      const std::size_t rows = steps * batch, slice = batch * gh;
      T* dg = const_cast<T*>(g.data());  // this node's own output gradient, finished with after
      for (std::size_t t = s.stepped ? s.steps_run : 0; t < steps; ++t) {  // slices not written
        if (s.owns_grad) std::fill_n(dg + t * slice, slice, T(0));
        if (s.kind == CellKind::Gru) std::fill_n(bf.dhh.data() + t * slice, slice, T(0));
      }
      s.stepped = false;
      s.owns_grad = false;

      const T* xv = s.batch_first ? bf.x_time_major.data() : x.value<T>().data();
      const T* wv = w_ih.value<T>().data();
      if (x.requires_grad() && !s.batch_first) {
        T beta;
        T* dx = grad_for_accumulation<T>(x, beta);
        times<T>(rows, in, gh, dg, gh, wv, beta, dx, in);
      } else if (x.requires_grad()) {  // time-major product, added back batch-first
        xt::xarray<T> tmp = xt::xarray<T>::from_shape({steps, batch, in});
        times<T>(rows, in, gh, dg, gh, wv, T(0), tmp.data(), in);
        T* dx = grad_buffer_for_add<T>(x);
        for (std::size_t t = 0; t < steps; ++t)
          for (std::size_t b = 0; b < batch; ++b) {
            const T* src = tmp.data() + (t * batch + b) * in;
            T* dst = dx + (b * steps + t) * in;
            for (std::size_t j = 0; j < in; ++j) dst[j] += src[j];
          }
      }
      if (w_ih.requires_grad()) add_weight_grad<T>(w_ih, gh, in, rows, dg, gh, xv, in);
      const T* dhidden = s.kind == CellKind::Gru ? bf.dhh.data() : dg;
      if (s.keep_h_prev) add_weight_grad<T>(w_hh, gh, H, rows, dhidden, gh, bf.h_prev.data(), H);
      add_bias_grads<T>(s.kind, b_ih, b_hh, dg, dhidden, rows, H);
    });
    return Projection{out, seq};
  });
}

// ---- cell steps --------------------------------------------------------------------------

namespace {

// The backward of step t: gradient of states slice t in, gate gradients to the projection,
// the previous state's gradient added into `prev` (at prev_offset).
template <class T>
void step_backward(const Projection& p, std::size_t t, const Tensor& prev,
                   std::size_t prev_offset, const Tensor& w_hh, const CellRows<T>& rows,
                   const T* g) {
  Sequence& s = *p.sequence;
  SequenceBuffers<T>& bf = s.template get<T>();
  const std::size_t batch = s.batch, H = s.hidden, gh = s.gh, width = state_width(s.kind, H);
  // The gate gradient goes straight into slice t of the projection's gradient when the steps
  // own it; else (no projection node, or a gradient from elsewhere) through scratch.
  T* gates_grad = nullptr;  // slice t of the projection's gradient, if the gates require grad
  bool direct = false;
  if (p.gates.requires_grad()) {
    T beta;
    gates_grad = grad_for_accumulation<T>(p.gates, beta) + t * batch * gh;
    if (beta == T(0)) s.owns_grad = true;  // this step allocated it
    direct = s.owns_grad;
  }
  T* dg = direct ? gates_grad : s.sized(bf.scratch, {batch, gh});
  T* dhh = dg;
  if (s.kind == CellKind::Gru)
    dhh = s.recorded ? bf.dhh.data() + t * batch * gh : s.sized(bf.scratch_dhh, {batch, gh});
  T* dprev = prev.requires_grad() ? grad_buffer_for_add<T>(prev) + prev_offset : nullptr;
  CellGrads<T> grads;
  grads.dh = g;
  grads.dc = s.kind == CellKind::Lstm ? g + H : nullptr;
  grads.ld_dout = width;
  grads.dgates = dg;
  grads.dhh = s.kind == CellKind::Gru ? dhh : nullptr;
  grads.dh_prev = dprev;
  grads.ld_dh_prev = width;
  grads.dc_prev = dprev && s.kind == CellKind::Lstm ? dprev + H : nullptr;
  grads.ld_dc_prev = width;
  cell_backward(rows, grads);
  if (dprev) times<T>(batch, H, gh, dhh, gh, w_hh.value<T>().data(), T(1), dprev, width);
  if (gates_grad && !direct)
    for (std::size_t j = 0; j < batch * gh; ++j) gates_grad[j] += dg[j];
  s.stepped = true;
}

}  // namespace

Tensor cell_steps(const Projection& p, const Tensor& initial, const Tensor& w_hh,
                  const Tensor& b_hh, bool reverse, std::size_t steps,
                  const std::vector<RowFlags>& active, Workspace* ws) {
  if (!p.sequence || !p.gates.defined()) throw Error("cell_steps: empty projection");
  Sequence& s = *p.sequence;
  const char* op = cell_op_name(s.kind);
  const std::size_t batch = s.batch, H = s.hidden, gh = s.gh, width = state_width(s.kind, H);
  if (steps > s.steps)
    throw Error(fmt::format("{}: {} steps of a sequence of {}", op, steps, s.steps));
  check_same_dtype(op, defined_of({p.gates, initial, w_hh, b_hh}));
  if (w_hh.shape() != Shape{gh, H})
    throw Error(fmt::format("{}: weight_hh {} does not match the projection's [{}, {}]", op,
                            shape_str(w_hh.shape()), gh, H));
  if (initial.defined() && initial.size() != batch * width)
    throw Error(fmt::format("{}: initial state {} does not hold [{}, {}]", op,
                            shape_str(initial.shape()), batch, width));
  if (b_hh.defined() && b_hh.shape() != Shape{gh})
    throw Error(fmt::format("{}: bias_hh {} is not [{}]", op, shape_str(b_hh.shape()), gh));
  for (const RowFlags& f : active)
    if (f && f->size() != batch)
      throw Error(fmt::format("{}: {} padding flags for a batch of {}", op, f->size(), batch));
  const bool record_steps = any_requires_grad(p.gates, w_hh, initial);

  return dispatch(p.gates.dtype(), [&](auto tag) {
    using T = decltype(tag);
    SequenceBuffers<T>& bf = s.template get<T>();
    Tensor states = new_tensor<T>(ws, {s.steps, batch, width});
    T* sv = states.value<T>().data();
    const std::size_t slice = batch * width;
    // Slices [steps, T) are not run (padding past every sequence's end), in either direction.
    std::fill(sv + steps * slice, sv + s.steps * slice, T(0));
    s.steps_run = steps;
    const T* whh = w_hh.value<T>().data();
    const T* bhn = s.kind == CellKind::Gru && b_hh.defined() ? b_hh.value<T>().data() + 2 * H
                                                              : nullptr;
    for (std::size_t i = 0; i < steps; ++i) {
      const std::size_t t = reverse ? steps - 1 - i : i;
      const std::size_t t_prev = reverse ? t + 1 : t - 1;  // meaningful for i > 0
      const Tensor& prev = i == 0 ? initial : states;
      const std::size_t prev_offset = i == 0 ? 0 : t_prev * slice;
      const T* hp = i == 0 ? (initial.defined() ? initial.value<T>().data() : nullptr)
                           : sv + prev_offset;
      T* gates = p.gates.value<T>().data() + t * batch * gh;
      if (s.keep_h_prev && hp) {
        T* dst = bf.h_prev.data() + t * batch * H;
        for (std::size_t b = 0; b < batch; ++b) std::copy_n(hp + b * width, H, dst + b * H);
      }
      T* hh = nullptr;
      if (hp && s.kind == CellKind::Gru) {
        hh = s.sized(bf.hh, {batch, gh});
        times_transposed<T>(batch, gh, H, hp, width, whh, T(0), hh, gh);
      } else if (hp) {
        times_transposed<T>(batch, gh, H, hp, width, whh, T(1), gates, gh);
      }
      T* hn = nullptr;
      if (s.kind == CellKind::Gru)
        hn = record_steps ? s.sized(bf.hn, {s.steps, batch, H}) + t * batch * H
                          : s.sized(bf.scratch_hn, {batch, H});
      CellRows<T> rows;
      rows.kind = s.kind;
      rows.rows = batch;
      rows.hidden = H;
      rows.gates = gates;
      rows.hh = hh;
      rows.b_hn = bhn;
      rows.hn = hn;
      rows.h_prev = hp;
      rows.ld_h_prev = width;
      rows.c_prev = hp && s.kind == CellKind::Lstm ? hp + H : nullptr;
      rows.ld_c_prev = width;
      rows.h = sv + t * slice;
      rows.c = s.kind == CellKind::Lstm ? rows.h + H : nullptr;
      rows.ld_out = width;
      const RowFlags flags = t < active.size() ? active[t] : nullptr;
      rows.active = flags ? flags->data() : nullptr;
      cell_forward(rows);
      if (!record_steps) continue;
      rows.hh = nullptr;  // scratch, not needed by backward
      // Captured: the tensors whose buffers `rows` points into (p, initial, flags); a later step
      // reads the states it writes, which reach the closure as its output, never as a capture.
      record<T>(op, states, defined_of({p.gates, prev, w_hh}),
                [p, t, first = i == 0, initial = i == 0 ? initial : Tensor(), prev_offset,
                 w_hh, rows, flags, slice](const xt::xarray<T>& g, const Tensor& states) {
                  step_backward<T>(p, t, first ? initial : states, prev_offset, w_hh, rows,
                                   g.data() + t * slice);
                });
    }
    s.workspace = nullptr;  // the forward is over; the workspace may go before the tape does
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
    T* out = result.value<T>().data();
    std::fill_n(out, total, T(0));
    for (const GatherPiece& pc : pieces) {
      const T* src = pc.source.value<T>().data() + pc.source_offset;
      T* dst = out + pc.offset;
      for (std::size_t r = 0; r < pc.rows; ++r)
        if (!pc.active || (*pc.active)[r])
          std::copy_n(src + r * pc.source_stride, pc.width, dst + r * pc.stride);
    }
    if (any_requires_grad_in(sources))
      record<T>(op, result, sources, [pieces](const xt::xarray<T>& g) {
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
