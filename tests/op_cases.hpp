// The ops' gradcheck cases (tests/op_cases.cpp) and the recurrent ops' (tests/recurrent_cases.cpp).
#pragma once

#include <string>
#include <vector>

#include "tapegrad/autograd/gradcheck.hpp"
#include "tapegrad/autograd/ops/loss.hpp"

namespace tg::testing {

// cross_entropy / nll_loss options in one call, for the loss cases and fixtures.
inline CrossEntropyOptions ce_options(Reduction reduction, long ignore_index = -100,
                                      Tensor weight = Tensor(), double label_smoothing = 0.0) {
  CrossEntropyOptions o;
  o.reduction(reduction);
  o.ignore_index(ignore_index);
  o.weight(std::move(weight));
  o.label_smoothing(label_smoothing);
  return o;
}

// Every case of every op family.
const std::vector<GradcheckCase>& op_cases();
// The names of the ops that have cases.
std::vector<std::string> op_case_names();
// The convolution and pooling family's cases (tests/op_cases_conv.cpp).
void add_convolution_cases(std::vector<GradcheckCase>& cases);
// The cases of the view-like and index-pattern ops, sin / cos, einsum and 1-D matmul
// (tests/op_cases_views.cpp), appended to op_cases().
void add_view_cases(std::vector<GradcheckCase>& cases);
// The cases of tests/op_cases_loss.cpp (K-dim classification, binary and regression losses).
void add_more_loss_cases(std::vector<GradcheckCase>& cases);
// The recurrent ops' cases: cells alone, fused sequences, the row gather.
std::vector<GradcheckCase> recurrent_cases();

}  // namespace tg::testing
