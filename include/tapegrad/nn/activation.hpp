// Element-wise activation modules (Tanh, ReLU, Sigmoid), so that Sequential can hold them.
#pragma once

#include "tapegrad/nn/module.hpp"

namespace tg::nn {

// A parameter-free module applying one element-wise op.
class Activation : public Module {
 public:
  using Function = Tensor (*)(const Tensor&);
  Activation(std::string name, Function f) : name_(std::move(name)), f_(f) {}

  std::string type_name() const override { return name_; }
  Tensor forward(const Tensor& input) override { return f_(input); }

 private:
  std::string name_;
  Function f_;
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

}  // namespace tg::nn
