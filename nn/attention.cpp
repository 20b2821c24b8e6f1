// nn::MultiheadAttention: projections, heads as a batch axis of the N-D matmul, masked softmax.
#include "tapegrad/nn/attention.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

#include <fmt/format.h>

#include "tapegrad/autograd/ops.hpp"

namespace tg::nn {

namespace {

// The masks of one call, broadcast against the scores [B, H, L, S]: `add` (the float masks'
// sum, in the graph) and `hide` (1 = hidden: a BoolMask's true or a float mask's -inf), each
// undefined when there is nothing to add or hide. Both keep axes of extent 1 where no mask
// varies along them, so that a causal mask costs L * S, not B * H * L * S.
struct CombinedMasks {
  Tensor add;
  Tensor hide;
};

CombinedMasks combine_masks(const AttentionArgs& args, std::size_t b, std::size_t h,
                            std::size_t l, std::size_t s, DType dtype) {
  const AttentionMask& kp = args.key_padding_mask;
  const AttentionMask& am = args.attn_mask;
  if (kp.defined() && kp.shape() != Shape{b, s})
    throw Error(fmt::format("MultiheadAttention: key_padding_mask {} must be [{},{}] (batch, keys)",
                            shape_str(kp.shape()), b, s));
  const bool per_head = am.defined() && am.shape().size() == 3;
  if (am.defined() && am.shape() != Shape{l, s} && am.shape() != Shape{b * h, l, s})
    throw Error(fmt::format("MultiheadAttention: attn_mask {} must be [{},{}] (queries, keys) or "
                            "[{},{},{}] (batch * num_heads, queries, keys)",
                            shape_str(am.shape()), l, s, b * h, l, s));
  // Each mask's place in [B, H, L, S].
  const Shape kp_shape{b, 1, 1, s};
  const Shape am_shape = per_head ? Shape{b, h, l, s} : Shape{1, 1, l, s};

  CombinedMasks out;
  std::vector<std::uint8_t> kp_hide, am_hide;
  auto take = [&](const AttentionMask& m, const char* name, const Shape& shape,
                  std::vector<std::uint8_t>& hide) {
    if (!m.defined()) return;
    if (m.is_bool()) {
      hide = m.bool_mask().values();
      return;
    }
    const std::vector<double> v = m.float_mask().to_vector();
    const bool zero_one = std::all_of(v.begin(), v.end(), [](double x) { return x == 0.0 || x == 1.0; });
    if (zero_one && std::find(v.begin(), v.end(), 1.0) != v.end())
      throw Error(fmt::format("MultiheadAttention: {} holds only 0 and 1; a float mask is added to "
                              "the scores (PyTorch), so write tg::BoolMask(mask) to hide where 1, "
                              "or use -inf", name));
    hide.resize(v.size());
    std::transform(v.begin(), v.end(), hide.begin(), [](double x) {
      return static_cast<std::uint8_t>(std::isinf(x) && x < 0);
    });
    const Tensor& f = m.float_mask();
    const Tensor term = reshape(f.dtype() == dtype ? f : f.to(dtype), shape);
    out.add = out.add.defined() ? out.add + term : term;
  };
  take(kp, "key_padding_mask", kp_shape, kp_hide);
  take(am, "attn_mask", am_shape, am_hide);
  const auto any = [](const std::vector<std::uint8_t>& v) {
    return std::find(v.begin(), v.end(), 1) != v.end();
  };
  const bool hide_kp = any(kp_hide), hide_am = any(am_hide);
  if (!hide_kp && !hide_am) return out;
  const std::size_t bb = hide_kp || (hide_am && per_head) ? b : 1;
  const std::size_t hh = hide_am && per_head ? h : 1;
  std::vector<double> m(bb * hh * l * s, 0.0);
  for (std::size_t i = 0; i < bb; ++i)
    for (std::size_t j = 0; j < hh; ++j)
      for (std::size_t q = 0; q < l; ++q)
        for (std::size_t k = 0; k < s; ++k) {
          const bool hidden_key = hide_kp && kp_hide[i * s + k];
          const bool hidden_pair =
              hide_am && am_hide[per_head ? ((i * h + j) * l + q) * s + k : q * s + k];
          m[((i * hh + j) * l + q) * s + k] = hidden_key || hidden_pair;
        }
  out.hide = Tensor::from_vector(m, {bb, hh, l, s}, dtype);
  return out;
}

// [B, T, E] -> [B, H, T, E/H]
Tensor split_heads(const Tensor& x, std::size_t heads) {
  const Shape s = x.shape();
  const long b = static_cast<long>(s[0]), t = static_cast<long>(s[1]);
  return transpose(reshape(x, {b, t, static_cast<long>(heads), -1}), {0, 2, 1, 3});
}

}  // namespace

MultiheadAttention::MultiheadAttention(const MultiheadAttentionOptions& options, Generator& gen)
    : options_(options), dropout_gen_(gen.next_u64()) {
  const std::size_t e = options.embed_dim(), h = options.num_heads();
  if (e == 0 || h == 0 || e % h != 0)
    throw Error(fmt::format("MultiheadAttention: embed_dim {} must be a positive multiple of "
                            "num_heads {}", e, h));
  if (!(options.dropout() >= 0.0 && options.dropout() < 1.0))
    throw Error(fmt::format("MultiheadAttention: dropout {} not in [0, 1)", options.dropout()));
  // PyTorch: xavier_uniform_ on in_proj_weight, zero biases, out_proj as a Linear.
  const double bound = std::sqrt(6.0 / static_cast<double>(e + 3 * e));
  in_proj_weight_ = register_parameter(
      "in_proj_weight", Tensor::uniform({3 * e, e}, -bound, bound, DType::Float32, gen));
  if (options.bias()) in_proj_bias_ = register_parameter("in_proj_bias", Tensor::zeros({3 * e}));
  out_proj_ = register_module("out_proj", std::make_shared<Linear>(e, e, options.bias(), gen));
  if (options.bias()) out_proj_->bias().mutable_value<float>().fill(0.0f);
}

AttentionOutput MultiheadAttention::forward(const Tensor& query, const Tensor& key,
                                            const Tensor& value, const AttentionArgs& args) {
  const AutocastGuard precision = precision_scope();
  const std::size_t e = options_.embed_dim(), h = options_.num_heads();
  for (const Tensor* t : {&query, &key, &value})
    if (t->dim() != 3 || t->shape()[2] != e)
      throw Error(fmt::format("MultiheadAttention: inputs must be 3-D with embed_dim {} last, got "
                              "query {} key {} value {}", e, shape_str(query.shape()),
                              shape_str(key.shape()), shape_str(value.shape())));
  // Work batch first: [B, T, E].
  auto batch_major = [&](const Tensor& t) {
    return options_.batch_first() ? t : transpose(t, {1, 0, 2});
  };
  const Tensor q_in = batch_major(query), k_in = batch_major(key), v_in = batch_major(value);
  const std::size_t b = q_in.shape()[0], l = q_in.shape()[1], s = k_in.shape()[1];
  if (k_in.shape() != Shape{b, s, e} || v_in.shape() != k_in.shape())
    throw Error(fmt::format("MultiheadAttention: key {} and value {} must agree with query {}",
                            shape_str(key.shape()), shape_str(value.shape()),
                            shape_str(query.shape())));

  const long el = static_cast<long>(e);
  auto project = [&](const Tensor& x, int part) {
    const Tensor w = slice(in_proj_weight_, 0, part * el, (part + 1) * el);
    const Tensor bias =
        in_proj_bias_.defined() ? slice(in_proj_bias_, 0, part * el, (part + 1) * el) : Tensor();
    return split_heads(linear(x, w, bias), h);
  };
  // Queries are scaled before the product, as PyTorch does.
  const double scale = 1.0 / std::sqrt(static_cast<double>(e / h));
  const Tensor q = project(q_in, 0) * scale, k = project(k_in, 1), v = project(v_in, 2);
  const Tensor scores = matmul(q, transpose(k, {0, 1, 3, 2}));  // [B, H, L, S]
  const CombinedMasks masks = combine_masks(args, b, h, l, s, scores.dtype());
  const Tensor masked_scores = masks.add.defined() ? scores + masks.add : scores;
  Tensor attn = masks.hide.defined() ? masked_softmax(masked_scores, masks.hide, -1)
                                     : softmax(masked_scores, -1);
  attn = dropout(attn, options_.dropout(), is_training(), dropout_gen_);
  const Tensor heads = matmul(attn, v);  // [B, H, L, E/H]
  Tensor out = out_proj_->forward(
      reshape(transpose(heads, {0, 2, 1, 3}), {static_cast<long>(b), static_cast<long>(l), el}));
  if (!options_.batch_first()) out = transpose(out, {1, 0, 2});
  AttentionOutput result{out, Tensor()};
  if (args.need_weights) result.weights = args.average_attn_weights ? mean(attn, {1}) : attn;
  return result;
}

Shape AttentionMask::shape() const {
  return hide_.defined() ? hide_.shape() : add_.defined() ? add_.shape() : Shape{};
}

Tensor generate_square_subsequent_mask(std::size_t size, DType dtype) {
  std::vector<double> m(size * size, 0.0);
  for (std::size_t i = 0; i < size; ++i)
    for (std::size_t j = i + 1; j < size; ++j) m[i * size + j] = -std::numeric_limits<double>::infinity();
  return Tensor::from_vector(m, {size, size}, dtype);
}

Tensor MultiheadAttention::forward(const Tensor& input) {
  AttentionArgs args;
  args.need_weights = false;
  return forward(input, input, input, args).output;
}

}  // namespace tg::nn
