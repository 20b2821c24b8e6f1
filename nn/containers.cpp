// nn::ModuleList and nn::ModuleDict: lookups with errors that say what is there.
#include "tapegrad/nn/containers.hpp"

#include <fmt/format.h>

namespace tg::nn {

const std::shared_ptr<Module>& ModuleList::operator[](std::size_t i) const {
  if (i >= items_.size())
    throw Error(fmt::format("ModuleList: index {} out of range for {} modules", i, items_.size()));
  return items_[i];
}

void ModuleList::throw_wrong_type(std::size_t i) const {
  throw Error(fmt::format("ModuleList: module {} is a {}, not the type asked for", i, items_[i]->type_name()));
}

const std::shared_ptr<Module>& ModuleDict::operator[](const std::string& key) const {
  const auto it = index_.find(key);
  if (it == index_.end())
    throw Error(fmt::format("ModuleDict: no module '{}' (keys: {})", key, fmt::join(keys(), ", ")));
  return it->second;
}

std::vector<std::string> ModuleDict::keys() const {
  std::vector<std::string> out;
  for (const auto& [name, child] : children()) out.push_back(name);
  return out;
}

}  // namespace tg::nn
