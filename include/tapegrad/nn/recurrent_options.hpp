// Chaining builders for the recurrent layers' options: LSTMOptions(32, 128).bidirectional(true).
//
// RecurrentOptions stays an aggregate (its fields are set by name in existing code); a builder
// cannot add same-named setters to it, so this separate type builds one and converts to it
// wherever a RecurrentOptions is taken: nn::LSTM lstm(nn::LSTMOptions(32, 128).num_layers(2)).
#pragma once

#include "tapegrad/nn/recurrent.hpp"

namespace tg::nn {

class RecurrentOptionsBuilder {
 public:
  RecurrentOptionsBuilder(std::size_t input_size, std::size_t hidden_size) {
    o_.input_size = input_size;
    o_.hidden_size = hidden_size;
  }
  RecurrentOptionsBuilder& num_layers(std::size_t v) { o_.num_layers = v; return *this; }
  RecurrentOptionsBuilder& bias(bool v) { o_.bias = v; return *this; }
  RecurrentOptionsBuilder& batch_first(bool v) { o_.batch_first = v; return *this; }
  RecurrentOptionsBuilder& bidirectional(bool v) { o_.bidirectional = v; return *this; }
  RecurrentOptionsBuilder& dropout(double v) { o_.dropout = v; return *this; }
  RecurrentOptionsBuilder& return_sequences(bool v) { o_.return_sequences = v; return *this; }
  operator const RecurrentOptions&() const { return o_; }
  const RecurrentOptions& options() const { return o_; }

 private:
  RecurrentOptions o_;
};

using RNNOptions = RecurrentOptionsBuilder;
using LSTMOptions = RecurrentOptionsBuilder;
using GRUOptions = RecurrentOptionsBuilder;

}  // namespace tg::nn
