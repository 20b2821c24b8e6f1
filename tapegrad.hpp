// tapegrad: include this to get the whole public API.
#pragma once

#include "autograd/autocast.hpp"
#include "autograd/blas.hpp"
#include "autograd/gradcheck.hpp"
#include "autograd/ops.hpp"
#include "autograd/random.hpp"
#include "autograd/tape.hpp"
#include "autograd/tensor.hpp"
#include "nn/nn.hpp"
#include "nn/npz.hpp"
#include "optim/optim.hpp"
