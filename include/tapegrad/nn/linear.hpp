// nn::Linear: y = x W^T + b, with PyTorch's parameter names, layout and default initialisation.
#pragma once

#include "tapegrad/autograd/random.hpp"
#include "tapegrad/nn/module.hpp"
#include "tapegrad/nn/options.hpp"

namespace tg::nn {

// Linear(LinearOptions(128, 10).bias(false)).
class LinearOptions {
 public:
  LinearOptions(std::size_t in_features, std::size_t out_features)
      : in_features_(in_features), out_features_(out_features) {}
  TG_ARG(std::size_t, in_features);
  TG_ARG(std::size_t, out_features);
  TG_ARG(bool, bias) = true;
};

class Linear : public Module {
 public:
  explicit Linear(const LinearOptions& o, Generator& gen = default_generator())
      : Linear(o.in_features(), o.out_features(), o.bias(), gen) {}
  // weight [out, in] and bias [out] drawn from U(-1/sqrt(in), 1/sqrt(in)): PyTorch's
  // kaiming_uniform_(a=sqrt(5)) and its bias rule, which reduce to the same bound.
  Linear(std::size_t in_features, std::size_t out_features, bool bias = true,
         Generator& gen = default_generator());

  std::string type_name() const override { return "Linear"; }
  // x [..., in] -> [..., out]
  Tensor forward(const Tensor& input) override;
  Shape output_shape(const Shape& input_shape) const override;

  std::size_t in_features() const { return in_features_; }
  std::size_t out_features() const { return out_features_; }
  const Tensor& weight() const { return weight_; }
  const Tensor& bias() const { return bias_; }  // undefined without bias

 private:
  std::size_t in_features_;
  std::size_t out_features_;
  Tensor weight_;
  Tensor bias_;
};

}  // namespace tg::nn
