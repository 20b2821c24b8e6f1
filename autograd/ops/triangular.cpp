// Index-pattern ops: arange (a constant), tril / triu and cumsum, forward and backward side by
// side (declared in tapegrad/autograd/ops/triangular.hpp).
#include "tapegrad/autograd/ops/triangular.hpp"

#include <cmath>
#include <numeric>

#include "tapegrad/autograd/function.hpp"
#include "tapegrad/autograd/ops/views.hpp"
#include "autograd/op_registry.hpp"

namespace tg {

// The names this family records on the tape (autograd/op_registry.hpp). arange records
// nothing, so it has no name here.
const OpName op_tril{"tril"};
const OpName op_triu{"triu"};
const OpName op_cumsum{"cumsum"};

Tensor arange(double start, double end, double step, DType dtype) {
  if (step == 0.0 || !std::isfinite(step) || !std::isfinite(start) || !std::isfinite(end))
    throw Error(fmt::format("arange: start {}, end {}, step {}: all must be finite, step nonzero",
                            start, end, step));
  if ((step > 0 && end < start) || (step < 0 && end > start))
    throw Error(fmt::format("arange: step {} points away from end {} (start {})", step, end, start));
  // The count and the values as PyTorch computes them: in double, then cast.
  const auto count = static_cast<std::size_t>(std::ceil((end - start) / step));
  std::vector<double> values(count);
  for (std::size_t i = 0; i < count; ++i) values[i] = start + static_cast<double>(i) * step;
  return Tensor::from_vector(values, {count}, dtype);
}

Tensor arange(double end, DType dtype) { return arange(0.0, end, 1.0, dtype); }

namespace {

// x with the elements of each matrix (last two axes) for which keep(column - row) is false
// zeroed; the gradient is g masked the same way.
template <class Keep>
Tensor triangle(const char* op, const Tensor& x, long diagonal, Keep keep) {
  check_same_dtype(op, {x});
  const Shape sx = x.shape();
  if (sx.size() < 2)
    throw Error(fmt::format("{}: input needs at least 2 axes, got {}", op, shape_str(sx)));
  const std::size_t rows = sx[sx.size() - 2], cols = sx.back();
  const std::size_t matrices = rows * cols == 0 ? 0 : x.size() / (rows * cols);
  return dispatch(x.dtype(), [&](auto s) {
    using T = decltype(s);
    xt::xarray<T> value = x.value<T>();
    T* p = value.data();
    for (std::size_t m = 0; m < matrices; ++m)
      for (std::size_t r = 0; r < rows; ++r)
        for (std::size_t c = 0; c < cols; ++c)
          if (!keep(static_cast<long>(c) - static_cast<long>(r), diagonal))
            p[(m * rows + r) * cols + c] = T(0);
    Tensor y(std::move(value));
    if (any_requires_grad(x))
      record(op, y, {x}, saves_nothing,
             [op, diagonal, keep](const Tensor& g, const Inputs&, const Tensor&) -> Grads {
               return {triangle(op, g, diagonal, keep)};
             });
    return y;
  });
}

struct Lower {
  bool operator()(long offset, long diagonal) const { return offset <= diagonal; }
};
struct Upper {
  bool operator()(long offset, long diagonal) const { return offset >= diagonal; }
};

}  // namespace

Tensor tril(const Tensor& x, long diagonal) { return triangle(op_tril, x, diagonal, Lower{}); }
Tensor triu(const Tensor& x, long diagonal) { return triangle(op_triu, x, diagonal, Upper{}); }

Tensor cumsum(const Tensor& x, int axis) {
  check_same_dtype(op_cumsum, {x});
  const Shape sx = x.shape();
  // A 0-d tensor takes axis 0 or -1, as in PyTorch, and is its own running sum.
  const std::size_t a = sx.empty() && (axis == 0 || axis == -1) ? 0 : normalize_axis(op_cumsum, axis, sx);
  const std::size_t n = sx.empty() ? 1 : sx[a];
  const std::size_t inner =
      sx.empty() ? 1 : std::accumulate(sx.begin() + a + 1, sx.end(), std::size_t{1}, std::multiplies<>());
  const std::size_t outer = n * inner == 0 ? 0 : x.size() / (n * inner);
  return dispatch(x.dtype(), [&](auto s) {
    using T = decltype(s);
    xt::xarray<T> value = x.value<T>();
    T* p = value.data();
    for (std::size_t o = 0; o < outer; ++o)
      for (std::size_t k = 1; k < n; ++k) {
        T* row = p + (o * n + k) * inner;
        const T* previous = row - inner;
        for (std::size_t i = 0; i < inner; ++i) row[i] += previous[i];
      }
    Tensor y(std::move(value));
    if (any_requires_grad(x))
      // d x[j] = sum over i >= j of g[i]: the running sum of g from the far end.
      record(op_cumsum, y, {x}, saves_nothing, [axis](const Tensor& g, const Inputs& in, const Tensor&) -> Grads {
        if (in[0].dim() == 0) return {g};
        return {flip(cumsum(flip(g, {axis}), axis), {axis})};
      });
    return y;
  });
}

}  // namespace tg
