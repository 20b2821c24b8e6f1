// All tensor ops, for code that uses many families at once.
#pragma once

#include "autograd/ops/activations.hpp"
#include "autograd/ops/elementwise.hpp"
#include "autograd/ops/indexing.hpp"
#include "autograd/ops/linalg.hpp"
#include "autograd/ops/loss.hpp"
#include "autograd/ops/reduction.hpp"
#include "autograd/ops/shape.hpp"
#include "autograd/ops/statistics.hpp"
