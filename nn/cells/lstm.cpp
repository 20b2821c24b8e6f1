// The LSTM: gates i, f, g, o (PyTorch's order); c' = f c + i g, h' = o tanh(c'); state h|c.
#include "nn/cells/lanes.hpp"

namespace tg::nn {

namespace {

using namespace lanes_detail;

template <class T>
void forward_row(const CellRow<T>& r) {
  const std::size_t H = r.hidden;
  T* gates = r.gates;
  lanes<T>(H, [&](std::size_t j, auto lane) {
    using V = typename decltype(lane)::type;
    const V i = sigmoid<T>(load<V>(gates + j));
    const V f = sigmoid<T>(load<V>(gates + H + j));
    const V g = xsimd::tanh(load<V>(gates + 2 * H + j));
    const V o = sigmoid<T>(load<V>(gates + 3 * H + j));
    const V cn = f * load_or_zero<V>(r.c_prev, j) + i * g;
    store_lane(gates + j, i);
    store_lane(gates + H + j, f);
    store_lane(gates + 2 * H + j, g);
    store_lane(gates + 3 * H + j, o);
    store_lane(r.c + j, cn);
    store_lane(r.h + j, V(o * xsimd::tanh(cn)));
  });
}

template <class T>
void backward_row(const CellRow<T>& r, const CellRowGrads<T>& d) {
  const std::size_t H = r.hidden;
  const T* act = r.gates;
  lanes<T>(H, [&](std::size_t j, auto lane) {
    using V = typename decltype(lane)::type;
    const V i = load<V>(act + j), f = load<V>(act + H + j);
    const V g = load<V>(act + 2 * H + j), o = load<V>(act + 3 * H + j);
    const V th = xsimd::tanh(load<V>(r.c + j));
    const V dh = load<V>(d.dh + j);
    const V dc = load<V>(d.dc + j) + dh * o * (T(1) - th * th);
    store_lane(d.dgates + j, V(dc * g * i * (T(1) - i)));
    store_lane(d.dgates + H + j, V(dc * load_or_zero<V>(r.c_prev, j) * f * (T(1) - f)));
    store_lane(d.dgates + 2 * H + j, V(dc * i * (T(1) - g * g)));
    store_lane(d.dgates + 3 * H + j, V(dh * th * o * (T(1) - o)));
    if (d.dc_prev) store_lane(d.dc_prev + j, V(load<V>(d.dc_prev + j) + dc * f));
  });
}

Tensor step_ops(const Tensor& gx, const Tensor& gh, const Tensor& state, std::size_t H,
                const GateTap& tap) {
  const Tensor s = gx + gh;
  const Tensor i = tapped(tap, 0, sigmoid(gate_part(s, 0, H)));
  const Tensor f = tapped(tap, 1, sigmoid(gate_part(s, 1, H)));
  const Tensor g = tapped(tap, 2, tanh(gate_part(s, 2, H)));
  const Tensor o = tapped(tap, 3, sigmoid(gate_part(s, 3, H)));
  const Tensor c = f * gate_part(state, 1, H) + i * g;
  return concat({o * tanh(c), c}, 1);
}

}  // namespace

template <>
const CellSpec& describe_cell<CellKind::Lstm>() {
  static const CellSpec spec = [] {
    CellSpec s{};
    s.layer_name = "LSTM";
    s.op_name = "lstm_cell";
    s.sequence_op = "lstm_sequence";
    s.label = "lstm";
    s.gate_count = 4;
    s.has_cell_state = true;
    s.gate_names = "i,f,g,o";
    s.rows_f32 = {forward_row<float>, backward_row<float>};
    s.rows_f64 = {forward_row<double>, backward_row<double>};
    s.step_ops = step_ops;
    return s;
  }();
  return spec;
}

}  // namespace tg::nn
