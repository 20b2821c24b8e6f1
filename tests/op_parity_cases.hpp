// The tapegrad side of the PyTorch op fixtures (tests/fixtures/op_fixtures.py): one function per
// case name, applied to the fixture's inputs by tests/test_op_parity.cpp.
#pragma once

#include <functional>
#include <map>
#include <string>
#include <vector>

#include "tapegrad/autograd/tensor.hpp"

namespace tg::testing {

using ParityFunction = std::function<Tensor(const std::vector<Tensor>&)>;

// Every case, by the name op_fixtures.py gives it.
const std::map<std::string, ParityFunction>& op_parity_cases();
// The cases of tests/fixtures/op_fixtures_views.py (tests/op_parity_cases_views.cpp).
void add_view_parity_cases(std::map<std::string, ParityFunction>& cases);

}  // namespace tg::testing
