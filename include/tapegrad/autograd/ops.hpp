// All tensor ops, for code that uses many families at once.
#pragma once

#include "tapegrad/autograd/ops/activations.hpp"
#include "tapegrad/autograd/ops/convolution.hpp"
#include "tapegrad/autograd/ops/einsum.hpp"
#include "tapegrad/autograd/ops/elementwise.hpp"
#include "tapegrad/autograd/ops/indexing.hpp"
#include "tapegrad/autograd/ops/linalg.hpp"
#include "tapegrad/autograd/ops/loss.hpp"
#include "tapegrad/autograd/ops/reduction.hpp"
#include "tapegrad/autograd/ops/sampling.hpp"
#include "tapegrad/autograd/ops/shape.hpp"
#include "tapegrad/autograd/ops/statistics.hpp"
#include "tapegrad/autograd/ops/triangular.hpp"
#include "tapegrad/autograd/ops/trigonometric.hpp"
#include "tapegrad/autograd/ops/views.hpp"
