// nn::Embedding: initialisation, the padding row, and the lookup through tg::embedding.
#include "tapegrad/nn/embedding.hpp"

#include <algorithm>

#include <fmt/format.h>

#include "tapegrad/autograd/ops/shape.hpp"

namespace tg::nn {

Embedding::Embedding(std::size_t num_embeddings, std::size_t embedding_dim, long padding_idx,
                     Generator& gen)
    : num_embeddings_(num_embeddings), embedding_dim_(embedding_dim), padding_idx_(padding_idx) {
  if (num_embeddings == 0 || embedding_dim == 0)
    throw Error(fmt::format("Embedding: sizes must be positive, got num_embeddings={} embedding_dim={}",
                            num_embeddings, embedding_dim));
  if (padding_idx < -1 || padding_idx >= static_cast<long>(num_embeddings))
    throw Error(fmt::format("Embedding: padding_idx {} is outside [0, {}) (-1 for none)",
                            padding_idx, num_embeddings));
  Tensor table = Tensor::normal({num_embeddings, embedding_dim}, 0.0, 1.0, DType::Float32, gen);
  if (padding_idx >= 0) {
    float* row = table.mutable_value<float>().data() + static_cast<std::size_t>(padding_idx) * embedding_dim;
    std::fill(row, row + embedding_dim, 0.0f);
  }
  weight_ = register_parameter("weight", std::move(table));
}

Tensor Embedding::forward(const Indices& ids) { return embedding(weight_, ids, padding_idx_); }

Tensor Embedding::forward(const Tensor& input) {
  throw Error(fmt::format("Embedding: forward needs tg::Indices (token ids), not a Tensor{}",
                          input.defined() ? " of shape " + shape_str(input.shape()) : ""));
}

Shape Embedding::output_shape(const Shape& input_shape) const {
  Shape out = input_shape;
  out.push_back(embedding_dim_);
  return out;
}

}  // namespace tg::nn
