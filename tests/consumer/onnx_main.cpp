// With an installed tapegrad::onnx: a Linear exported and checked by ONNX's checker; exits
// non-zero if the model is not valid.
#include <tapegrad.hpp>

#include <cstdio>

int main() {
  using namespace tg;
  nn::Linear linear(3, 2);
  onnx::Graph g("consumer");
  const std::string x = g.input("x", onnx::ElementType::Float, {"batch", 3});
  g.output(onnx::export_linear(g, linear, x, "linear"), "y", onnx::ElementType::Float, {"batch", 2});
  g.check();  // throws tg::Error if ONNX's checker refuses it
  const std::size_t bytes = g.serialize().size();
  std::printf("consumer: an ONNX model of %zu bytes\n", bytes);
  return bytes > 0 ? 0 : 1;
}
