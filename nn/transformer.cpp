// nn::Transformer{Encoder,Decoder}{Layer,}: construction in PyTorch's order and its forward.
#include "tapegrad/nn/transformer.hpp"

#include <fmt/format.h>

#include "tapegrad/autograd/ops/activations.hpp"
#include "tapegrad/autograd/ops/elementwise.hpp"

namespace tg::nn {

namespace {

void check_options(const char* layer, const TransformerLayerOptions& o) {
  if (o.d_model() == 0 || o.nhead() == 0 || o.d_model() % o.nhead() != 0)
    throw Error(fmt::format("{}: d_model {} must be a positive multiple of nhead {}", layer,
                            o.d_model(), o.nhead()));
  if (o.dim_feedforward() == 0) throw Error(fmt::format("{}: dim_feedforward must be positive", layer));
  if (!(o.dropout() >= 0.0 && o.dropout() < 1.0))
    throw Error(fmt::format("{}: dropout {} not in [0, 1)", layer, o.dropout()));
}

// A sequence input: 3-D with d_model last (MultiheadAttention checks how the others agree).
void check_sequence(const char* layer, const char* what, const Tensor& x,
                    const TransformerLayerOptions& o) {
  if (x.dim() != 3 || x.shape()[2] != o.d_model())
    throw Error(fmt::format("{}: {} must be {} with d_model {} last, got {}", layer, what,
                            o.batch_first() ? "[batch, time, d_model]" : "[time, batch, d_model]",
                            o.d_model(), shape_str(x.shape())));
}

MultiheadAttentionOptions attention_options(const TransformerLayerOptions& o) {
  return MultiheadAttentionOptions(o.d_model(), o.nhead()).dropout(o.dropout()).batch_first(o.batch_first());
}

// A Dropout seeded from `gen`, so that one generator makes a whole model reproducible.
std::shared_ptr<Dropout> seeded_dropout(double p, Generator& gen) {
  auto d = std::make_shared<Dropout>(p);
  d->manual_seed(gen.next_u64());
  return d;
}

Tensor activate(TransformerActivation a, const Tensor& x) {
  return a == TransformerActivation::GELU ? gelu(x) : relu(x);
}

AttentionArgs attention_args(const AttentionMask& mask, const AttentionMask& key_padding_mask) {
  AttentionArgs args;
  args.attn_mask = mask;
  args.key_padding_mask = key_padding_mask;
  args.need_weights = false;
  return args;
}

}  // namespace

TransformerEncoderLayer::TransformerEncoderLayer(const TransformerLayerOptions& options,
                                                 Generator& gen)
    : options_(options) {
  check_options("TransformerEncoderLayer", options);
  const std::size_t d = options.d_model(), ff = options.dim_feedforward();
  const LayerNormOptions norm = LayerNormOptions({d}).eps(options.layer_norm_eps());
  self_attn_ = register_module("self_attn", std::make_shared<MultiheadAttention>(attention_options(options), gen));
  linear1_ = register_module("linear1", std::make_shared<Linear>(d, ff, true, gen));
  dropout_ = register_module("dropout", seeded_dropout(options.dropout(), gen));
  linear2_ = register_module("linear2", std::make_shared<Linear>(ff, d, true, gen));
  norm1_ = register_module("norm1", std::make_shared<LayerNorm>(norm));
  norm2_ = register_module("norm2", std::make_shared<LayerNorm>(norm));
  dropout1_ = register_module("dropout1", seeded_dropout(options.dropout(), gen));
  dropout2_ = register_module("dropout2", seeded_dropout(options.dropout(), gen));
}

Tensor TransformerEncoderLayer::forward(const Tensor& src, const AttentionMask& src_mask,
                                        const AttentionMask& src_key_padding_mask) {
  const AutocastGuard precision = precision_scope();
  check_sequence("TransformerEncoderLayer", "src", src, options_);
  const AttentionArgs args = attention_args(src_mask, src_key_padding_mask);
  auto self_attention = [&](const Tensor& x) {
    return dropout1_->forward(self_attn_->forward(x, x, x, args).output);
  };
  auto feed_forward = [&](const Tensor& x) {
    return dropout2_->forward(
        linear2_->forward(dropout_->forward(activate(options_.activation(), linear1_->forward(x)))));
  };
  Tensor x = src;
  if (options_.norm_first()) {
    x = x + self_attention(norm1_->forward(x));
    return x + feed_forward(norm2_->forward(x));
  }
  x = norm1_->forward(x + self_attention(x));
  return norm2_->forward(x + feed_forward(x));
}

TransformerDecoderLayer::TransformerDecoderLayer(const TransformerLayerOptions& options,
                                                 Generator& gen)
    : options_(options) {
  check_options("TransformerDecoderLayer", options);
  const std::size_t d = options.d_model(), ff = options.dim_feedforward();
  const LayerNormOptions norm = LayerNormOptions({d}).eps(options.layer_norm_eps());
  self_attn_ = register_module("self_attn", std::make_shared<MultiheadAttention>(attention_options(options), gen));
  multihead_attn_ = register_module("multihead_attn", std::make_shared<MultiheadAttention>(attention_options(options), gen));
  linear1_ = register_module("linear1", std::make_shared<Linear>(d, ff, true, gen));
  dropout_ = register_module("dropout", seeded_dropout(options.dropout(), gen));
  linear2_ = register_module("linear2", std::make_shared<Linear>(ff, d, true, gen));
  norm1_ = register_module("norm1", std::make_shared<LayerNorm>(norm));
  norm2_ = register_module("norm2", std::make_shared<LayerNorm>(norm));
  norm3_ = register_module("norm3", std::make_shared<LayerNorm>(norm));
  dropout1_ = register_module("dropout1", seeded_dropout(options.dropout(), gen));
  dropout2_ = register_module("dropout2", seeded_dropout(options.dropout(), gen));
  dropout3_ = register_module("dropout3", seeded_dropout(options.dropout(), gen));
}

Tensor TransformerDecoderLayer::forward(const Tensor& tgt, const Tensor& memory,
                                        const AttentionMask& tgt_mask,
                                        const AttentionMask& memory_mask,
                                        const AttentionMask& tgt_key_padding_mask,
                                        const AttentionMask& memory_key_padding_mask) {
  const AutocastGuard precision = precision_scope();
  check_sequence("TransformerDecoderLayer", "tgt", tgt, options_);
  check_sequence("TransformerDecoderLayer", "memory", memory, options_);
  const AttentionArgs self_args = attention_args(tgt_mask, tgt_key_padding_mask);
  const AttentionArgs memory_args = attention_args(memory_mask, memory_key_padding_mask);
  auto self_attention = [&](const Tensor& x) {
    return dropout1_->forward(self_attn_->forward(x, x, x, self_args).output);
  };
  auto memory_attention = [&](const Tensor& x) {
    return dropout2_->forward(multihead_attn_->forward(x, memory, memory, memory_args).output);
  };
  auto feed_forward = [&](const Tensor& x) {
    return dropout3_->forward(
        linear2_->forward(dropout_->forward(activate(options_.activation(), linear1_->forward(x)))));
  };
  Tensor x = tgt;
  if (options_.norm_first()) {
    x = x + self_attention(norm1_->forward(x));
    x = x + memory_attention(norm2_->forward(x));
    return x + feed_forward(norm3_->forward(x));
  }
  x = norm1_->forward(x + self_attention(x));
  x = norm2_->forward(x + memory_attention(x));
  return norm3_->forward(x + feed_forward(x));
}

namespace {

template <class Layer>
std::vector<std::shared_ptr<Layer>> build_layers(const TransformerStackOptions& options,
                                                 ModuleList& list, Generator& gen) {
  std::vector<std::shared_ptr<Layer>> layers;
  for (std::size_t i = 0; i < options.num_layers(); ++i)
    layers.push_back(list.push_back(std::make_shared<Layer>(options.layer(), gen)));
  return layers;
}

std::shared_ptr<LayerNorm> final_norm(const TransformerStackOptions& options) {
  if (!options.norm()) return nullptr;
  return std::make_shared<LayerNorm>(
      LayerNormOptions({options.layer().d_model()}).eps(options.layer().layer_norm_eps()));
}

}  // namespace

TransformerEncoder::TransformerEncoder(const TransformerStackOptions& options, Generator& gen)
    : options_(options) {
  // Filled before it is registered, so that the layers' tensors carry their full names.
  auto list = std::make_shared<ModuleList>();
  layers_ = build_layers<TransformerEncoderLayer>(options, *list, gen);
  register_module("layers", list);
  if (auto norm = final_norm(options)) norm_ = register_module("norm", norm);
}

Tensor TransformerEncoder::forward(const Tensor& src, const AttentionMask& mask,
                                   const AttentionMask& src_key_padding_mask) {
  const AutocastGuard precision = precision_scope();
  Tensor x = src;
  for (const auto& layer : layers_) x = layer->forward(x, mask, src_key_padding_mask);
  return norm_ ? norm_->forward(x) : x;
}

TransformerDecoder::TransformerDecoder(const TransformerStackOptions& options, Generator& gen)
    : options_(options) {
  // Filled before it is registered, so that the layers' tensors carry their full names.
  auto list = std::make_shared<ModuleList>();
  layers_ = build_layers<TransformerDecoderLayer>(options, *list, gen);
  register_module("layers", list);
  if (auto norm = final_norm(options)) norm_ = register_module("norm", norm);
}

Tensor TransformerDecoder::forward(const Tensor& tgt, const Tensor& memory,
                                   const AttentionMask& tgt_mask, const AttentionMask& memory_mask,
                                   const AttentionMask& tgt_key_padding_mask,
                                   const AttentionMask& memory_key_padding_mask) {
  const AutocastGuard precision = precision_scope();
  Tensor x = tgt;
  for (const auto& layer : layers_)
    x = layer->forward(x, memory, tgt_mask, memory_mask, tgt_key_padding_mask,
                       memory_key_padding_mask);
  return norm_ ? norm_->forward(x) : x;
}

}  // namespace tg::nn
