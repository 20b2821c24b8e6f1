// tg::nn: modules, layers and losses (include this for the whole nn API).
#pragma once

#include "nn/activation.hpp"
#include "nn/attention.hpp"
#include "nn/dropout.hpp"
#include "nn/embedding.hpp"
#include "nn/layer_norm.hpp"
#include "nn/linear.hpp"
#include "nn/loss.hpp"
#include "nn/module.hpp"
#include "nn/sequential.hpp"

// Recurrent layers:
#include "nn/recurrent.hpp"
#include "nn/custom_recurrent.hpp"
#include "nn/lstm_proj.hpp"
#include "nn/recurrent_options.hpp"
