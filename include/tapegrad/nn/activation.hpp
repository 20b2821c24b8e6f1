// Activation modules (ReLU, GELU, Softmax, ...): PyTorch's, so that a Sequential can hold them.
#pragma once

#include <functional>

#include "tapegrad/autograd/ops/activations.hpp"
#include "tapegrad/nn/module.hpp"

namespace tg::nn {

// A parameter-free module applying one function of a tensor. Any callable works, so an op
// with options is bound with a lambda: Activation("Swish", [](const Tensor& x) { return tg::silu(x); }).
class Activation : public Module {
 public:
  using Function = std::function<Tensor(const Tensor&)>;
  Activation(std::string name, Function f) : name_(std::move(name)), f_(std::move(f)) {}

  std::string type_name() const override { return name_; }
  Tensor forward(const Tensor& input) override { return f_(input); }

 private:
  std::string name_;
  Function f_;
};

class Identity : public Activation {
 public:
  Identity();
};

class Tanh : public Activation {
 public:
  Tanh();
};

class ReLU : public Activation {
 public:
  ReLU();
};

class Sigmoid : public Activation {
 public:
  Sigmoid();
};

class SiLU : public Activation {
 public:
  SiLU();
};

class GELU : public Activation {
 public:
  explicit GELU(GeluApproximation approximate = GeluApproximation::None);
};

class LeakyReLU : public Activation {
 public:
  explicit LeakyReLU(double negative_slope = 0.01);
};

class ELU : public Activation {
 public:
  explicit ELU(double alpha = 1.0);
};

class Softplus : public Activation {
 public:
  explicit Softplus(double beta = 1.0, double threshold = 20.0);
};

// Along `dim` (PyTorch's name; negative counts from the end).
class Softmax : public Activation {
 public:
  explicit Softmax(int dim);
};

class LogSoftmax : public Activation {
 public:
  explicit LogSoftmax(int dim);
};

}  // namespace tg::nn
