// nn::ModuleList and nn::ModuleDict: children held by position or by name, as PyTorch's.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "tapegrad/nn/module.hpp"

namespace tg::nn {

// Children named "0", "1", ... (so parameters are "layers.0.weight"); no forward of its own:
// the owner decides how the children are called.
class ModuleList : public Module {
 public:
  ModuleList() = default;
  ModuleList(std::initializer_list<std::shared_ptr<Module>> modules) {
    for (const auto& m : modules) push_back(m);
  }

  template <class M>
  std::shared_ptr<M> push_back(std::shared_ptr<M> module) {
    auto registered = register_module(std::to_string(items_.size()), std::move(module));
    items_.push_back(registered);
    return registered;
  }
  std::size_t size() const { return items_.size(); }
  bool empty() const { return items_.empty(); }
  // The i-th module (tg::Error when out of range); as<M>(i) casts it (tg::Error if it is not an M).
  const std::shared_ptr<Module>& operator[](std::size_t i) const;
  template <class M>
  std::shared_ptr<M> as(std::size_t i) const {
    auto typed = std::dynamic_pointer_cast<M>((*this)[i]);
    if (!typed) throw_wrong_type(i);
    return typed;
  }
  auto begin() const { return items_.begin(); }
  auto end() const { return items_.end(); }

 private:
  [[noreturn]] void throw_wrong_type(std::size_t i) const;
  std::vector<std::shared_ptr<Module>> items_;
};

// Children by name, in insertion order (named_parameters() follows it, as PyTorch's).
class ModuleDict : public Module {
 public:
  template <class M>
  std::shared_ptr<M> insert(const std::string& key, std::shared_ptr<M> module) {
    auto registered = register_module(key, std::move(module));
    index_[key] = registered;
    return registered;
  }
  std::size_t size() const { return index_.size(); }
  bool contains(const std::string& key) const { return index_.count(key) > 0; }
  // The module under key (tg::Error naming the key and the ones there are, when absent).
  const std::shared_ptr<Module>& operator[](const std::string& key) const;
  std::vector<std::string> keys() const;

 private:
  std::map<std::string, std::shared_ptr<Module>> index_;
};

}  // namespace tg::nn
