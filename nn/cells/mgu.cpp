// The minimal gated unit (Zhou et al. 2016) in the GRU's form: gates f, n,
// n = tanh(W_in x + b_in + f * (W_hn h + b_hn)) with the n gate's hidden side kept apart,
// h' = (1 - f) h + f n.
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
    const V f = sigmoid<T>(load<V>(gates + j) + load_or_zero<V>(r.hh, j));
    const V hn = load_or_zero<V>(r.hh, H + j) + load_or_zero<V>(r.b_hn, j);
    const V n = xsimd::tanh(load<V>(gates + H + j) + f * hn);
    const V hp = load_or_zero<V>(r.h_prev, j);
    store_lane(gates + j, f);
    store_lane(gates + H + j, n);
    store_lane(r.hn + j, hn);
    store_lane(r.h + j, V(hp + f * (n - hp)));
  });
}

// dn_pre = dh f (1 - n^2); df = dh (n - h) + dn_pre hn, the second term through f * hn; the
// hidden side's n part is dn_pre f.
template <class T>
void backward_row(const CellRow<T>& r, const CellRowGrads<T>& d) {
  const std::size_t H = r.hidden;
  const T* act = r.gates;
  lanes<T>(H, [&](std::size_t j, auto lane) {
    using V = typename decltype(lane)::type;
    const V f = load<V>(act + j), n = load<V>(act + H + j);
    const V dh = load<V>(d.dh + j), hp = load_or_zero<V>(r.h_prev, j);
    const V dn_pre = dh * f * (T(1) - n * n);
    const V df_pre = (dh * (n - hp) + dn_pre * load<V>(r.hn + j)) * f * (T(1) - f);
    store_lane(d.dgates + j, df_pre);
    store_lane(d.dgates + H + j, dn_pre);
    store_lane(d.dhh + j, df_pre);
    store_lane(d.dhh + H + j, V(dn_pre * f));
    if (d.dh_prev) store_lane(d.dh_prev + j, V(load<V>(d.dh_prev + j) + dh * (T(1) - f)));
  });
}

Tensor step_ops(const Tensor& gx, const Tensor& gh, const Tensor& h, std::size_t H,
                const GateTap& tap) {
  const Tensor f = tapped(tap, 0, sigmoid(gate_part(gx, 0, H) + gate_part(gh, 0, H)));
  const Tensor n = tapped(tap, 1, tanh(gate_part(gx, 1, H) + f * gate_part(gh, 1, H)));
  return (1.0 - f) * h + f * n;
}

}  // namespace

template <>
const CellSpec& describe_cell<CellKind::Mgu>() {
  static const CellSpec spec = [] {
    CellSpec s{};
    s.layer_name = "MGU";
    s.op_name = "mgu_cell";
    s.sequence_op = "mgu_sequence";
    s.label = "mgu";
    s.gate_count = 2;
    s.split_hidden_gate = true;
    s.gate_names = "f,n";
    s.rows_f32 = {forward_row<float>, backward_row<float>};
    s.rows_f64 = {forward_row<double>, backward_row<double>};
    s.step_ops = step_ops;
    return s;
  }();
  return spec;
}

}  // namespace tg::nn
