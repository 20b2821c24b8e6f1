// tg::nn: modules, layers and losses (include this for the whole nn API).
#pragma once

#include "tapegrad/nn/activation.hpp"
#include "tapegrad/nn/attention.hpp"
#include "tapegrad/nn/batch_norm.hpp"
#include "tapegrad/nn/containers.hpp"
#include "tapegrad/nn/conv.hpp"
#include "tapegrad/nn/data.hpp"
#include "tapegrad/nn/dropout.hpp"
#include "tapegrad/nn/embedding.hpp"
#include "tapegrad/nn/layer_norm.hpp"
#include "tapegrad/nn/linear.hpp"
#include "tapegrad/nn/loss.hpp"
#include "tapegrad/nn/module.hpp"
#include "tapegrad/nn/options.hpp"
#include "tapegrad/nn/pooling.hpp"
#include "tapegrad/nn/sequential.hpp"
#include "tapegrad/nn/transformer.hpp"

// Recurrent layers:
#include "tapegrad/nn/recurrent.hpp"
#include "tapegrad/nn/custom_recurrent.hpp"
#include "tapegrad/nn/lstm_proj.hpp"
