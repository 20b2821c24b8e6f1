// nn::TransformerEncoderLayer / Decoder layers and stacks: PyTorch 1.13's modules, parameter names
// (self_attn.in_proj_weight, linear1.weight, norm1.bias, layers.0.*, norm.*) and forward.
#pragma once

#include <memory>
#include <vector>

#include "tapegrad/autograd/random.hpp"
#include "tapegrad/nn/attention.hpp"
#include "tapegrad/nn/dropout.hpp"
#include "tapegrad/nn/layer_norm.hpp"
#include "tapegrad/nn/linear.hpp"
#include "tapegrad/nn/module.hpp"
#include "tapegrad/nn/containers.hpp"
#include "tapegrad/nn/options.hpp"

namespace tg::nn {

// The feed-forward block's activation (PyTorch's activation="relu" / "gelu"; gelu is the exact,
// erf-based one).
enum class TransformerActivation { ReLU, GELU };

// One layer's options, PyTorch's arguments and defaults:
//   TransformerLayerOptions(512, 8).dim_feedforward(1024).batch_first(true).norm_first(true)
class TransformerLayerOptions {
 public:
  TransformerLayerOptions(std::size_t d_model, std::size_t nhead) : d_model_(d_model), nhead_(nhead) {}
  TG_ARG(std::size_t, d_model);
  TG_ARG(std::size_t, nhead);
  TG_ARG(std::size_t, dim_feedforward) = 2048;
  // After the attention and feed-forward blocks, inside the feed-forward block and on the
  // attention weights; in training mode only.
  TG_ARG(double, dropout) = 0.1;
  TG_ARG(TransformerActivation, activation) = TransformerActivation::ReLU;
  TG_ARG(double, layer_norm_eps) = 1e-5;
  TG_ARG(bool, batch_first) = false;  // [B, T, E] instead of [T, B, E]
  // Pre-LN (x + block(norm(x))) instead of post-LN (norm(x + block(x))).
  TG_ARG(bool, norm_first) = false;
};
using TransformerEncoderLayerOptions = TransformerLayerOptions;
using TransformerDecoderLayerOptions = TransformerLayerOptions;

// Self-attention then feed-forward, each with a residual connection and a LayerNorm. Children,
// in PyTorch's order: self_attn, linear1, dropout, linear2, norm1, norm2, dropout1, dropout2.
class TransformerEncoderLayer : public Module {
 public:
  explicit TransformerEncoderLayer(const TransformerLayerOptions& options,
                                   Generator& gen = default_generator());
  TransformerEncoderLayer(std::size_t d_model, std::size_t nhead, Generator& gen = default_generator())
      : TransformerEncoderLayer(TransformerLayerOptions(d_model, nhead), gen) {}

  std::string type_name() const override { return "TransformerEncoderLayer"; }
  // src [S, B, E] ([B, S, E] with batch_first) -> same shape. Masks as MultiheadAttention's:
  // src_mask [S, S] or [B * nhead, S, S], src_key_padding_mask [B, S]; a BoolMask hides, a float
  // mask is added.
  Tensor forward(const Tensor& src, const AttentionMask& src_mask,
                 const AttentionMask& src_key_padding_mask = {});
  Tensor operator()(const Tensor& src, const AttentionMask& src_mask,
                    const AttentionMask& src_key_padding_mask = {}) {
    return forward(src, src_mask, src_key_padding_mask);
  }
  Tensor forward(const Tensor& src) override { return forward(src, AttentionMask()); }
  using Module::operator();
  Shape output_shape(const Shape& input_shape) const override { return input_shape; }

  const TransformerLayerOptions& options() const { return options_; }
  MultiheadAttention& self_attn() { return *self_attn_; }

 private:
  TransformerLayerOptions options_;
  std::shared_ptr<MultiheadAttention> self_attn_;
  std::shared_ptr<Linear> linear1_, linear2_;
  std::shared_ptr<LayerNorm> norm1_, norm2_;
  std::shared_ptr<Dropout> dropout_, dropout1_, dropout2_;
};

// Self-attention, attention over the encoder's output (memory), then feed-forward. Children:
// self_attn, multihead_attn, linear1, dropout, linear2, norm1, norm2, norm3, dropout1..3.
class TransformerDecoderLayer : public Module {
 public:
  explicit TransformerDecoderLayer(const TransformerLayerOptions& options,
                                   Generator& gen = default_generator());
  TransformerDecoderLayer(std::size_t d_model, std::size_t nhead, Generator& gen = default_generator())
      : TransformerDecoderLayer(TransformerLayerOptions(d_model, nhead), gen) {}

  std::string type_name() const override { return "TransformerDecoderLayer"; }
  // tgt [T, B, E], memory [S, B, E] (batch first with batch_first) -> [T, B, E]. tgt_mask
  // [T, T] or [B * nhead, T, T], memory_mask [T, S] or [B * nhead, T, S], key padding masks
  // [B, T] and [B, S].
  Tensor forward(const Tensor& tgt, const Tensor& memory, const AttentionMask& tgt_mask = {},
                 const AttentionMask& memory_mask = {},
                 const AttentionMask& tgt_key_padding_mask = {},
                 const AttentionMask& memory_key_padding_mask = {});
  Tensor operator()(const Tensor& tgt, const Tensor& memory, const AttentionMask& tgt_mask = {},
                    const AttentionMask& memory_mask = {},
                    const AttentionMask& tgt_key_padding_mask = {},
                    const AttentionMask& memory_key_padding_mask = {}) {
    return forward(tgt, memory, tgt_mask, memory_mask, tgt_key_padding_mask,
                   memory_key_padding_mask);
  }
  Shape output_shape(const Shape& input_shape) const override { return input_shape; }

  const TransformerLayerOptions& options() const { return options_; }
  MultiheadAttention& self_attn() { return *self_attn_; }
  MultiheadAttention& multihead_attn() { return *multihead_attn_; }

 private:
  TransformerLayerOptions options_;
  std::shared_ptr<MultiheadAttention> self_attn_, multihead_attn_;
  std::shared_ptr<Linear> linear1_, linear2_;
  std::shared_ptr<LayerNorm> norm1_, norm2_, norm3_;
  std::shared_ptr<Dropout> dropout_, dropout1_, dropout2_, dropout3_;
};

// A stack of layers built from one layer's options (each with its own initial weights; PyTorch
// deep-copies one layer), named layers.0.*, layers.1.*, ..., and with norm(true) a final
// LayerNorm(d_model, layer_norm_eps) named norm.* (nn.Transformer passes one; pre-LN stacks
// want it).
class TransformerStackOptions {
 public:
  TransformerStackOptions(TransformerLayerOptions layer, std::size_t num_layers)
      : layer_(std::move(layer)), num_layers_(num_layers) {}
  TG_ARG(TransformerLayerOptions, layer);
  TG_ARG(std::size_t, num_layers);
  TG_ARG(bool, norm) = false;
};
using TransformerEncoderOptions = TransformerStackOptions;
using TransformerDecoderOptions = TransformerStackOptions;

class TransformerEncoder : public Module {
 public:
  explicit TransformerEncoder(const TransformerStackOptions& options,
                              Generator& gen = default_generator());
  TransformerEncoder(const TransformerLayerOptions& layer, std::size_t num_layers,
                     bool final_norm = false, Generator& gen = default_generator())
      : TransformerEncoder(TransformerStackOptions(layer, num_layers).norm(final_norm), gen) {}

  std::string type_name() const override { return "TransformerEncoder"; }
  // Every layer gets the same masks (TransformerEncoderLayer::forward).
  Tensor forward(const Tensor& src, const AttentionMask& mask,
                 const AttentionMask& src_key_padding_mask = {});
  Tensor operator()(const Tensor& src, const AttentionMask& mask,
                    const AttentionMask& src_key_padding_mask = {}) {
    return forward(src, mask, src_key_padding_mask);
  }
  Tensor forward(const Tensor& src) override { return forward(src, AttentionMask()); }
  using Module::operator();
  Shape output_shape(const Shape& input_shape) const override { return input_shape; }

  const TransformerStackOptions& options() const { return options_; }
  std::size_t size() const { return layers_.size(); }
  TransformerEncoderLayer& layer(std::size_t i) { return *layers_.at(i); }

 private:
  TransformerStackOptions options_;
  std::vector<std::shared_ptr<TransformerEncoderLayer>> layers_;
  std::shared_ptr<LayerNorm> norm_;  // null without options.norm()
};

class TransformerDecoder : public Module {
 public:
  explicit TransformerDecoder(const TransformerStackOptions& options,
                              Generator& gen = default_generator());
  TransformerDecoder(const TransformerLayerOptions& layer, std::size_t num_layers,
                     bool final_norm = false, Generator& gen = default_generator())
      : TransformerDecoder(TransformerStackOptions(layer, num_layers).norm(final_norm), gen) {}

  std::string type_name() const override { return "TransformerDecoder"; }
  // Every layer gets the same memory and masks (TransformerDecoderLayer::forward).
  Tensor forward(const Tensor& tgt, const Tensor& memory, const AttentionMask& tgt_mask = {},
                 const AttentionMask& memory_mask = {},
                 const AttentionMask& tgt_key_padding_mask = {},
                 const AttentionMask& memory_key_padding_mask = {});
  Tensor operator()(const Tensor& tgt, const Tensor& memory, const AttentionMask& tgt_mask = {},
                    const AttentionMask& memory_mask = {},
                    const AttentionMask& tgt_key_padding_mask = {},
                    const AttentionMask& memory_key_padding_mask = {}) {
    return forward(tgt, memory, tgt_mask, memory_mask, tgt_key_padding_mask,
                   memory_key_padding_mask);
  }
  Shape output_shape(const Shape& input_shape) const override { return input_shape; }

  const TransformerStackOptions& options() const { return options_; }
  std::size_t size() const { return layers_.size(); }
  TransformerDecoderLayer& layer(std::size_t i) { return *layers_.at(i); }

 private:
  TransformerStackOptions options_;
  std::vector<std::shared_ptr<TransformerDecoderLayer>> layers_;
  std::shared_ptr<LayerNorm> norm_;
};

}  // namespace tg::nn
