// nn::Sequential: construction from a list, indexing and the chained forward.
#include "tapegrad/nn/sequential.hpp"

#include <fmt/format.h>

namespace tg::nn {

Sequential::Sequential(std::initializer_list<std::shared_ptr<Module>> modules) {
  for (const auto& m : modules) add(m);
}

const std::shared_ptr<Module>& Sequential::operator[](std::size_t i) const {
  if (i >= size())
    throw Error(fmt::format("Sequential: index {} out of range for {} layers", i, size()));
  return children()[i].second;
}

Tensor Sequential::forward(const Tensor& input) {
  Tensor x = input;
  for (const auto& [name, child] : children()) {
    try {
      x = child->forward(x);
    } catch (const Error& e) {
      // The op's message alone does not say which of several alike layers failed.
      throw Error(fmt::format("Sequential: layer {} ({}): {}", name, child->type_name(), e.what()));
    }
  }
  return x;
}

}  // namespace tg::nn
