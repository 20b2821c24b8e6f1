// The op families' gradcheck case lists (each defined in its family's file, beside its ops).
#pragma once

#include <vector>

#include "tapegrad/autograd/gradcheck.hpp"

namespace tg {

void add_elementwise_cases(std::vector<GradcheckCase>& cases);
void add_reduction_cases(std::vector<GradcheckCase>& cases);
void add_linalg_cases(std::vector<GradcheckCase>& cases);
void add_shape_cases(std::vector<GradcheckCase>& cases);
void add_loss_cases(std::vector<GradcheckCase>& cases);
void add_activation_cases(std::vector<GradcheckCase>& cases);
void add_indexing_cases(std::vector<GradcheckCase>& cases);
void add_statistics_cases(std::vector<GradcheckCase>& cases);

// A new family adds its function above and one line here.
inline void add_op_family_cases(std::vector<GradcheckCase>& cases) {
  add_elementwise_cases(cases);
  add_reduction_cases(cases);
  add_linalg_cases(cases);
  add_shape_cases(cases);
  add_loss_cases(cases);
  add_activation_cases(cases);
  add_indexing_cases(cases);
  add_statistics_cases(cases);
}

}  // namespace tg
