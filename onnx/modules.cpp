// The module exporters of tapegrad/onnx/modules.hpp.
#include "tapegrad/onnx/modules.hpp"

#include <fmt/format.h>

#include <cmath>
#include <limits>

namespace tg::onnx {

namespace {

using Ints = std::vector<std::int64_t>;

std::int64_t as_int(std::size_t n) { return static_cast<std::int64_t>(n); }

// PyTorch's gate blocks in the order ONNX's operator wants them, or nothing for a kind ONNX has
// no operator for.
struct OnnxCell {
  const char* op = nullptr;                 // "RNN", "LSTM", "GRU"
  std::vector<std::size_t> gate_order;      // ONNX gate g is PyTorch's gate_order[g]
  const char* activation = nullptr;         // RNN only: "Tanh" / "Relu"
};

OnnxCell onnx_cell(nn::CellKind kind, const std::string& what) {
  switch (kind) {
    case nn::CellKind::RnnTanh: return {"RNN", {0}, "Tanh"};
    case nn::CellKind::RnnRelu: return {"RNN", {0}, "Relu"};
    case nn::CellKind::Lstm: return {"LSTM", {0, 3, 1, 2}, nullptr};  // i,f,g,o -> i,o,f,c
    case nn::CellKind::Gru: return {"GRU", {1, 0, 2}, nullptr};       // r,z,n -> z,r,h
    case nn::CellKind::Mgu: break;
  }
  throw Error(fmt::format("onnx export: {} ({}) is not supported: ONNX has no operator for its "
                          "cell (only RNN, LSTM and GRU)",
                          nn::cell_spec(kind).layer_name, what));
}

// Rows [G*H, cols] of `t` with its gate blocks reordered, appended to `out`; zeros when `t` is
// undefined (a layer without bias).
void append_reordered(std::vector<float>& out, const Tensor& t, const std::vector<std::size_t>& order,
                      std::size_t hidden, std::size_t cols) {
  if (!t.defined()) {
    out.insert(out.end(), order.size() * hidden * cols, 0.0f);
    return;
  }
  const std::vector<double> v = t.to_vector();
  if (v.size() != order.size() * hidden * cols)
    throw Error(fmt::format("onnx export: a recurrent weight of {} values, expected {} x {} x {}",
                            v.size(), order.size(), hidden, cols));
  for (std::size_t gate : order)
    for (std::size_t i = gate * hidden * cols; i < (gate + 1) * hidden * cols; ++i)
      out.push_back(static_cast<float>(v[i]));
}

struct DirectionWeights {
  const Tensor *w_ih, *w_hh, *b_ih, *b_hh;
};

// W [D, G*H, in], R [D, G*H, H], B [D, 2*G*H] of ONNX's recurrent operators.
std::vector<std::string> recurrent_initializers(Graph& g, const std::vector<DirectionWeights>& dirs,
                                                const OnnxCell& cell, std::size_t hidden,
                                                std::size_t input, const std::string& name) {
  std::vector<float> w, r, b;
  const std::size_t G = cell.gate_order.size();
  for (const DirectionWeights& d : dirs) {
    append_reordered(w, *d.w_ih, cell.gate_order, hidden, input);
    append_reordered(r, *d.w_hh, cell.gate_order, hidden, hidden);
    append_reordered(b, *d.b_ih, cell.gate_order, hidden, 1);
    append_reordered(b, *d.b_hh, cell.gate_order, hidden, 1);
  }
  const std::int64_t D = as_int(dirs.size()), GH = as_int(G * hidden);
  return {g.initializer(name + ".W", w, {D, GH, as_int(input)}),
          g.initializer(name + ".R", r, {D, GH, as_int(hidden)}),
          g.initializer(name + ".B", b, {D, 2 * GH})};
}

std::vector<Attribute> recurrent_attributes(const OnnxCell& cell, std::size_t hidden,
                                            std::size_t directions) {
  std::vector<Attribute> a{{"hidden_size", as_int(hidden)},
                           {"direction", directions == 2 ? "bidirectional" : "forward"}};
  if (cell.activation)
    a.emplace_back("activations", std::vector<std::string>(directions, cell.activation));
  if (std::string(cell.op) == "GRU") a.emplace_back("linear_before_reset", 1);  // PyTorch's GRU
  return a;
}

}  // namespace

std::string export_linear(Graph& g, const nn::Linear& linear, const std::string& x,
                          const std::string& name) {
  // y = x W^T + b: W^T is stored, so the product is one MatMul whatever the rank of x.
  const Shape shape = linear.weight().shape();
  const std::vector<double> w = linear.weight().to_vector();
  std::vector<float> wt(w.size());
  for (std::size_t o = 0; o < shape[0]; ++o)
    for (std::size_t i = 0; i < shape[1]; ++i) wt[i * shape[0] + o] = static_cast<float>(w[o * shape[1] + i]);
  std::string y =
      matmul(g, x, g.initializer(name + ".weight_t", wt, {as_int(shape[1]), as_int(shape[0])}));
  if (linear.bias().defined()) y = add(g, y, g.initializer(name + ".bias", linear.bias()));
  return y;
}

std::string export_embedding(Graph& g, const nn::Embedding& embedding, const std::string& ids,
                             const std::string& name) {
  return gather(g, g.initializer(name + ".weight", embedding.weight()), ids, 0);
}

std::string export_layer_norm(Graph& g, const nn::LayerNorm& norm, const std::string& x,
                              const std::string& name) {
  const Shape& shape = norm.options().normalized_shape();
  std::size_t n = 1;
  for (std::size_t d : shape) n *= d;
  const Ints dims(shape.begin(), shape.end());
  const std::string scale = norm.weight().defined()
                                ? g.initializer(name + ".weight", norm.weight())
                                : g.initializer(name + ".ones", std::vector<float>(n, 1.0f), dims);
  const std::string bias = norm.bias().defined()
                               ? g.initializer(name + ".bias", norm.bias())
                               : g.initializer(name + ".zeros", std::vector<float>(n, 0.0f), dims);
  return g.op("LayerNormalization", {x, scale, bias},
              {{"axis", -as_int(shape.size())}, {"epsilon", norm.options().eps()}});
}

RecurrentValues export_recurrent(Graph& g, const nn::RecurrentLayer& layer,
                                 const RecurrentInputs& in, const std::string& name) {
  const OnnxCell cell = onnx_cell(layer.kind(), fmt::format("'{}'", name));
  const nn::RecurrentOptions& o = layer.options();
  const std::size_t D = layer.num_directions(), H = o.hidden_size(), L = o.num_layers();
  const bool lstm = std::string(cell.op) == "LSTM";
  if (!lstm && !in.c0.empty())
    throw Error(fmt::format("onnx export: {} ('{}') has no cell state, but c0 was given",
                            layer.type_name(), name));
  std::string x = o.batch_first() ? transpose(g, in.x, {1, 0, 2}) : in.x;  // [T, B, in]
  const std::string lengths = in.lengths.empty() ? "" : cast(g, in.lengths, ElementType::Int32);
  std::vector<std::string> hs, cs;
  std::string top_h;
  for (std::size_t l = 0; l < L; ++l) {
    std::vector<DirectionWeights> dirs;
    for (std::size_t d = 0; d < D; ++d)
      dirs.push_back({&layer.weight_ih(l, d == 1), &layer.weight_hh(l, d == 1),
                      &layer.bias_ih(l, d == 1), &layer.bias_hh(l, d == 1)});
    const std::size_t input = l == 0 ? o.input_size() : D * H;
    const std::string lname = fmt::format("{}.l{}", name, l);
    const std::vector<std::string> wrb = recurrent_initializers(g, dirs, cell, H, input, lname);
    const auto rows = [&](const std::string& s) {  // layer l's rows [D, B, H] of a state
      return s.empty() ? std::string() : slice(g, s, 0, as_int(l * D), as_int((l + 1) * D));
    };
    std::vector<std::string> inputs{x, wrb[0], wrb[1], wrb[2], lengths, rows(in.h0)};
    if (lstm) inputs.push_back(rows(in.c0));
    while (!inputs.empty() && inputs.back().empty()) inputs.pop_back();  // trailing absent inputs
    const std::vector<std::string> out = g.node(cell.op, inputs, lstm ? 3 : 2,
                                                recurrent_attributes(cell, H, D), lname);
    // Y [T, D, B, H] -> [T, B, D*H], the next layer's input (dropout: identity in evaluation).
    x = reshape(g, transpose(g, out[0], {0, 2, 1, 3}), {0, 0, -1});
    hs.push_back(out[1]);
    if (lstm) cs.push_back(out[2]);
    top_h = out[1];
  }
  RecurrentValues v;
  v.output = o.batch_first() ? transpose(g, x, {1, 0, 2}) : x;
  // Each direction's final h of the top layer side by side: [D, B, H] -> [B, D*H].
  v.last = reshape(g, transpose(g, top_h, {1, 0, 2}), {0, -1});
  v.h = concat(g, hs, 0);
  if (lstm) v.c = concat(g, cs, 0);
  return v;
}

CellValues export_cell_step(Graph& g, const nn::RecurrentCell& rcell, const std::string& x,
                            const std::string& h, const std::string& c, const std::string& name) {
  const OnnxCell cell = onnx_cell(rcell.kind(), fmt::format("cell '{}'", name));
  const bool lstm = std::string(cell.op) == "LSTM";
  const std::size_t H = rcell.hidden_size();
  const std::size_t input = rcell.weight_ih().shape().at(1);
  const std::vector<std::string> wrb = recurrent_initializers(
      g, {{&rcell.weight_ih(), &rcell.weight_hh(), &rcell.bias_ih(), &rcell.bias_hh()}}, cell, H,
      input, name);
  // One step: [1, B, in] from [1, B, H].
  std::vector<std::string> inputs{unsqueeze(g, x, {0}), wrb[0], wrb[1], wrb[2], "",
                                  h.empty() ? "" : unsqueeze(g, h, {0})};
  if (lstm) inputs.push_back(c.empty() ? "" : unsqueeze(g, c, {0}));
  while (!inputs.empty() && inputs.back().empty()) inputs.pop_back();
  const std::vector<std::string> out =
      g.node(cell.op, inputs, lstm ? 3 : 2, recurrent_attributes(cell, H, 1), name);
  CellValues v;
  v.h = squeeze(g, out[1], {0});
  if (lstm) v.c = squeeze(g, out[2], {0});
  return v;
}

namespace {

// x time-major [T, B, F] and, with lengths, Where's condition [T, B, 1]: true at the steps past
// each sequence's length (the positions counted by CumSum over ones of x's shape [T, B, 1]).
struct StepsMask {
  std::string x, padded;
};
StepsMask steps_mask(Graph& g, const std::string& x, const std::string& lengths, bool batch_first) {
  StepsMask m{batch_first ? transpose(g, x, {1, 0, 2}) : x, ""};
  if (lengths.empty()) return m;
  const std::string ones =
      g.op("Expand", {g.scalar(1.0f, "one"), g.op("Shape", {slice(g, m.x, 2, 0, 1)})});
  const std::string position = g.op("CumSum", {ones, g.int64s({0}, "axis")});  // 1, 2, ... T
  const std::string length = unsqueeze(g, cast(g, lengths, ElementType::Float), {0, 2});
  m.padded = g.op("Greater", {position, length});
  return m;
}

}  // namespace

std::string export_max_over_steps(Graph& g, const std::string& x, const std::string& lengths,
                                  bool batch_first) {
  const StepsMask m = steps_mask(g, x, lengths, batch_first);
  const std::string kept =
      m.padded.empty()
          ? m.x
          : where(g, m.padded, g.scalar(-std::numeric_limits<float>::infinity(), "minus_inf"), m.x);
  return reduce_max(g, kept, {0}, false);
}

std::string export_mean_over_steps(Graph& g, const std::string& x, const std::string& lengths,
                                   bool batch_first) {
  const StepsMask m = steps_mask(g, x, lengths, batch_first);
  if (m.padded.empty()) return reduce_mean(g, m.x, {0}, false);
  const std::string total = reduce_sum(g, where(g, m.padded, g.scalar(0.0f), m.x), {0}, false);
  return div(g, total, unsqueeze(g, cast(g, lengths, ElementType::Float), {1}));
}

std::string export_attention(Graph& g, const nn::MultiheadAttention& attention,
                             const std::string& query, const std::string& key,
                             const std::string& value, const std::string& key_padding_mask,
                             const std::string& name) {
  const nn::MultiheadAttentionOptions& o = attention.options();
  const std::int64_t E = as_int(o.embed_dim()), heads = as_int(o.num_heads()), hd = E / heads;
  const auto batch_major = [&](const std::string& t) {
    return o.batch_first() ? t : transpose(g, t, {1, 0, 2});
  };
  const std::vector<double> w = attention.in_proj_weight().to_vector();
  const std::vector<double> b = attention.in_proj_bias().defined()
                                    ? attention.in_proj_bias().to_vector()
                                    : std::vector<double>();
  // part 0, 1, 2 (q, k, v): x W_part^T + b_part, then [B, N, E] -> [B, heads, N, hd].
  const auto project = [&](const std::string& x, std::size_t part, const char* label) {
    std::vector<float> wt(static_cast<std::size_t>(E * E));
    const std::size_t e = static_cast<std::size_t>(E);
    for (std::size_t r = 0; r < e; ++r)
      for (std::size_t i = 0; i < e; ++i)
        wt[i * e + r] = static_cast<float>(w[(part * e + r) * e + i]);
    std::string y = matmul(g, batch_major(x),
                           g.initializer(fmt::format("{}.{}_proj_t", name, label), wt, {E, E}));
    if (!b.empty()) {
      const std::vector<float> bias(b.begin() + static_cast<long>(part * e),
                                    b.begin() + static_cast<long>((part + 1) * e));
      y = add(g, y, g.initializer(fmt::format("{}.{}_bias", name, label), bias, {E}));
    }
    return transpose(g, reshape(g, y, {0, 0, heads, hd}), {0, 2, 1, 3});
  };
  // Queries scaled before the product, as PyTorch and tapegrad do.
  const std::string q = mul(g, project(query, 0, "q"),
                            g.scalar(static_cast<float>(1.0 / std::sqrt(double(hd))), "scale"));
  const std::string k = project(key, 1, "k"), v = project(value, 2, "v");
  std::string scores = matmul(g, q, transpose(g, k, {0, 1, 3, 2}));  // [B, heads, L, S]
  if (!key_padding_mask.empty())
    scores = where(g, unsqueeze(g, key_padding_mask, {1, 2}),
                   g.scalar(-std::numeric_limits<float>::infinity(), "minus_inf"), scores);
  const std::string weights = softmax(g, scores, -1);
  // [B, heads, L, hd] -> [B, L, E] -> out_proj.
  const std::string joined = reshape(g, transpose(g, matmul(g, weights, v), {0, 2, 1, 3}), {0, 0, E});
  nn::Linear& out_proj = const_cast<nn::MultiheadAttention&>(attention).out_proj();
  const std::string out = export_linear(g, out_proj, joined, name + ".out_proj");
  return o.batch_first() ? out : transpose(g, out, {1, 0, 2});
}

std::string export_module(Graph& g, const nn::Module& module, const std::string& x,
                          const std::string& name) {
  if (const auto* m = dynamic_cast<const nn::Sequential*>(&module)) {
    std::string y = x;
    for (const auto& [child_name, child] : m->children())
      y = export_module(g, *child, y, name.empty() ? child_name : name + "." + child_name);
    return y;
  }
  if (const auto* m = dynamic_cast<const nn::Linear*>(&module)) return export_linear(g, *m, x, name);
  if (const auto* m = dynamic_cast<const nn::Embedding*>(&module))
    return export_embedding(g, *m, x, name);
  if (const auto* m = dynamic_cast<const nn::LayerNorm*>(&module))
    return export_layer_norm(g, *m, x, name);
  if (const auto* m = dynamic_cast<const nn::RecurrentLayer*>(&module)) {
    const RecurrentValues v = export_recurrent(g, *m, {x, "", "", ""}, name);
    return m->options().return_sequences() ? v.output : v.last;
  }
  if (const auto* m = dynamic_cast<const nn::MultiheadAttention*>(&module))
    return export_attention(g, *m, x, x, x, "", name);
  if (dynamic_cast<const nn::Dropout*>(&module) || dynamic_cast<const nn::Identity*>(&module))
    return x;  // evaluation mode
  if (dynamic_cast<const nn::Tanh*>(&module)) return tanh(g, x);
  if (dynamic_cast<const nn::ReLU*>(&module)) return relu(g, x);
  if (dynamic_cast<const nn::Sigmoid*>(&module)) return sigmoid(g, x);
  throw Error(fmt::format("onnx export: {} ('{}') is not supported (exporters exist for Linear, "
                          "Embedding, LayerNorm, RNN, LSTM, GRU, MultiheadAttention, Dropout, "
                          "Identity, Tanh, ReLU, Sigmoid and Sequential)",
                          module.type_name(), name));
}

}  // namespace tg::onnx
