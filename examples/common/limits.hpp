// Sizes checked before they are allocated: training memory estimated from the model's size, and
// a checkpoint's metadata checked against what the file holds before a model is built from it
// (load_checkpoint_model).
#pragma once

#include <cstddef>
#include <map>
#include <memory>
#include <string>

#include "tapegrad/autograd/error.hpp"
#include "tapegrad/autograd/random.hpp"
#include "tapegrad/nn/npz.hpp"
#include "tapegrad/train/checkpoint.hpp"

namespace tg::examples {

// Parameters of a stacked recurrent layer in PyTorch's layout: per layer and direction,
// gates * hidden * (input + hidden) weights and two biases of gates * hidden. In double, so that
// absurd sizes from a damaged checkpoint cannot overflow.
double recurrent_parameters(std::size_t gates, std::size_t input, std::size_t hidden,
                            std::size_t layers, bool bidirectional);

// Bytes a training run needs, roughly: each parameter is held ~7 times in float32 (weights,
// gradient, two optimizer moments, early stopping's best copy, the weight average, the resume
// checkpoint's copy), plus the activations the tape keeps for one batch.
double training_bytes(double parameters, double activation_floats);

// Memory this machine has available now (MemAvailable), in bytes; 0 when unknown.
double available_memory();

// "1.5 GB", "320 MB", "12 kB".
std::string format_bytes(double bytes);

// Refuses (tg::Error) a run whose estimate is above the available memory, before anything is
// allocated: "<what>: a model of 1.2e+09 parameters needs about 40 GB to train; 11 GB are
// available". Nothing is checked when the available memory is unknown.
void check_training_memory(const std::string& what, double parameters, double activation_floats);

// A checkpoint's metadata describes a model of `expected` parameters: the weights it declares
// (the headers of its float arrays outside "optim.") must add up to that, or building the model
// is refused before it allocates anything (a damaged meta.layers = 20000 must not build 20000
// layers first); the message names the largest array.
void check_parameter_count(const std::map<std::string, nn::EntryHeader>& arrays,
                           const std::string& path, double expected);

// An example's model rebuilt from its checkpoint at `path`: the configuration from the metadata
// (`config_from_meta(text, path)`, which refuses what it cannot read), the parameter count
// (`parameter_estimate(config)`) checked against the file's headers before the model is built,
// then the weights, each entry's shape checked against the model before it is decompressed, and
// NaN or infinity refused; in eval mode. `meta`, when given, receives the metadata.
template <class Model, class ConfigFromMeta, class ParameterEstimate>
std::unique_ptr<Model> load_checkpoint_model(const std::string& path, const std::string& example,
                                             const ConfigFromMeta& config_from_meta,
                                             const ParameterEstimate& parameter_estimate,
                                             tg::train::CheckpointMeta* meta = nullptr) {
  tg::train::CheckpointIndex index = tg::train::read_checkpoint_index(path, example);
  auto config = config_from_meta(index.meta.text, path);
  check_parameter_count(index.arrays, path, parameter_estimate(config));
  Generator gen(0);  // the weights are overwritten: any initialisation will do
  std::unique_ptr<Model> model;
  try {
    model = std::make_unique<Model>(std::move(config), gen);
  } catch (const Error& e) {
    throw Error(path + ": " + e.what());
  }
  const nn::Archive archive = tg::train::read_checkpoint_for(path, *model, false);
  tg::train::load_checkpoint_state(archive, path, *model, nullptr, nullptr);
  model->eval();
  if (meta) *meta = std::move(index.meta);
  return model;
}

}  // namespace tg::examples
