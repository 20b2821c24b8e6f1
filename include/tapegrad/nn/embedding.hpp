// nn::Embedding: a [num_embeddings, embedding_dim] lookup table indexed by token ids.
#pragma once

#include "tapegrad/autograd/random.hpp"
#include "tapegrad/nn/module.hpp"
#include "tapegrad/nn/options.hpp"

namespace tg::nn {

// Embedding(EmbeddingOptions(1000, 64).padding_idx(0)).
class EmbeddingOptions {
 public:
  EmbeddingOptions(std::size_t num_embeddings, std::size_t embedding_dim)
      : num_embeddings_(num_embeddings), embedding_dim_(embedding_dim) {}
  TG_ARG(std::size_t, num_embeddings);
  TG_ARG(std::size_t, embedding_dim);
  TG_ARG(long, padding_idx) = -1;  // -1: none
};

class Embedding : public Module {
 public:
  explicit Embedding(const EmbeddingOptions& o, Generator& gen = default_generator())
      : Embedding(o.num_embeddings(), o.embedding_dim(), o.padding_idx(), gen) {}
  // weight drawn from N(0, 1) as PyTorch; the padding_idx row (if any, -1 = none) is zero and
  // receives no gradient.
  Embedding(std::size_t num_embeddings, std::size_t embedding_dim, long padding_idx = -1,
            Generator& gen = default_generator());

  std::string type_name() const override { return "Embedding"; }
  // ids of any shape -> ids.shape + [embedding_dim]
  Tensor forward(const Indices& ids);
  Tensor operator()(const Indices& ids) { return forward(ids); }
  // Throws: an embedding looks up integer ids (tg::Indices), not a Tensor.
  Tensor forward(const Tensor& input) override;
  Shape output_shape(const Shape& input_shape) const override;

  std::size_t num_embeddings() const { return num_embeddings_; }
  std::size_t embedding_dim() const { return embedding_dim_; }
  long padding_idx() const { return padding_idx_; }
  const Tensor& weight() const { return weight_; }

 private:
  std::size_t num_embeddings_;
  std::size_t embedding_dim_;
  long padding_idx_;
  Tensor weight_;
};

}  // namespace tg::nn
