// Index-pattern ops: arange, the triangles tril and triu, and the running sum cumsum.
#pragma once

#include "tapegrad/autograd/tensor.hpp"

namespace tg {

// start, start + step, ... up to but excluding end: ceil((end - start) / step) values
// (torch.arange). A constant: it records nothing. step must be nonzero and point from start
// toward end (or start == end: empty).
Tensor arange(double start, double end, double step = 1.0, DType dtype = DType::Float32);
// 0, 1, ..., up to but excluding end (torch.arange(end)).
Tensor arange(double end, DType dtype = DType::Float32);

// The lower triangle of the matrices in the last two axes: elements with column - row <=
// diagonal are kept, the others zero (torch.tril). diagonal > 0 keeps that many superdiagonals,
// < 0 drops subdiagonals.
Tensor tril(const Tensor& x, long diagonal = 0);
// The upper triangle: column - row >= diagonal kept (torch.triu).
Tensor triu(const Tensor& x, long diagonal = 0);

// Running sum along `axis`: out[i] = x[0] + ... + x[i] (torch.cumsum).
Tensor cumsum(const Tensor& x, int axis);

}  // namespace tg
