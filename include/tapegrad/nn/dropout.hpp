// nn::Dropout: inverted dropout while training, identity in evaluation mode.
#pragma once

#include <cstdint>
#include <memory>

#include "tapegrad/autograd/random.hpp"
#include "tapegrad/nn/module.hpp"

namespace tg::nn {

class Dropout : public Module {
 public:
  // Owns a generator seeded from the default generator, so tg::manual_seed() makes runs
  // reproducible and manual_seed() makes one layer's masks repeatable (gradcheck).
  explicit Dropout(double p = 0.5);
  // Draws from `shared` instead (e.g. one generator saved in a checkpoint); it must outlive
  // the layer.
  Dropout(double p, Generator& shared);

  std::string type_name() const override { return "Dropout"; }
  Tensor forward(const Tensor& input) override;

  double p() const { return p_; }
  Generator& generator() { return *gen_; }
  void manual_seed(std::uint64_t seed) { gen_->manual_seed(seed); }

 private:
  double p_;
  std::unique_ptr<Generator> own_;
  Generator* gen_;
};

}  // namespace tg::nn
