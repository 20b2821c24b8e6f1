// The GRU: gates r, z, n (PyTorch's order), n = tanh(W_in x + b_in + r * (W_hn h + b_hn)) with
// the n gate's hidden side kept apart, h' = (1 - z) n + z h.
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
    const V rg = sigmoid<T>(load<V>(gates + j) + load_or_zero<V>(r.hh, j));
    const V z = sigmoid<T>(load<V>(gates + H + j) + load_or_zero<V>(r.hh, H + j));
    const V hn = load_or_zero<V>(r.hh, 2 * H + j) + load_or_zero<V>(r.b_hn, j);
    const V n = xsimd::tanh(load<V>(gates + 2 * H + j) + rg * hn);
    const V hp = load_or_zero<V>(r.h_prev, j);
    store_lane(gates + j, rg);
    store_lane(gates + H + j, z);
    store_lane(gates + 2 * H + j, n);
    store_lane(r.hn + j, hn);
    store_lane(r.h + j, V(n + z * (hp - n)));
  });
}

template <class T>
void backward_row(const CellRow<T>& r, const CellRowGrads<T>& d) {
  const std::size_t H = r.hidden;
  const T* act = r.gates;
  lanes<T>(H, [&](std::size_t j, auto lane) {
    using V = typename decltype(lane)::type;
    const V rg = load<V>(act + j), z = load<V>(act + H + j), n = load<V>(act + 2 * H + j);
    const V dh = load<V>(d.dh + j);
    const V dn_pre = dh * (T(1) - z) * (T(1) - n * n);
    const V dr_pre = dn_pre * load<V>(r.hn + j) * rg * (T(1) - rg);
    const V dz_pre = dh * (load_or_zero<V>(r.h_prev, j) - n) * z * (T(1) - z);
    store_lane(d.dgates + j, dr_pre);
    store_lane(d.dgates + H + j, dz_pre);
    store_lane(d.dgates + 2 * H + j, dn_pre);
    store_lane(d.dhh + j, dr_pre);
    store_lane(d.dhh + H + j, dz_pre);
    store_lane(d.dhh + 2 * H + j, V(dn_pre * rg));
    if (d.dh_prev) store_lane(d.dh_prev + j, V(load<V>(d.dh_prev + j) + dh * z));
  });
}

Tensor step_ops(const Tensor& gx, const Tensor& gh, const Tensor& h, std::size_t H,
                const GateTap& tap) {
  const Tensor r = tapped(tap, 0, sigmoid(gate_part(gx, 0, H) + gate_part(gh, 0, H)));
  const Tensor z = tapped(tap, 1, sigmoid(gate_part(gx, 1, H) + gate_part(gh, 1, H)));
  const Tensor n = tapped(tap, 2, tanh(gate_part(gx, 2, H) + r * gate_part(gh, 2, H)));
  return (1.0 - z) * n + z * h;
}

}  // namespace

template <>
const CellSpec& describe_cell<CellKind::Gru>() {
  static const CellSpec spec = [] {
    CellSpec s{};
    s.layer_name = "GRU";
    s.op_name = "gru_cell";
    s.sequence_op = "gru_sequence";
    s.label = "gru";
    s.gate_count = 3;
    s.split_hidden_gate = true;
    s.gate_names = "r,z,n";
    s.rows_f32 = {forward_row<float>, backward_row<float>};
    s.rows_f64 = {forward_row<double>, backward_row<double>};
    s.step_ops = step_ops;
    return s;
  }();
  return spec;
}

}  // namespace tg::nn
