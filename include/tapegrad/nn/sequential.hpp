// nn::Sequential: children applied in order, named "0", "1", ... as in PyTorch, or by add(name, m).
#pragma once

#include <initializer_list>

#include "tapegrad/nn/module.hpp"

namespace tg::nn {

class Sequential : public Module {
 public:
  Sequential() = default;
  Sequential(std::initializer_list<std::shared_ptr<Module>> modules);

  // Appends a child named by its position (PyTorch's str(len(self))).
  template <class M>
  std::shared_ptr<M> add(std::shared_ptr<M> module) {
    return register_module(std::to_string(size()), std::move(module));
  }
  template <class M>
  std::shared_ptr<M> add(std::string name, std::shared_ptr<M> module) {
    return register_module(std::move(name), std::move(module));
  }

  std::size_t size() const { return children().size(); }
  // The i-th child (tg::Error when out of range).
  const std::shared_ptr<Module>& operator[](std::size_t i) const;

  std::string type_name() const override { return "Sequential"; }
  bool children_form_a_chain() const override { return true; }
  // Each child's forward(Tensor) on the previous one's output; a failing layer's error is
  // prefixed with its name and type.
  Tensor forward(const Tensor& input) override;
};

}  // namespace tg::nn
