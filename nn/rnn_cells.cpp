// The fused cell op (forward and backward), the functional cells and the cell modules.
#include "tapegrad/nn/rnn_cells.hpp"

#include <fmt/format.h>

#include <cmath>

#include "nn/rnn_detail.hpp"
#include "nn/rnn_ops.hpp"

namespace tg::nn {

using namespace detail;

Tensor cell(CellKind kind, const Tensor& x, const Tensor& h, const Tensor& c,
            const Tensor& w_ih, const Tensor& w_hh, const Tensor& b_ih, const Tensor& b_hh) {
  const CellSpec& spec = cell_spec(kind);
  const char* op = spec.op_name;
  if (!x.defined() || !w_ih.defined() || !w_hh.defined())
    throw Error(fmt::format("{}: undefined input or weight", op));
  const std::vector<Tensor> inputs = defined_of({x, h, c, w_ih, w_hh, b_ih, b_hh});
  check_same_dtype(op, inputs);
  const Dims d = check_weights(op, kind, w_ih, w_hh, b_ih, b_hh);
  const Shape sx = x.shape();
  if (sx.size() != 2 || sx[1] != d.in)
    throw Error(fmt::format("{}: input {} does not match weight_ih {} (expected [B, {}])", op,
                            shape_str(sx), shape_str(w_ih.shape()), d.in));
  const std::size_t batch = sx[0], hidden = d.hidden, gh = d.gh;
  if (c.defined() && !spec.has_cell_state)
    throw Error(fmt::format("{}: only the LSTM has a cell state", op));
  for (const Tensor* s : {&h, &c})
    if (s->defined() && s->shape() != Shape{batch, hidden})
      throw Error(fmt::format("{}: state {} does not match input {} and hidden size {}", op,
                              shape_str(s->shape()), shape_str(sx), hidden));
  const std::size_t width = state_width(kind, hidden);

  return dispatch(x.dtype(), [&](auto s) {
    using T = decltype(s);
    xt::xarray<T> gates = xt::xarray<T>::from_shape({batch, gh});
    const blas::How how{matmul_precision()};  // the backward's products use it too
    const bool has_bias = fill_gate_bias<T>(kind, b_ih, b_hh, batch, hidden, gates.data());
    times_transposed<T>(batch, gh, d.in, x.value<T>().data(), d.in, w_ih.value<T>().data(),
                        has_bias ? T(1) : T(0), gates.data(), gh, how);
    xt::xarray<T> hh;
    const T* hp = h.defined() ? h.value<T>().data() : nullptr;
    if (hp && spec.split_hidden_gate) {
      hh = xt::xarray<T>::from_shape({batch, gh});
      times_transposed<T>(batch, gh, hidden, hp, hidden, w_hh.value<T>().data(), T(0), hh.data(),
                          gh, how);
    } else if (hp) {
      times_transposed<T>(batch, gh, hidden, hp, hidden, w_hh.value<T>().data(), T(1),
                          gates.data(), gh, how);
    }
    xt::xarray<T> out = xt::xarray<T>::from_shape({batch, width});
    xt::xarray<T> hn;
    if (spec.split_hidden_gate) hn = xt::xarray<T>::from_shape({batch, hidden});
    CellRows<T> rows;
    rows.kind = kind;
    rows.rows = batch;
    rows.hidden = hidden;
    rows.gates = gates.data();
    rows.hh = hp && spec.split_hidden_gate ? hh.data() : nullptr;
    rows.b_hn = spec.split_hidden_gate && b_hh.defined()
                    ? b_hh.value<T>().data() + spec.split_offset(hidden)
                    : nullptr;
    rows.hn = spec.split_hidden_gate ? hn.data() : nullptr;
    rows.h_prev = hp;
    rows.ld_h_prev = hidden;
    rows.c_prev = c.defined() ? c.value<T>().data() : nullptr;
    rows.ld_c_prev = hidden;
    rows.h = out.data();
    rows.c = spec.has_cell_state ? out.data() + hidden : nullptr;
    rows.ld_out = width;
    cell_forward(rows);
    rows.hh = nullptr;  // scratch, not needed by backward
    Tensor result(std::move(out));
    if (!any_requires_grad_in(inputs)) return result;
    // The saved activations move into the closure; their buffers (and rows' pointers) stay put.
    record_fused<T>(op, result, inputs,
              [kind, split = spec.split_hidden_gate, has_c = spec.has_cell_state, x, h, c, w_ih, w_hh, b_ih, b_hh, d, batch, rows, how, gates = std::move(gates),
               hn = std::move(hn)](const xt::xarray<T>& g) mutable {
                const std::size_t H = d.hidden, gh = d.gh, width = has_c ? 2 * H : H;
                xt::xarray<T> dg = xt::xarray<T>::from_shape({batch, gh});
                xt::xarray<T> dhh;
                if (split) dhh = xt::xarray<T>::from_shape({batch, gh});
                T* dh_prev = h.requires_grad() ? grad_buffer_for_add<T>(h) : nullptr;
                CellGrads<T> grads;
                grads.dh = g.data();
                grads.dc = has_c ? g.data() + H : nullptr;
                grads.ld_dout = width;
                grads.dgates = dg.data();
                grads.dhh = split ? dhh.data() : nullptr;
                grads.dh_prev = dh_prev;
                grads.ld_dh_prev = H;
                grads.dc_prev = c.requires_grad() ? grad_buffer_for_add<T>(c) : nullptr;
                grads.ld_dc_prev = H;
                cell_backward(rows, grads);
                const T* dhidden = split ? dhh.data() : dg.data();
                if (dh_prev)
                  times<T>(batch, H, gh, dhidden, gh, w_hh.value<T>().data(), T(1), dh_prev, H,
                           how);
                if (x.requires_grad()) {
                  T beta;
                  T* dx = grad_for_accumulation<T>(x, beta);
                  times<T>(batch, d.in, gh, dg.data(), gh, w_ih.value<T>().data(), beta, dx, d.in,
                           how);
                }
                if (w_ih.requires_grad())
                  add_weight_grad<T>(w_ih, gh, d.in, batch, dg.data(), gh, x.value<T>().data(),
                                     d.in, how);
                if (w_hh.requires_grad() && h.defined())
                  add_weight_grad<T>(w_hh, gh, H, batch, dhidden, gh, h.value<T>().data(), H, how);
                add_bias_grads<T>(kind, b_ih, b_hh, dg.data(), dhidden, batch, H);
              });
    return result;
  });
}

CellKind rnn_kind(Nonlinearity nonlinearity) {
  return nonlinearity == Nonlinearity::Relu ? CellKind::RnnRelu : CellKind::RnnTanh;
}

Tensor recurrent_init(const Shape& shape, std::size_t hidden_size, Generator& gen) {
  const double bound = 1.0 / std::sqrt(static_cast<double>(hidden_size));
  return Tensor::uniform(shape, -bound, bound, DType::Float32, gen);
}

Tensor rnn_cell(const Tensor& x, const Tensor& h, const Tensor& weight_ih,
                const Tensor& weight_hh, const Tensor& bias_ih, const Tensor& bias_hh,
                Nonlinearity nonlinearity) {
  return cell(rnn_kind(nonlinearity), x, h, Tensor(), weight_ih, weight_hh, bias_ih, bias_hh);
}

std::pair<Tensor, Tensor> lstm_cell(const Tensor& x, const Tensor& h, const Tensor& c,
                                    const Tensor& weight_ih, const Tensor& weight_hh,
                                    const Tensor& bias_ih, const Tensor& bias_hh) {
  const Tensor hc = cell(CellKind::Lstm, x, h, c, weight_ih, weight_hh, bias_ih, bias_hh);
  const std::size_t hidden = hc.size(1) / 2;
  return {state_part(hc, 0, hidden), state_part(hc, hidden, hidden)};
}

Tensor gru_cell(const Tensor& x, const Tensor& h, const Tensor& weight_ih,
                const Tensor& weight_hh, const Tensor& bias_ih, const Tensor& bias_hh) {
  return cell(CellKind::Gru, x, h, Tensor(), weight_ih, weight_hh, bias_ih, bias_hh);
}

RecurrentCell::RecurrentCell(CellKind kind, std::size_t input_size, std::size_t hidden_size,
                             bool bias, Generator& gen)
    : kind_(kind), input_size_(input_size), hidden_size_(hidden_size) {
  if (input_size == 0 || hidden_size == 0)
    throw Error(fmt::format("{}: input_size {} and hidden_size {} must be positive",
                            cell_op_name(kind), input_size, hidden_size));
  const std::size_t gh = gate_count(kind) * hidden_size;
  weight_ih_ = register_parameter("weight_ih", recurrent_init({gh, input_size}, hidden_size, gen));
  weight_hh_ = register_parameter("weight_hh", recurrent_init({gh, hidden_size}, hidden_size, gen));
  if (bias) {
    bias_ih_ = register_parameter("bias_ih", recurrent_init({gh}, hidden_size, gen));
    bias_hh_ = register_parameter("bias_hh", recurrent_init({gh}, hidden_size, gen));
  }
}

Shape RecurrentCell::output_shape(const Shape& input_shape) const {
  if (input_shape.size() != 2 || input_shape[1] != input_size_)
    throw Error(fmt::format("{}: input shape {} (expected [B, {}])", type_name(),
                            shape_str(input_shape), input_size_));
  return {input_shape[0], hidden_size_};
}

Tensor RecurrentCell::step(const Tensor& x, const Tensor& h, const Tensor& c) const {
  return cell(kind_, x, h, c, weight_ih_, weight_hh_, bias_ih_, bias_hh_);
}

RNNCell::RNNCell(std::size_t input_size, std::size_t hidden_size, bool bias,
                 Nonlinearity nonlinearity, Generator& gen)
    : RecurrentCell(rnn_kind(nonlinearity), input_size, hidden_size, bias, gen),
      nonlinearity_(nonlinearity) {}

Tensor RNNCell::forward(const Tensor& x, const Tensor& h) { return step(x, h, Tensor()); }

LSTMCell::LSTMCell(std::size_t input_size, std::size_t hidden_size, bool bias, Generator& gen)
    : RecurrentCell(CellKind::Lstm, input_size, hidden_size, bias, gen) {}

std::pair<Tensor, Tensor> LSTMCell::forward(const Tensor& x, const Tensor& h, const Tensor& c) {
  const Tensor hc = step(x, h, c);
  return {state_part(hc, 0, hidden_size()), state_part(hc, hidden_size(), hidden_size())};
}

GRUCell::GRUCell(std::size_t input_size, std::size_t hidden_size, bool bias, Generator& gen)
    : RecurrentCell(CellKind::Gru, input_size, hidden_size, bias, gen) {}

Tensor GRUCell::forward(const Tensor& x, const Tensor& h) { return step(x, h, Tensor()); }

Tensor FusedCell::forward(const Tensor& x) {
  const Tensor state = step(x, Tensor(), Tensor());
  return cell_spec(kind()).has_cell_state ? state_part(state, 0, hidden_size()) : state;
}

}  // namespace tg::nn
