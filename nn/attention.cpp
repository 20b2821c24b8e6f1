// nn::MultiheadAttention: projections, heads as a batch axis of the N-D matmul, masked softmax.
#include "tapegrad/nn/attention.hpp"

#include <cmath>

#include <fmt/format.h>

#include "tapegrad/autograd/ops.hpp"

namespace tg::nn {

namespace {

// Both masks as one [B, 1, L, S] tensor of 0 / 1 (1 = hidden), broadcast over the heads.
Tensor combined_mask(const AttentionArgs& args, std::size_t b, std::size_t l, std::size_t s,
                     DType dtype) {
  std::vector<double> kp, am;
  if (args.key_padding_mask.defined()) {
    if (args.key_padding_mask.shape() != Shape{b, s})
      throw Error(fmt::format("MultiheadAttention: key_padding_mask {} must be [{},{}] (batch, keys)",
                              shape_str(args.key_padding_mask.shape()), b, s));
    kp = args.key_padding_mask.to_vector();
  }
  if (args.attn_mask.defined()) {
    if (args.attn_mask.shape() != Shape{l, s})
      throw Error(fmt::format("MultiheadAttention: attn_mask {} must be [{},{}] (queries, keys)",
                              shape_str(args.attn_mask.shape()), l, s));
    am = args.attn_mask.to_vector();
  }
  std::vector<double> m(b * l * s, 0.0);
  for (std::size_t i = 0; i < b; ++i)
    for (std::size_t q = 0; q < l; ++q)
      for (std::size_t k = 0; k < s; ++k)
        m[(i * l + q) * s + k] =
            (!kp.empty() && kp[i * s + k] != 0.0) || (!am.empty() && am[q * s + k] != 0.0);
  return Tensor::from_vector(m, {b, 1, l, s}, dtype);
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
  Tensor attn = args.key_padding_mask.defined() || args.attn_mask.defined()
                    ? masked_softmax(scores, combined_mask(args, b, l, s, scores.dtype()), -1)
                    : softmax(scores, -1);
  attn = dropout(attn, options_.dropout(), is_training(), dropout_gen_);
  const Tensor heads = matmul(attn, v);  // [B, H, L, E/H]
  Tensor out = out_proj_->forward(
      reshape(transpose(heads, {0, 2, 1, 3}), {static_cast<long>(b), static_cast<long>(l), el}));
  if (!options_.batch_first()) out = transpose(out, {1, 0, 2});
  AttentionOutput result{out, Tensor()};
  if (args.need_weights) result.weights = args.average_attn_weights ? mean(attn, {1}) : attn;
  return result;
}

Tensor MultiheadAttention::forward(const Tensor& input) {
  AttentionArgs args;
  args.need_weights = false;
  return forward(input, input, input, args).output;
}

}  // namespace tg::nn
