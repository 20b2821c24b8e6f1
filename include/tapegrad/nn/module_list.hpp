// nn::ModuleList: child modules named "0", "1", ... (PyTorch's nn.ModuleList), for a parent's forward.
#pragma once

#include <memory>
#include <string>

#include "tapegrad/nn/module.hpp"

namespace tg::nn {

// Holds modules so that their parameters get PyTorch's names ("layers.0.linear1.weight"); the
// parent keeps typed pointers to call them (push_back returns one), as PyTorch code indexes a
// ModuleList.
class ModuleList : public Module {
 public:
  template <class M>
  std::shared_ptr<M> push_back(std::shared_ptr<M> module) {
    return register_module(std::to_string(size()), std::move(module));
  }
  std::size_t size() const { return children().size(); }
  // The i-th module (tg::Error when out of range).
  const std::shared_ptr<Module>& operator[](std::size_t i) const {
    if (i >= size())
      throw Error("ModuleList: index " + std::to_string(i) + " out of range for " +
                  std::to_string(size()) + " modules");
    return children()[i].second;
  }
  std::string type_name() const override { return "ModuleList"; }
};

}  // namespace tg::nn
