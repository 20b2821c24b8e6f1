// The tapegrad side of tests/fixtures/op_fixtures_views.py: one expression per case name.
#include "op_parity_cases.hpp"

#include "tapegrad/autograd/ops.hpp"

namespace tg::testing {

namespace {

Tensor weighted_concat(const std::vector<Tensor>& pieces, int axis) {
  std::vector<Tensor> scaled;
  for (std::size_t i = 0; i < pieces.size(); ++i) scaled.push_back(pieces[i] * double(i + 1));
  return concat(scaled, axis);
}

}  // namespace

void add_view_parity_cases(std::map<std::string, ParityFunction>& cases) {
  using In = const std::vector<Tensor>&;
  auto es = [](const char* equation) { return [equation](In x) { return einsum(equation, x); }; };
  auto mm = [](In x) { return matmul(x[0], x[1]); };
  cases.insert({
      {"squeeze_all", [](In x) { return squeeze(x[0]); }},
      {"squeeze_axis_and_noop", [](In x) { return squeeze(squeeze(x[0], -2), 1); }},
      {"unsqueeze_last", [](In x) { return unsqueeze(x[0], -1); }},
      {"split_size", [](In x) { return weighted_concat(split(x[0], 2, 0), 0); }},
      {"split_sizes", [](In x) { return weighted_concat(split(x[0], std::vector<long>{1, 3, 2}, -1), -1); }},
      {"chunk_fewer", [](In x) { return weighted_concat(chunk(x[0], 4, 1), 1); }},
      {"chunk_even", [](In x) { return weighted_concat(chunk(x[0], 3, 0), 0); }},
      {"expand", [](In x) { return expand(x[0], {2, -1, 4}); }},
      {"repeat", [](In x) { return repeat(x[0], {2, 1, 3}); }},
      {"flip", [](In x) { return flip(x[0], {0, 2}); }},
      {"slice_step", [](In x) { return slice(x[0], 1, 1, 1000, 2); }},
      {"slice_step_negative_bounds", [](In x) { return slice(x[0], 0, -5, -1, 3); }},
      {"arange_fractional_step", [](In) { return arange(0.5, 3.7, 0.4, DType::Float64); }},
      {"arange_negative_step", [](In) { return arange(3, -2.5, -1.5, DType::Float64); }},
      {"arange_end", [](In) { return arange(5, DType::Float64); }},
      {"tril", [](In x) { return tril(x[0], 1); }},
      {"triu", [](In x) { return triu(x[0], -1); }},
      {"cumsum", [](In x) { return cumsum(x[0], 1); }},
      {"sin", [](In x) { return sin(x[0]); }},
      {"cos", [](In x) { return cos(x[0]); }},
      {"matmul_vector_vector", mm},
      {"matmul_vector_batched", mm},
      {"matmul_batched_vector", mm},
      {"einsum_matmul", es("ij,jk->ik")},
      {"einsum_attention", es("bhld,bhsd->bhls")},
      {"einsum_dot", es("i,i->")},
      {"einsum_outer", es("bi,bj->bij")},
      {"einsum_transpose", es("ij->ji")},
      {"einsum_sum", es("ij->")},
      {"einsum_implicit", es("bk,ka")},
      {"einsum_implicit_uppercase", es("Bi,ij")},
      {"einsum_three", es("ij,jk,kl->li")},
      {"einsum_broadcast", es("bik,bjk->bij")},
      {"einsum_batch_sum", es("bij,bjk->ik")},
  });
}

}  // namespace tg::testing
