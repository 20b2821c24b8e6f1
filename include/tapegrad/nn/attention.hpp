// nn::MultiheadAttention: PyTorch's layer, parameter names and layout (in_proj_weight,
// in_proj_bias, out_proj.weight, out_proj.bias), key padding mask and head-averaged weights.
#pragma once

#include <memory>

#include "tapegrad/autograd/random.hpp"
#include "tapegrad/nn/linear.hpp"
#include "tapegrad/nn/module.hpp"

namespace tg::nn {

// Chaining options: MultiheadAttentionOptions(64, 8).batch_first(true).dropout(0.1).
class MultiheadAttentionOptions {
 public:
  MultiheadAttentionOptions(std::size_t embed_dim, std::size_t num_heads)
      : embed_dim_(embed_dim), num_heads_(num_heads) {}
  MultiheadAttentionOptions& dropout(double v) { dropout_ = v; return *this; }
  MultiheadAttentionOptions& bias(bool v) { bias_ = v; return *this; }
  MultiheadAttentionOptions& batch_first(bool v) { batch_first_ = v; return *this; }
  std::size_t embed_dim() const { return embed_dim_; }
  std::size_t num_heads() const { return num_heads_; }
  double dropout() const { return dropout_; }
  bool bias() const { return bias_; }
  bool batch_first() const { return batch_first_; }

 private:
  std::size_t embed_dim_, num_heads_;
  double dropout_ = 0.0;  // on the attention weights, in training mode only
  bool bias_ = true;
  bool batch_first_ = false;  // [B, L, E] instead of [L, B, E]
};

// What forward() returns: the attended values and, with need_weights, the attention weights
// [B, L, S] averaged over heads (or [B, H, L, S] with average_attn_weights false), as PyTorch.
struct AttentionOutput {
  Tensor output;
  Tensor weights;  // undefined without need_weights
};

struct AttentionArgs {
  // [B, S]: a non-zero element hides that key from every query (PyTorch's bool mask, True =
  // ignore). Undefined: none.
  Tensor key_padding_mask;
  // [L, S]: a non-zero element hides key s from query l (e.g. a causal mask). Undefined: none.
  Tensor attn_mask;
  bool need_weights = true;
  bool average_attn_weights = true;
};

// Differs from PyTorch in one place: a query whose keys are all masked gets zero weights and a
// zero attention output (before out_proj), where PyTorch gives NaN (tg::masked_softmax).
class MultiheadAttention : public Module {
 public:
  explicit MultiheadAttention(const MultiheadAttentionOptions& options,
                              Generator& gen = default_generator());
  MultiheadAttention(std::size_t embed_dim, std::size_t num_heads, Generator& gen = default_generator())
      : MultiheadAttention(MultiheadAttentionOptions(embed_dim, num_heads), gen) {}

  std::string type_name() const override { return "MultiheadAttention"; }
  // query [L, B, E], key and value [S, B, E] ([B, L, E], [B, S, E] with batch_first).
  AttentionOutput forward(const Tensor& query, const Tensor& key, const Tensor& value,
                          const AttentionArgs& args = {});
  AttentionOutput operator()(const Tensor& query, const Tensor& key, const Tensor& value,
                             const AttentionArgs& args = {}) {
    return forward(query, key, value, args);
  }
  // Self-attention without masks (query = key = value), so that the layer fits a Sequential.
  Tensor forward(const Tensor& input) override;
  using Module::operator();
  Shape output_shape(const Shape& input_shape) const override { return input_shape; }

  const MultiheadAttentionOptions& options() const { return options_; }
  const Tensor& in_proj_weight() const { return in_proj_weight_; }  // [3E, E]: q, k, v rows
  const Tensor& in_proj_bias() const { return in_proj_bias_; }      // [3E] or undefined
  Linear& out_proj() { return *out_proj_; }
  // The dropout on attention weights draws from the layer's own generator; reseed to repeat.
  void manual_seed(std::uint64_t seed) { dropout_gen_.manual_seed(seed); }

 private:
  MultiheadAttentionOptions options_;
  Tensor in_proj_weight_;
  Tensor in_proj_bias_;
  std::shared_ptr<Linear> out_proj_;
  Generator dropout_gen_;
};

}  // namespace tg::nn
