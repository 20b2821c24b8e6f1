// tapegrad: include this to get the whole public API.
#pragma once

#include "tapegrad/autograd/autocast.hpp"
#include "tapegrad/autograd/blas.hpp"
#include "tapegrad/autograd/bool_mask.hpp"
#include "tapegrad/autograd/gradcheck.hpp"
#include "tapegrad/autograd/ops.hpp"
#include "tapegrad/autograd/random.hpp"
#include "tapegrad/autograd/tape.hpp"
#include "tapegrad/autograd/tensor.hpp"
#include "tapegrad/nn/nn.hpp"
#include "tapegrad/nn/npz.hpp"
#include "tapegrad/optim/optim.hpp"
