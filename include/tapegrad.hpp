// tapegrad: include this to get the whole public API (tests/test_readme.cpp checks that every
// public header is reachable from here).
#pragma once

#include "tapegrad/autograd/autocast.hpp"
#include "tapegrad/autograd/blas.hpp"
#include "tapegrad/autograd/bool_mask.hpp"
#include "tapegrad/autograd/error.hpp"
#include "tapegrad/autograd/function.hpp"
#include "tapegrad/autograd/gradcheck.hpp"
#include "tapegrad/autograd/ops.hpp"
#include "tapegrad/autograd/random.hpp"
#include "tapegrad/autograd/tape.hpp"
#include "tapegrad/autograd/tensor.hpp"
#include "tapegrad/nn/nn.hpp"
#include "tapegrad/nn/npz.hpp"
#include "tapegrad/optim/optim.hpp"
#include "tapegrad/train/train.hpp"
// Data-parallel training: installed only where tapegrad was built with MPI (link
// tapegrad::distributed to use it).
#if __has_include("tapegrad/distributed/distributed.hpp")
#include "tapegrad/distributed/distributed.hpp"
#endif
// ONNX export: installed only where tapegrad was built with libonnx-dev and libprotobuf-dev
// (link tapegrad::onnx to use it).
#if __has_include("tapegrad/onnx/modules.hpp")
#include "tapegrad/onnx/graph.hpp"
#include "tapegrad/onnx/modules.hpp"
#endif
