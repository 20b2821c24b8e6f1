// The registry of op names: filled by OpName constructors during static initialisation.
#include "autograd/op_registry.hpp"

#include <algorithm>

namespace tg {

namespace {

// A function-local static: OpName constants of other translation units may be constructed
// before any namespace-scope object of this one.
std::vector<std::string>& names() {
  static std::vector<std::string> all;
  return all;
}

}  // namespace

OpName::OpName(const char* name) : name_(name) { names().emplace_back(name); }

std::vector<std::string> registered_ops() {
  std::vector<std::string> sorted = names();
  std::sort(sorted.begin(), sorted.end());
  sorted.erase(std::unique(sorted.begin(), sorted.end()), sorted.end());
  return sorted;
}

}  // namespace tg
