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

// A NaN or an infinity where only finite values are accepted (weights being loaded): which
// tensor, and the first such value's flat (row-major) index. The message is
// "<context>: fc.weight[37] is nan" (or "is inf", "is -inf").
class NonFiniteError : public Error {
 public:
  NonFiniteError(const std::string& context, std::string name, std::size_t index, double value);
  const std::string& name() const { return name_; }
  std::size_t index() const { return index_; }
  double value() const { return value_; }

 private:
  std::string name_;
  std::size_t index_;
  double value_;
};

std::string shape_str(const Shape& shape);

template <class Container>
std::string shape_str(const Container& shape) {
  return shape_str(Shape(shape.begin(), shape.end()));
}

}  // namespace tg
