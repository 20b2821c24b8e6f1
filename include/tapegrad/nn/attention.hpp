// nn::MultiheadAttention: PyTorch's layer, parameter names and layout (in_proj_weight,
// in_proj_bias, out_proj.weight, out_proj.bias), PyTorch's masks and head-averaged weights.
#pragma once

#include <memory>

#include "tapegrad/autograd/bool_mask.hpp"
#include "tapegrad/autograd/random.hpp"
#include "tapegrad/nn/linear.hpp"
#include "tapegrad/nn/module.hpp"
#include "tapegrad/nn/options.hpp"

namespace tg::nn {

// MultiheadAttentionOptions(64, 8).batch_first(true).dropout(0.1).
class MultiheadAttentionOptions {
 public:
  MultiheadAttentionOptions(std::size_t embed_dim, std::size_t num_heads)
      : embed_dim_(embed_dim), num_heads_(num_heads) {}
  TG_ARG(std::size_t, embed_dim);
  TG_ARG(std::size_t, num_heads);
  TG_ARG(double, dropout) = 0.0;  // on the attention weights, in training mode only
  TG_ARG(bool, bias) = true;
  TG_ARG(bool, batch_first) = false;  // [B, L, E] instead of [L, B, E]
};

// What forward() returns: the attended values and, with need_weights, the attention weights
// [B, L, S] averaged over heads (or [B, H, L, S] with average_attn_weights false), as PyTorch.
struct AttentionOutput {
  Tensor output;
  Tensor weights;  // undefined without need_weights
};

// A mask argument, as PyTorch 1.13's: a BoolMask hides the positions where it is true; a float
// Tensor is ADDED to the attention scores (0 keeps a position, -inf hides it, anything else is a
// bias, and it gets a gradient when it requires one). Undefined: no mask.
//
// A float mask holding only 0 and 1 (at least one 1) is refused: it is what tapegrad once took
// as "hide where 1", and reading it as a bias of +1 instead would change old code silently.
// Write tg::BoolMask(mask) to hide where it is 1, or put -inf where it is 1.
class AttentionMask {
 public:
  AttentionMask() = default;
  AttentionMask(BoolMask hide) : hide_(std::move(hide)) {}  // NOLINT: implicit on purpose
  AttentionMask(Tensor add) : add_(std::move(add)) {}       // NOLINT: implicit on purpose
  bool defined() const { return hide_.defined() || add_.defined(); }
  bool is_bool() const { return hide_.defined(); }
  const BoolMask& bool_mask() const { return hide_; }
  const Tensor& float_mask() const { return add_; }
  Shape shape() const;

 private:
  BoolMask hide_;
  Tensor add_;
};

struct AttentionArgs {
  // [B, S]: per batch element, hides keys (BoolMask, true = padding) or adds to their scores
  // (float), for every query and head.
  AttentionMask key_padding_mask;
  // [L, S] for every batch element and head, or [B * num_heads, L, S] (row b * num_heads + h),
  // e.g. a causal mask (generate_square_subsequent_mask).
  // A float mask of another dtype than the layer's is converted, and then gets no gradient; one
  // that should be learned must have the layer's dtype.
  AttentionMask attn_mask;
  bool need_weights = true;
  bool average_attn_weights = true;
};

// nn.Transformer.generate_square_subsequent_mask: [size, size], 0 on and below the diagonal and
// -inf above it (query i sees keys 0..i), a float mask for AttentionArgs::attn_mask.
Tensor generate_square_subsequent_mask(std::size_t size, DType dtype = DType::Float32);

// Masks combine as PyTorch's do: hidden where either BoolMask hides, plus both float masks. Two
// places differ from PyTorch 1.13, where its own behaviour is not the documented one: a float
// key_padding_mask is always added (1.13 reads it as a bool mask beside a bool attn_mask, and as
// masked_fill's 0/1 mask beside a float one), and a query whose keys are all hidden (true, or -inf) gets
// zero weights and a zero attention output (before out_proj) where PyTorch gives NaN
// (tg::masked_softmax), so fully padded rows do not poison a loss.
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
