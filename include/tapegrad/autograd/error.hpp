// tg::Error and the shape formatting every error message uses.
#pragma once

#include <cstddef>
#include <stdexcept>
#include <string>
#include <vector>

namespace tg {

using Shape = std::vector<std::size_t>;

// Every argument, shape or file problem tapegrad detects is thrown as tg::Error, whose message
// names the operation first ("matmul: inner dimensions differ: [32,128] x [64,10]").
class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

std::string shape_str(const Shape& shape);

template <class Container>
std::string shape_str(const Container& shape) {
  return shape_str(Shape(shape.begin(), shape.end()));
}

}  // namespace tg
