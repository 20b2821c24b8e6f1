// The registry of the library's op names: the list of ops that must have gradcheck cases.
//
// Why a registry: a hand-typed list of ops in a test lets a new op that is missing from both the
// list and the cases pass unnoticed. Here each op family defines its names as namespace-scope
// OpName constants, beside the ops that record under them; constructing one registers the name
// before main runs. The gradcheck test walks registered_ops() and fails for a name without cases,
// and fails for any op a case records on the tape under a name that is not registered.
#pragma once

#include <string>
#include <vector>

namespace tg {

// An op's name as recorded on the tape. Define it at namespace scope (static storage duration):
// the name is registered when the program starts. Converts to the const char* that record() and
// the argument checks take.
class OpName {
 public:
  explicit OpName(const char* name);
  operator const char*() const { return name_; }
  const char* c_str() const { return name_; }

 private:
  const char* name_;
};

// Every registered op name, sorted, each once.
std::vector<std::string> registered_ops();

}  // namespace tg
