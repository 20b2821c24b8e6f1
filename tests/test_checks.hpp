// Catch2 checks shared by the test files: a tensor's values against expected ones, and a
// module's parameters loaded from a PyTorch fixture archive (its params/<name> entries).
#pragma once

#include <catch2/catch.hpp>

#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "tapegrad/autograd/tensor.hpp"
#include "tapegrad/nn/module.hpp"
#include "tapegrad/nn/npz.hpp"

namespace tg::testing {

inline void check_values(const Tensor& t, const std::vector<double>& expected,
                         double margin = 1e-6) {
  const std::vector<double> v = t.to_vector();
  REQUIRE(v.size() == expected.size());
  for (std::size_t i = 0; i < v.size(); ++i) {
    INFO("element " << i);
    CHECK(v[i] == Approx(expected[i]).margin(margin));
  }
}

// The fixture names listed in <dir>/index.txt (the files a fixture script wrote), in order.
inline std::vector<std::string> fixture_index(const std::string& dir) {
  std::ifstream index(dir + "index.txt");
  std::vector<std::string> names;
  for (std::string line; std::getline(index, line);)
    if (!line.empty()) names.push_back(line);
  return names;
}

// A float64 leaf requiring grad with t's values (fixture inputs to differentiate).
inline Tensor leaf64(const Tensor& t) {
  return Tensor::from_vector(t.to_vector(), t.shape(), DType::Float64, true);
}

// Loads the module's parameters from params/<name>, float64.
inline void load_params(nn::Module& m, const nn::Archive& a) {
  m.to(DType::Float64);
  std::map<std::string, Tensor> state;
  for (const auto& [key, t] : a.tensors)
    if (key.rfind("params/", 0) == 0) state[key.substr(7)] = t;
  m.load_state_dict(state);
}

}  // namespace tg::testing
