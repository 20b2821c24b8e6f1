// WeightAverage.
#include "tapegrad/train/weight_average.hpp"

#include <fmt/format.h>

#include <algorithm>

#include "tapegrad/autograd/error.hpp"
#include "tapegrad/train/resume.hpp"

namespace tg::train {

WeightAverage::WeightAverage(double decay) : decay_(decay) {
  if (!(decay > 0 && decay < 1))
    throw Error(fmt::format("WeightAverage: the decay must be in (0, 1), got {}", decay));
}

void WeightAverage::take(Trainer& trainer) {
  params_.clear();
  average_.clear();
  for (const auto& [name, p] : trainer.model().named_parameters()) {
    if (p.dtype() != DType::Float32)
      throw Error(fmt::format("WeightAverage: parameter '{}' is {}; only float32 is averaged", name,
                              to_string(p.dtype())));
    params_.push_back(p);
    average_.emplace_back(name, p.clone());
  }
  updates_ = 0;
  swapped_ = false;
}

void WeightAverage::on_fit_start(Trainer& trainer) {
  if (!resumed_) take(trainer);
  resumed_ = false;
}

void WeightAverage::on_batch_end(Trainer&, const Batch&, double) {
  ++updates_;
  const double n = static_cast<double>(updates_);
  const float d = static_cast<float>(std::min(decay_, 1.0 - 1.0 / (n + 1.0)));
  for (std::size_t i = 0; i < params_.size(); ++i) {
    const auto& p = params_[i].value<float>();
    auto& a = average_[i].second.mutable_value<float>();
    const float* src = p.data();
    float* dst = a.data();
    for (std::size_t k = 0, size = p.size(); k < size; ++k) dst[k] += (1.0f - d) * (src[k] - dst[k]);
  }
}

void WeightAverage::swap() {
  for (std::size_t i = 0; i < params_.size(); ++i)
    std::swap(params_[i].mutable_value<float>(), average_[i].second.mutable_value<float>());
  swapped_ = !swapped_;
}

void WeightAverage::on_validation_start(Trainer&) {
  if (!swapped_) swap();
}

void WeightAverage::on_validation_end(Trainer&, const Logs&) {
  if (swapped_) swap();
}

void WeightAverage::save(const Trainer&, ResumeState& state, const std::string& prefix) const {
  state.put_size(prefix + "updates", updates_);
  for (const auto& [name, a] : average_) state.put_tensor(prefix + "average." + name, a);
}

void WeightAverage::load(Trainer& trainer, const ResumeState& state, const std::string& prefix) {
  take(trainer);
  updates_ = state.size(prefix + "updates");
  for (auto& [name, a] : average_) a = state.tensor(prefix + "average." + name, a.shape());
  resumed_ = true;
}

}  // namespace tg::train
