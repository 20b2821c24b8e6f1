// The plain RNN, tanh and ReLU: h' = act(W_ih x + b_ih + W_hh h + b_hh), one gate "h".
#include "nn/cells/lanes.hpp"

namespace tg::nn {

namespace {

using namespace lanes_detail;

template <class T, bool Relu>
void forward_row(const CellRow<T>& r) {
  lanes<T>(r.hidden, [&](std::size_t j, auto lane) {
    using V = typename decltype(lane)::type;
    const V x = load<V>(r.gates + j);
    store_lane(r.h + j, Relu ? relu<T>(x) : V(xsimd::tanh(x)));
  });
}

template <class T, bool Relu>
void backward_row(const CellRow<T>& r, const CellRowGrads<T>& g) {
  lanes<T>(r.hidden, [&](std::size_t j, auto lane) {
    using V = typename decltype(lane)::type;
    const V y = load<V>(r.h + j), d = load<V>(g.dh + j);
    store_lane(g.dgates + j, Relu ? relu_grad<T>(y, d) : V(d * (T(1) - y * y)));
  });
}

template <bool Relu>
Tensor step_ops(const Tensor& gx, const Tensor& gh, const Tensor&, std::size_t,
                const GateTap& tap) {
  return tapped(tap, 0, Relu ? relu(gx + gh) : tanh(gx + gh));
}

template <bool Relu>
CellSpec describe() {
  CellSpec s{};
  s.layer_name = "RNN";
  s.op_name = "rnn_cell";
  s.sequence_op = "rnn_sequence";
  s.label = Relu ? "relu" : "tanh";
  s.gate_count = 1;
  s.relu = Relu;
  s.gate_names = "h";
  s.rows_f32 = {forward_row<float, Relu>, backward_row<float, Relu>};
  s.rows_f64 = {forward_row<double, Relu>, backward_row<double, Relu>};
  s.step_ops = step_ops<Relu>;
  return s;
}

}  // namespace

template <>
const CellSpec& describe_cell<CellKind::RnnTanh>() {
  static const CellSpec spec = describe<false>();
  return spec;
}

template <>
const CellSpec& describe_cell<CellKind::RnnRelu>() {
  static const CellSpec spec = describe<true>();
  return spec;
}

}  // namespace tg::nn
