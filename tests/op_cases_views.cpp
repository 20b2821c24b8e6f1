// Gradcheck cases of the view-like, index-pattern and trigonometric ops, einsum and the 1-D
// matmul rules (each case is also gradgradchecked). Ops built from others are filed under the
// op they record: expand under broadcast_to, split and chunk under slice, einsum under matmul,
// transpose or sum.
#include <utility>

#include "op_cases.hpp"
#include "tapegrad/autograd/ops.hpp"

namespace tg::testing {

namespace {

using In = const std::vector<Tensor>&;

// The pieces of a split joined again, each scaled by its position, so that a piece given
// another's gradient fails.
Tensor weighted_join(const std::vector<Tensor>& pieces, int axis) {
  std::vector<Tensor> scaled;
  for (std::size_t i = 0; i < pieces.size(); ++i) scaled.push_back(pieces[i] * double(i + 1));
  return concat(scaled, axis);
}

void add_squeeze_cases(std::vector<GradcheckCase>& cases) {
  cases.push_back({"squeeze", "all size-1 axes", {{1, 3, 1, 2}}, [](In in) { return squeeze(in[0]); }});
  cases.push_back({"squeeze", "one negative axis", {{2, 1, 3}}, [](In in) { return squeeze(in[0], -2); }});
  cases.push_back({"squeeze", "axis of extent 3 is kept", {{2, 3}}, [](In in) { return squeeze(in[0], 1); }});
  cases.push_back({"squeeze", "to a scalar", {{1, 1}}, [](In in) { return squeeze(in[0]); }});
  cases.push_back({"unsqueeze", "front", {{2, 3}}, [](In in) { return unsqueeze(in[0], 0); }});
  cases.push_back({"unsqueeze", "last, negative", {{2, 3}}, [](In in) { return unsqueeze(in[0], -1); }});
  cases.push_back({"unsqueeze", "scalar", {{}}, [](In in) { return unsqueeze(in[0], 0); }});
}

void add_view_op_cases(std::vector<GradcheckCase>& cases) {
  cases.push_back({"broadcast_to", "expand with -1 and a new axis", {{3, 1}},
                   [](In in) { return expand(in[0], {2, -1, 4}); }});
  cases.push_back({"broadcast_to", "expand a scalar", {{}}, [](In in) { return expand(in[0], {3}); }});
  cases.push_back({"repeat", "both axes", {{2, 3}}, [](In in) { return repeat(in[0], {2, 3}); }});
  cases.push_back({"repeat", "new leading axes", {{3}}, [](In in) { return repeat(in[0], {2, 1, 2}); }});
  cases.push_back({"repeat", "ones, 3-D", {{2, 1, 2}}, [](In in) { return repeat(in[0], {1, 3, 1}); }});
  cases.push_back({"flip", "one axis", {{3, 4}}, [](In in) { return flip(in[0], {1}); }});
  cases.push_back({"flip", "two axes of 3-D, negative", {{2, 3, 4}}, [](In in) { return flip(in[0], {-1, 0}); }});
  cases.push_back({"flip", "no axes", {{3}}, [](In in) { return flip(in[0], {}); }});
  cases.push_back({"slice", "split by size, last piece smaller", {{5, 2}},
                   [](In in) { return weighted_join(split(in[0], 2), 0); }});
  cases.push_back({"slice", "split by sizes, last axis", {{2, 6}},
                   [](In in) { return weighted_join(split(in[0], std::vector<long>{1, 3, 2}, -1), -1); }});
  cases.push_back({"slice", "chunk into fewer pieces", {{3, 6}},
                   [](In in) { return weighted_join(chunk(in[0], 4, 1), 1); }});
  cases.push_back({"slice", "step 2", {{7, 2}}, [](In in) { return slice(in[0], 0, 0, 7, 2); }});
  cases.push_back({"slice", "step 3, negative start, middle axis", {{2, 8, 2}},
                   [](In in) { return slice(in[0], 1, -7, 100, 3); }});
  cases.push_back({"slice", "step past the extent", {{2, 4}}, [](In in) { return slice(in[0], 1, 1, 4, 5); }});
}

void add_index_pattern_cases(std::vector<GradcheckCase>& cases) {
  for (auto [name, op] : {std::pair{"tril", &tril}, {"triu", &triu}}) {
    auto f = [op = op](long diagonal) { return [op, diagonal](In in) { return op(in[0], diagonal); }; };
    cases.push_back({name, "square", {{4, 4}}, f(0)});
    cases.push_back({name, "wide, diagonal 1", {{3, 5}}, f(1)});
    cases.push_back({name, "batched tall, diagonal -1", {{2, 4, 3}}, f(-1)});
  }
  auto cs = [](int axis) { return [axis](In in) { return cumsum(in[0], axis); }; };
  cases.push_back({"cumsum", "1-D", {{5}}, cs(0)});
  cases.push_back({"cumsum", "last axis", {{3, 4}}, cs(-1)});
  cases.push_back({"cumsum", "middle axis of 3-D", {{2, 3, 2}}, cs(1)});
  cases.push_back({"cumsum", "scalar", {{}}, cs(0)});
  cases.push_back({"sin", "matrix", {{3, 4}}, [](In in) { return sin(in[0]); }});
  cases.push_back({"sin", "wide range", {{7}}, [](In in) { return sin(in[0] * 4.0); }});
  cases.push_back({"cos", "matrix", {{3, 4}}, [](In in) { return cos(in[0]); }});
  cases.push_back({"cos", "wide range", {{7}}, [](In in) { return cos(in[0] * 4.0); }});
}

void add_contraction_cases(std::vector<GradcheckCase>& cases) {
  auto mm = [](In in) { return matmul(in[0], in[1]); };
  cases.push_back({"matmul", "1-D x 1-D", {{4}, {4}}, mm});
  cases.push_back({"matmul", "1-D x 2-D", {{3}, {3, 5}}, mm});
  cases.push_back({"matmul", "1-D x batched 3-D", {{3}, {2, 3, 4}}, mm});
  cases.push_back({"matmul", "2-D x 1-D", {{4, 3}, {3}}, mm});
  cases.push_back({"matmul", "batched 4-D x 1-D", {{2, 2, 3, 4}, {4}}, mm});
  auto es = [](const char* equation) {
    return [equation](In in) { return einsum(equation, in); };
  };
  cases.push_back({"matmul", "einsum ij,jk->ik", {{3, 4}, {4, 2}}, es("ij,jk->ik")});
  cases.push_back({"matmul", "einsum bij,bjk->bik", {{2, 3, 4}, {2, 4, 2}}, es("bij,bjk->bik")});
  cases.push_back({"matmul", "einsum bhld,bhsd->bhls", {{2, 2, 3, 4}, {2, 2, 5, 4}}, es("bhld,bhsd->bhls")});
  cases.push_back({"matmul", "einsum i,i->", {{5}, {5}}, es("i,i->")});
  cases.push_back({"matmul", "einsum bi,bj->bij (outer)", {{2, 3}, {2, 4}}, es("bi,bj->bij")});
  cases.push_back({"matmul", "einsum implicit output ij,jk", {{3, 4}, {4, 2}}, es("ij,jk")});
  cases.push_back({"matmul", "einsum three operands, summed letter", {{2, 3}, {3, 4}, {4, 5}}, es("ij,jk,kl->li")});
  cases.push_back({"matmul", "einsum size-1 broadcast", {{2, 1, 4}, {2, 3, 4}}, es("bik,bjk->bij")});
  cases.push_back({"transpose", "einsum ij->ji", {{3, 4}}, es("ij->ji")});
  cases.push_back({"sum", "einsum ij->", {{3, 4}}, es("ij->")});
  cases.push_back({"sum", "einsum ijk->j", {{2, 3, 4}}, es("ijk->j")});
}

}  // namespace

void add_view_cases(std::vector<GradcheckCase>& cases) {
  add_squeeze_cases(cases);
  add_view_op_cases(cases);
  add_index_pattern_cases(cases);
  add_contraction_cases(cases);
}

}  // namespace tg::testing
