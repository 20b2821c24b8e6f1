// Sizes checked before they are allocated: training memory estimated from the model's size, and
// a checkpoint's metadata checked against what the file holds before a model is built from it.
#pragma once

#include <cstddef>
#include <string>

#include "tapegrad/nn/npz.hpp"

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

// A checkpoint's metadata describes a model of `expected` parameters: the weights it holds (its
// float arrays outside "optim.") must add up to that, or building the model is refused before it
// allocates anything (a damaged meta.layers = 20000 must not build 20000 layers first).
void check_parameter_count(const nn::Archive& archive, const std::string& path, double expected);

}  // namespace tg::examples
