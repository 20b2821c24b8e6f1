// einsum as other ops: each operand's own letters summed out, then operands contracted pairwise
// left to right, a pair as one (batched) matmul of [batch, kept of A, shared] x [batch, shared,
// kept of B], then the output's permutation. It records only those ops, so its gradient and
// gradient of gradient are theirs (it has no op name of its own).
#include "tapegrad/autograd/ops/einsum.hpp"

#include <algorithm>
#include <map>

#include "tapegrad/autograd/function.hpp"
#include "tapegrad/autograd/ops/linalg.hpp"
#include "tapegrad/autograd/ops/reduction.hpp"
#include "tapegrad/autograd/ops/shape.hpp"

namespace tg {

namespace {

// A tensor with one letter per axis.
struct Labelled {
  Tensor t;
  std::string letters;
};

bool has(const std::string& s, char c) { return s.find(c) != std::string::npos; }

// t under `shape`, without a copy when it has that shape already.
Tensor reshaped(const Tensor& t, const std::vector<long>& shape) {
  const Shape st = t.shape();
  if (std::equal(st.begin(), st.end(), shape.begin(), shape.end(),
                 [](std::size_t a, long b) { return static_cast<long>(a) == b; }))
    return t;
  return reshape(t, shape);
}

// t's axes put in the order of `to` (a permutation of t's letters); t itself if already so.
Labelled permute_to(const Labelled& x, const std::string& to) {
  if (x.letters == to) return x;
  std::vector<std::size_t> perm;
  for (char c : to) perm.push_back(x.letters.find(c));
  return {transpose(x.t, perm), to};
}

// x summed over the letters `keep` does not contain.
Labelled sum_out(const Labelled& x, const std::string& keep) {
  std::vector<int> axes;
  std::string kept;
  for (std::size_t i = 0; i < x.letters.size(); ++i) {
    if (has(keep, x.letters[i]))
      kept.push_back(x.letters[i]);
    else
      axes.push_back(static_cast<int>(i));
  }
  if (axes.empty()) return x;
  return {sum(x.t, axes), kept};
}

// a and b (each already summed over letters the other and `keep` lack) multiplied and summed
// over the letters they share that `keep` lacks.
Labelled contract(const Labelled& a, const Labelled& b, const std::string& keep,
                  const std::map<char, long>& extent) {
  std::string batch, only_a, only_b, shared;
  for (char c : a.letters) {
    if (!has(b.letters, c))
      only_a.push_back(c);
    else if (has(keep, c))
      batch.push_back(c);
    else
      shared.push_back(c);
  }
  for (char c : b.letters)
    if (!has(a.letters, c)) only_b.push_back(c);
  auto size = [&](const std::string& letters) {
    long n = 1;
    for (char c : letters) n *= extent.at(c);
    return n;
  };
  const long nb = size(batch), m = size(only_a), k = size(shared), n = size(only_b);
  const Tensor pa = permute_to(a, batch + only_a + shared).t;
  const Tensor pb = permute_to(b, batch + shared + only_b).t;
  const bool batched = !batch.empty();
  const Tensor product =
      batched ? matmul(reshaped(pa, {nb, m, k}), reshaped(pb, {nb, k, n}))
              : matmul(reshaped(pa, {m, k}), reshaped(pb, {k, n}));
  const std::string letters = batch + only_a + only_b;
  std::vector<long> shape;
  for (char c : letters) shape.push_back(extent.at(c));
  return {reshaped(product, shape), letters};
}

}  // namespace

Tensor einsum(const std::string& equation, const std::vector<Tensor>& operands) {
  std::string eq;
  for (char c : equation)
    if (c != ' ') eq.push_back(c);
  auto fail = [&](const std::string& why) {
    return Error(fmt::format("einsum: {} in '{}'", why, equation));
  };
  if (eq.find("...") != std::string::npos) throw fail("'...' (ellipsis) is not supported");
  const std::size_t arrow = eq.find("->");
  const std::string lhs = eq.substr(0, arrow);
  std::vector<std::string> inputs(1);
  for (char c : lhs) {
    if (c == ',')
      inputs.emplace_back();
    else
      inputs.back().push_back(c);
  }
  if (inputs.size() != operands.size())
    throw fail(fmt::format("{} operand subscripts for {} operands", inputs.size(), operands.size()));
  check_same_dtype("einsum", operands);
  auto check_letter = [&](char c) {
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')))
      throw fail(fmt::format("invalid subscript '{}' (letters only)", c));
  };
  std::map<char, long> extent;
  std::map<char, int> count;  // in how many operands each letter appears
  std::vector<Labelled> terms;
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    const std::string& s = inputs[i];
    const Shape shape = operands[i].shape();
    if (s.size() != shape.size())
      throw fail(fmt::format("operand {} of shape {} has {} axes but subscripts '{}' name {}", i,
                             shape_str(shape), shape.size(), s, s.size()));
    for (std::size_t d = 0; d < s.size(); ++d) {
      check_letter(s[d]);
      if (s.find(s[d]) != d)
        throw fail(fmt::format("subscript '{}' repeated in operand {} ('{}'): diagonals are not "
                               "supported", s[d], i, s));
      const long e = static_cast<long>(shape[d]);
      auto [it, fresh] = extent.emplace(s[d], e);
      if (!fresh && it->second != e && it->second != 1 && e != 1)
        throw fail(fmt::format("subscript '{}' has extent {} in an earlier operand and {} in "
                               "operand {} {}", s[d], it->second, e, i, shape_str(shape)));
      if (it->second == 1) it->second = e;
      ++count[s[d]];
    }
  }
  std::string output;
  if (arrow == std::string::npos) {
    for (const auto& [c, n] : count)  // std::map: ASCII order, uppercase first
      if (n == 1) output.push_back(c);
  } else {
    output = eq.substr(arrow + 2);
    for (std::size_t d = 0; d < output.size(); ++d) {
      check_letter(output[d]);
      if (output.find(output[d]) != d) throw fail(fmt::format("output subscript '{}' repeated", output[d]));
      if (!extent.count(output[d]))
        throw fail(fmt::format("output subscript '{}' appears in no operand", output[d]));
    }
  }
  // Size-1 axes broadcast against the letter's extent elsewhere (as torch.einsum).
  for (std::size_t i = 0; i < operands.size(); ++i) {
    Shape want;
    for (char c : inputs[i]) want.push_back(static_cast<std::size_t>(extent[c]));
    terms.push_back({want == operands[i].shape() ? operands[i] : broadcast_to(operands[i], want),
                     inputs[i]});
  }
  // The letters still needed after operand i: the output's and those of the later operands.
  auto needed_after = [&](std::size_t i) {
    std::string keep = output;
    for (std::size_t j = i + 1; j < inputs.size(); ++j) keep += inputs[j];
    return keep;
  };
  Labelled acc = sum_out(terms[0], needed_after(0));
  for (std::size_t i = 1; i < terms.size(); ++i) {
    const std::string keep = needed_after(i);
    acc = sum_out(acc, keep + inputs[i]);
    const Labelled next = sum_out(terms[i], keep + acc.letters);
    acc = contract(acc, next, keep, extent);
  }
  return permute_to(sum_out(acc, output), output).t;
}

}  // namespace tg
